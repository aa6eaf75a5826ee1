/**
 * Retention beside point-in-time recovery, pure: a restore to a time T replays the archive (a
 * binlog, Litestream's WAL) from the newest base backup before T, so every base a time inside
 * PITR_WINDOW may start from stays, whatever KEEP_* says:
 *
 *   windowBase  the newest base that was complete at or before now − PITR_WINDOW (a restore to the
 *               window's first second starts from it); none when every base is younger
 *   pitrKeeps   that base and every base after it
 *
 * A base counts by when it finished: its consistent snapshot lies between its start and its end,
 * so one finished by the cut surely holds a state before it (one that started before the cut but
 * finished after might not). This only ever keeps more than a start-time cut would.
 */
import type { PitrConfig, SourceConfig } from '../config/types.js'

export interface PitrBase {
  id: string
  /** ISO 8601: when the base backup was complete. */
  finishedAt: string
}

export const PITR_BASE = 'base of a restore to a time within PITR_WINDOW'

/** The newest base complete at or before `now − windowMs`; undefined when there is none. */
export function windowBase<T extends PitrBase>(bases: readonly T[], now: Date, windowMs: number): T | undefined {
  const cut = now.getTime() - windowMs
  let best: T | undefined
  for (const b of bases) {
    const t = Date.parse(b.finishedAt)
    if (Number.isNaN(t) || t > cut) continue
    if (!best || t > Date.parse(best.finishedAt)) best = b
  }
  return best
}

/** The ids of the bases a restore to a time inside the window may need: windowBase and all after it. */
export function pitrKeeps(bases: readonly PitrBase[], now: Date, windowMs: number): Set<string> {
  const from = windowBase(bases, now, windowMs)
  const fromMs = from ? Date.parse(from.finishedAt) : Number.NEGATIVE_INFINITY
  // A base with an unreadable time is kept: not knowing when it was taken, it may be the one needed.
  return new Set(bases.filter((b) => !(Date.parse(b.finishedAt) < fromMs)).map((b) => b.id))
}

/** The retention scope's PITR window of a source: set for a DBnn_PITR source only. */
export function pitrScope(source: Pick<SourceConfig, 'pitr'>, pitr: PitrConfig): { pitrWindowMs?: number } {
  return source.pitr ? { pitrWindowMs: pitr.windowMs } : {}
}
