/**
 * Whether backups are succeeding, pure: from the run journal (what was tried, what failed and
 * why) and the catalog (what is proven). "Healthy" means every database of every source has a
 * proven backup younger than HEALTH_MAX_AGE, so a daemon that runs but whose backups all fail
 * turns unhealthy, and one with a journal full of "ok" but no backups on the volume is not healthy.
 *
 * Restore drills (DRILL_SCHEDULE) share the journal, with trigger `drill`: they are never backup
 * runs here — not the last run, not a failure of a database's backup — but are shown on their own
 * (`lastDrill`). A failed drill does not turn the status unhealthy (health is about fresh backups);
 * it alerts, and `status` shows it.
 *
 * A backup stamped in the future (a clock that jumped ahead, catalog/order.ts) is never a
 * database's last success: it cannot make a status healthy. It is named in `clockSkew` and in the
 * reason, also when real, fresh backups make the status healthy.
 */
import type { CatalogEntry } from '../catalog/catalog.js'
import { isDrill, type RunRecord } from '../catalog/journal.js'
import { databaseKey, futureBackups, latestProvenBackups } from '../catalog/latest.js'
import { futureWarning } from '../catalog/order.js'
import type { EngineKind, SourceConfig } from '../config/types.js'
import { formatDuration } from '../runtime/duration.js'
import { readingFor, type PitrReading } from './pitr-status.js'

/**
 * The JSON of `dbkeeper status --json` and of `GET /healthz` (stable: monitors read it). Times
 * are ISO 8601 UTC, ages in whole seconds, `null` when there is none.
 */
export interface Status {
  healthy: boolean
  /** One line: why unhealthy, or what healthy means right now. */
  reason: string
  checkedAt: string
  maxAgeSeconds: number
  nextRun: string | null
  /** The last backup run (drills excluded). */
  lastRun: { runId: string; trigger: string; startedAt: string; finishedAt: string; ok: boolean } | null
  /** The last restore drill run; `errors` when it failed before drilling any database. */
  lastDrill: {
    runId: string
    startedAt: string
    finishedAt: string
    ok: boolean
    errors?: { code: string; message: string }[]
  } | null
  sources: SourceStatus[]
  /** Backups stamped more than 5 minutes after `checkedAt` (a clock that was ahead); never counted. */
  clockSkew: { source: string; database: string; id: string; startedAt: string }[]
}

export interface SourceStatus {
  source: string
  /** The variable prefix, `DB01`. */
  id: string
  engine: EngineKind
  healthy: boolean
  databases: DatabaseStatus[]
}

export interface DatabaseStatus {
  database: string
  healthy: boolean
  lastSuccess: { at: string; id: string; ageSeconds: number } | null
  lastFailure: { at: string; runId: string; code: string; message: string; hint?: string } | null
  /** The newest attempt failed: a failure newer than the last success. */
  failing: boolean
  /** The last restore drill of this database: which backup, and whether it restored to what it holds. */
  lastDrill: DrillStatus | null
  /** DBnn_PITR: the continuous archive (absent for other sources). Unhealthy when its lag exceeds PITR_MAX_LAG. */
  pitr?: PitrStatus
}

export interface PitrStatus {
  healthy: boolean
  /** Seconds the archive is behind the live database (0: caught up); null when nothing is archived yet. */
  lagSeconds: number | null
  maxLagSeconds: number
  /** The window a restore to a time can reach: from the oldest range's start to the newest's end. */
  window: { from: string; to: string } | null
  /** Every range without a hole, oldest first: more than one means gaps between them. */
  ranges: { from: string; to: string }[]
}

export interface DrillStatus {
  at: string
  runId: string
  /** The backup that was drilled. */
  backup: string | null
  ok: boolean
  code?: string
  message?: string
  hint?: string
}

export interface StatusOptions {
  nextRun?: Date
  maxAgeMs: number
  /** The archives of the DBnn_PITR sources (pitr-status.ts) and PITR_MAX_LAG. */
  pitr?: { readings: readonly PitrReading[]; maxLagMs: number }
}

type Failure = NonNullable<DatabaseStatus['lastFailure']>

export function computeStatus(
  allRuns: readonly RunRecord[],
  backups: readonly CatalogEntry[],
  sources: readonly SourceConfig[],
  now: Date,
  opts: StatusOptions,
): Status {
  const latest = latestProvenBackups(backups, now)
  const drillRuns = allRuns.filter(isDrill)
  const drills = lastDrills(drillRuns)
  const runs = allRuns.filter((r) => !isDrill(r))
  const failures = lastFailures(runs)
  const sourceStatuses = sources.map((s): SourceStatus => {
    const names = databasesOf(s, runs, backups)
    const sourceFailure = failures.get(databaseKey(s.label, '*'))
    const databases = names.map((database): DatabaseStatus => {
      const entry = latest.get(databaseKey(s.label, database))
      const lastSuccess = entry
        ? {
            at: entry.manifest.finishedAt,
            id: entry.manifest.id,
            ageSeconds: ageSeconds(now, entry.manifest.finishedAt),
          }
        : null
      const lastFailure = newer(failures.get(databaseKey(s.label, database)), sourceFailure) ?? null
      const pitr = pitrStatus(opts, s.label, database)
      return {
        database,
        healthy: lastSuccess !== null && lastSuccess.ageSeconds * 1000 <= opts.maxAgeMs && (pitr?.healthy ?? true),
        lastSuccess,
        lastFailure,
        failing: lastFailure !== null && (lastSuccess === null || lastFailure.at > lastSuccess.at),
        lastDrill: drills.get(databaseKey(s.label, database)) ?? null,
        ...(pitr ? { pitr } : {}),
      }
    })
    return {
      source: s.label,
      id: s.id,
      engine: s.engine,
      healthy: databases.length > 0 && databases.every((d) => d.healthy),
      databases,
    }
  })
  const last = runs.at(-1)
  const drill = drillRuns.at(-1)
  const healthy = sourceStatuses.length > 0 && sourceStatuses.every((s) => s.healthy)
  const future = futureBackups(backups, now).map((e) => e.manifest)
  const skew = future.length > 0 ? ` — ${futureWarning(future, now)}` : ''
  return {
    healthy,
    reason: `${reasonOf(sourceStatuses, opts.maxAgeMs)}${skew}`,
    checkedAt: now.toISOString(),
    maxAgeSeconds: Math.round(opts.maxAgeMs / 1000),
    nextRun: opts.nextRun?.toISOString() ?? null,
    lastRun: last
      ? {
          runId: last.runId,
          trigger: last.trigger,
          startedAt: last.startedAt,
          finishedAt: last.finishedAt,
          ok: last.ok,
        }
      : null,
    lastDrill: drill
      ? {
          runId: drill.runId,
          startedAt: drill.startedAt,
          finishedAt: drill.finishedAt,
          ok: drill.ok,
          ...(drill.errors?.length ? { errors: drill.errors } : {}),
        }
      : null,
    sources: sourceStatuses,
    clockSkew: future.map((m) => ({ source: m.source, database: m.database, id: m.id, startedAt: m.startedAt })),
  }
}

/**
 * The databases a source is judged on. A named list: exactly those (a database removed from
 * DBnn_NAME stops counting, though its old backups stay). `ALL`: those of the newest run that got
 * as far as listing them, else those on the volume.
 */
function databasesOf(s: SourceConfig, runs: readonly RunRecord[], backups: readonly CatalogEntry[]): string[] {
  if (s.databases !== 'ALL') return [...s.databases]
  for (let i = runs.length - 1; i >= 0; i--) {
    const names = runs[i]!.results.filter((r) => r.source === s.label && r.database !== '*').map((r) => r.database)
    if (names.length > 0) return [...new Set(names)].sort()
  }
  return [...new Set(backups.filter((b) => b.manifest.source === s.label).map((b) => b.manifest.database))].sort()
}

function pitrStatus(opts: StatusOptions, source: string, database: string): PitrStatus | undefined {
  const reading = opts.pitr ? readingFor(opts.pitr.readings, source, database) : undefined
  if (!reading || !opts.pitr) return undefined
  const { ranges, lagMs } = reading.state
  const iso = (d: Date) => d.toISOString()
  return {
    healthy: lagMs !== undefined && lagMs <= opts.pitr.maxLagMs,
    lagSeconds: lagMs === undefined ? null : Math.round(lagMs / 1000),
    maxLagSeconds: Math.round(opts.pitr.maxLagMs / 1000),
    window: ranges.length > 0 ? { from: iso(ranges[0]!.from), to: iso(ranges.at(-1)!.to) } : null,
    ranges: ranges.map((r) => ({ from: iso(r.from), to: iso(r.to) })),
  }
}

function lastDrills(runs: readonly RunRecord[]): Map<string, DrillStatus> {
  const out = new Map<string, DrillStatus>()
  for (const run of runs) {
    for (const r of run.results) {
      const at = r.finishedAt ?? run.finishedAt
      const seen = out.get(databaseKey(r.source, r.database))
      if (seen && seen.at > at) continue
      out.set(databaseKey(r.source, r.database), {
        at,
        runId: run.runId,
        backup: r.drilled ?? null,
        ok: r.ok,
        ...(r.ok
          ? {}
          : { code: r.error?.code ?? 'INTERNAL', message: r.error?.message ?? 'failed without an error message' }),
        ...(!r.ok && r.error?.hint ? { hint: r.error.hint } : {}),
      })
    }
  }
  return out
}

function lastFailures(runs: readonly RunRecord[]): Map<string, Failure> {
  const out = new Map<string, Failure>()
  for (const run of runs) {
    for (const r of run.results) {
      if (r.ok) continue
      const failure: Failure = {
        at: run.finishedAt,
        runId: run.runId,
        code: r.error?.code ?? 'INTERNAL',
        message: r.error?.message ?? 'failed without an error message',
        ...(r.error?.hint ? { hint: r.error.hint } : {}),
      }
      out.set(databaseKey(r.source, r.database), newer(out.get(databaseKey(r.source, r.database)), failure)!)
    }
  }
  return out
}

function newer(a: Failure | undefined, b: Failure | undefined): Failure | undefined {
  if (!a) return b
  if (!b) return a
  return b.at >= a.at ? b : a
}

function ageSeconds(now: Date, iso: string): number {
  return Math.round((now.getTime() - Date.parse(iso)) / 1000)
}

function reasonOf(sources: readonly SourceStatus[], maxAgeMs: number): string {
  const limit = formatDuration(maxAgeMs)
  const problems: string[] = []
  for (const s of sources) {
    if (s.databases.length === 0) problems.push(`${s.source}: no proven backup yet`)
    for (const d of s.databases) {
      if (d.healthy) continue
      if (d.pitr && !d.pitr.healthy) {
        problems.push(
          d.pitr.lagSeconds === null
            ? `${s.source}/${d.database}: nothing archived for point-in-time recovery yet`
            : `${s.source}/${d.database}: point-in-time archive is ${formatDuration(d.pitr.lagSeconds * 1000)} behind, limit ${formatDuration(d.pitr.maxLagSeconds * 1000)} (PITR_MAX_LAG)`,
        )
        if (d.lastSuccess && d.lastSuccess.ageSeconds * 1000 <= maxAgeMs) continue
      }
      const cause = d.lastFailure ? ` (last failure: ${d.lastFailure.code})` : ''
      problems.push(
        d.lastSuccess
          ? `${s.source}/${d.database}: last proven backup is ${formatDuration(d.lastSuccess.ageSeconds * 1000)} old, limit ${limit}${cause}`
          : `${s.source}/${d.database}: no proven backup yet${cause}`,
      )
    }
  }
  if (problems.length === 0) {
    const n = sources.reduce((sum, s) => sum + s.databases.length, 0)
    return `healthy: all ${n} database${n === 1 ? ' has' : 's have'} a proven backup younger than ${limit}`
  }
  const shown = problems.slice(0, 3).join('; ')
  return `UNHEALTHY: ${shown}${problems.length > 3 ? `; and ${problems.length - 3} more` : ''}`
}
