/**
 * Gaps and lag of the point-in-time archives are never silent. The daemon reads every archive
 * (pitr-status.ts) every `intervalMs` and compares it with what it saw last:
 *
 * - a new range (Litestream started a new generation: it lost its position in the WAL) is a gap
 *   no restore to a time can cross. It is logged and alerted, and a fresh base backup of the
 *   source is asked for at once, so that the scheduled dump is not the only thing before the gap;
 * - a lag that grew past PITR_MAX_LAG is alerted once, and its recovery logged.
 *
 * The first reading, taken before the archivers start, is the baseline: a gap that the daemon was
 * told about before its restart is not told again; one that forms after its start is.
 */
import { describeLag, describeRanges } from '../engines/index.js'
import { describeError } from '../runtime/errors.js'
import type { Logger } from '../runtime/logger.js'
import { WHOLE_SOURCE, type PitrReading } from './pitr-status.js'

/** What the watch found in one reading; pure, so that it is tested without a daemon. */
export interface PitrEvent {
  kind: 'gap' | 'lagging' | 'recovered'
  source: string
  database: string
  message: string
}

interface Seen {
  bases: Set<string>
  lagging: boolean
}

/** Compares a reading with the last one (`seen`, updated in place) and names what changed. */
export function pitrEvents(seen: Map<string, Seen>, readings: readonly PitrReading[], maxLagMs: number): PitrEvent[] {
  const events: PitrEvent[] = []
  for (const r of readings) {
    const key = `${r.source}\0${r.database}`
    const before = seen.get(key)
    const held = r.held ?? r.state.ranges
    const bases = new Set(held.map((x) => x.base))
    const lagging = r.state.lagMs !== undefined && r.state.lagMs > maxLagMs
    seen.set(key, { bases, lagging })
    if (!before) continue
    const name = r.database === WHOLE_SOURCE ? `${r.source} (its binlog)` : `${r.source}/${r.database}`
    // A gap opens a range after the others; the first range renamed is its head removed by retention.
    const fresh = held.filter((x, i) => i > 0 && !before.bases.has(x.base))
    // The first range of an empty archive is its start, not a gap.
    if (fresh.length > 0 && before.bases.size > 0) {
      const from = fresh[0]!.from.toISOString()
      events.push({
        kind: 'gap',
        source: r.source,
        database: r.database,
        message: `the point-in-time archive of ${name} has a gap: the archiver lost its position and started anew (${fresh.map((x) => x.base).join(', ')}); a restore to a time before ${from} and after the previous range is not possible. The archive now reaches ${describeRanges(held)}; a fresh base backup is being taken`,
      })
    }
    if (lagging && !before.lagging)
      events.push({
        kind: 'lagging',
        source: r.source,
        database: r.database,
        message: `the point-in-time archive of ${name} is behind by more than PITR_MAX_LAG (${describeLag(r.state.lagMs)}): changes since then would be lost; look at the daemon's log for the archiver (archiver: "${r.archiver}")`,
      })
    if (!lagging && before.lagging)
      events.push({
        kind: 'recovered',
        source: r.source,
        database: r.database,
        message: `the point-in-time archive of ${name} caught up (${describeLag(r.state.lagMs)})`,
      })
  }
  return events
}

/** A quarter of PITR_MAX_LAG (so a lag is alerted within 1.25 × the limit), 250 ms to 15 s. */
export function pitrWatchInterval(maxLagMs: number): number {
  return Math.min(15_000, Math.max(250, Math.floor(maxLagMs / 4)))
}

export interface PitrWatch {
  stop(): void
}

export interface PitrWatchOptions {
  read(now: Date): Promise<PitrReading[]>
  maxLagMs: number
  intervalMs: number
  logger: Logger
  /** Alerts (gap, lagging) in one message, as a failed run's. */
  alert(events: readonly PitrEvent[]): Promise<void>
  /** A fresh base backup of these sources. */
  backUp(sources: string[]): void
}

/** Takes the baseline now; then reads every `intervalMs` until stopped. */
export async function startPitrWatch(opts: PitrWatchOptions): Promise<PitrWatch> {
  const seen = new Map<string, Seen>()
  const read = async () => pitrEvents(seen, await opts.read(new Date()), opts.maxLagMs)
  await read().catch(() => [])
  let busy = false
  const timer = setInterval(() => {
    if (busy) return
    busy = true
    read()
      .then(async (events) => {
        for (const e of events)
          opts.logger[e.kind === 'recovered' ? 'info' : 'error']({ source: e.source, database: e.database }, e.message)
        const gaps = [...new Set(events.filter((e) => e.kind === 'gap').map((e) => e.source))]
        if (gaps.length > 0) opts.backUp(gaps)
        const alerts = events.filter((e) => e.kind !== 'recovered')
        if (alerts.length > 0) await opts.alert(alerts)
      })
      .catch((error: unknown) =>
        opts.logger.error(`reading the point-in-time archives failed: ${describeError(error)}`),
      )
      .finally(() => (busy = false))
  }, opts.intervalMs)
  timer.unref()
  return { stop: () => clearInterval(timer) }
}
