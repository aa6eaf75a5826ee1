/**
 * THE rule for "which backup is newer", pure: every listing, `latest`, retention, status, alerts
 * and metrics order backups with `newestFirst` and ask `isFromTheFuture` before calling one the
 * newest. Written once here because four different copies (by finishedAt, by startedAt as a
 * string, by startedAt as a time) had started to disagree.
 *
 * The time is `startedAt`:
 * - it is the time the id and the file name carry (`shop_20260101T030000Z`), so the order an
 *   operator sees in `list` and in `ls` is the order every decision uses;
 * - it is the point in time the data shows (a consistent dump is a snapshot taken at its start);
 *   finishedAt adds the dump's duration, so a long dump started first could "finish newer".
 *
 * A backup stamped more than CLOCK_SKEW_TOLERANCE_MS ahead of `now` was taken by a clock that was
 * wrong (jumped forward, a host without NTP): it is never the newest, never `latest`, never makes
 * a status healthy and never takes a retention slot from a real backup. It is kept (it may be the
 * only copy of something) and reported; once real time passes its stamp it is ordinary again.
 */
import type { Manifest } from './manifest.js'

/**
 * Five minutes. Above any skew between hosts that keep time with NTP (milliseconds) or between a
 * container and its host (none: one kernel clock), and above the one second a run waits when two
 * runs fall in the same second; far below any schedule interval (hourly at the most often), so a
 * skew large enough to reorder real backups is always caught.
 */
export const CLOCK_SKEW_TOLERANCE_MS = 5 * 60_000

function startMs(m: Pick<Manifest, 'startedAt'>): number {
  const ms = Date.parse(m.startedAt)
  // An unreadable time sorts as the oldest: it can never push a readable backup out of first place.
  return Number.isNaN(ms) ? Number.NEGATIVE_INFINITY : ms
}

/** Comparator, newest first: by start time, then by id (descending) for backups of the same second. */
export function newestFirst(a: Pick<Manifest, 'startedAt' | 'id'>, b: Pick<Manifest, 'startedAt' | 'id'>): number {
  const d = startMs(b) - startMs(a)
  if (d !== 0 && !Number.isNaN(d)) return d
  return b.id < a.id ? -1 : b.id > a.id ? 1 : 0
}

/** Whether `a` is newer than `b` under `newestFirst`. */
export function isNewer(a: Pick<Manifest, 'startedAt' | 'id'>, b: Pick<Manifest, 'startedAt' | 'id'>): boolean {
  return newestFirst(a, b) < 0
}

/** Stamped more than CLOCK_SKEW_TOLERANCE_MS after `now`: taken under a clock that was ahead. */
export function isFromTheFuture(m: Pick<Manifest, 'startedAt'>, now: Date): boolean {
  return startMs(m) > now.getTime() + CLOCK_SKEW_TOLERANCE_MS
}

/** How far ahead of `now`, for messages: `366 days`, `3 hours`, `12 minutes`. */
export function aheadBy(m: Pick<Manifest, 'startedAt'>, now: Date): string {
  const ms = startMs(m) - now.getTime()
  const minutes = Math.round(ms / 60_000)
  if (minutes < 120) return `${minutes} minutes`
  const hours = Math.round(ms / 3_600_000)
  return hours < 48 ? `${hours} hours` : `${Math.round(ms / 86_400_000)} days`
}

/**
 * The warning for backups stamped in the future, one line: what, why, and the next step. The same
 * text in the run's log, `status` and `list`, so an operator searching for it finds all three.
 */
export function futureWarning(
  manifests: readonly Pick<Manifest, 'startedAt' | 'id' | 'source' | 'database' | 'file'>[],
  now: Date,
): string {
  const names = manifests.map((m) => `${m.source}/${m.database} ${m.id} (${aheadBy(m, now)} ahead)`)
  return (
    `CLOCK SKEW: ${names.length === 1 ? 'a backup is' : `${names.length} backups are`} stamped in the future: ${names.join(', ')}; ` +
    'never counted as the newest, never used as `latest`, never removed by retention. ' +
    'Check the host clock (timedatectl, NTP); when the stamp is wrong but the backup is wanted, ' +
    'restore it by id; when it is not, delete its data file, .sha256 and .manifest.json by hand'
  )
}
