/**
 * The retention plan, pure: which backups a policy keeps and why. Exactly restic's `forget`
 * (internal/data/snapshot_policy.go `ApplyPolicy`), checked against restic's own test vectors in
 * test/retention/conformance.test.ts. The safety rules of a product (newest proven backup, refuse
 * to remove everything) sit one layer up, in safety.ts; the file system in apply.ts.
 */
import type { RetentionPolicy } from '../config/types.js'
import { DbkeeperError } from '../runtime/errors.js'
import { BUCKET_RULES } from './buckets.js'
import { formatWithin, isZeroWithin, parseWithin, withinBoundMs } from './within.js'
import { wallClock } from './zoned.js'

export type { RetentionPolicy } from '../config/types.js'

export interface PlannedBackup {
  id: string
  /** ISO 8601 with a zone designator, e.g. `2026-01-02T03:04:05Z`. */
  time: string
}

export interface RetentionPlan {
  /** Newest first; `reasons` in restic's order: within, then last/hourly/daily/weekly/monthly/yearly. */
  keep: { id: string; reasons: string[] }[]
  /** Newest first. */
  remove: { id: string }[]
}

export interface PlanOptions {
  /** IANA zone in which hours, days, weeks, months and years are counted. Default UTC. */
  tz?: string
}

/** n > 0 a count, -1 unlimited; 0 or absent: the rule is off (restic: `Count > 0 || Count == -1`). */
function checkedCount(policy: RetentionPolicy, field: keyof RetentionPolicy): number {
  const n = policy[field] ?? 0
  if (typeof n === 'number' && Number.isSafeInteger(n) && n >= -1) return n
  // Anything else is a bug upstream; ignoring the rule silently would delete what it should keep.
  throw new DbkeeperError('CONFIG', `retention rule ${field} is ${String(n)}`, {
    hint: 'a count must be > 0, or -1 for unlimited (KEEP_LAST … KEEP_YEARLY)',
  })
}

/** Whether the policy has at least one rule that keeps something. */
export function isActivePolicy(policy: RetentionPolicy): boolean {
  const counts = BUCKET_RULES.some((r) => checkedCount(policy, r.field) !== 0)
  return counts || (policy.keepWithin !== undefined && !isZeroWithin(parseWithin(policy.keepWithin)))
}

function timeOf(b: PlannedBackup): number {
  const ms = Date.parse(b.time)
  if (Number.isNaN(ms)) throw new DbkeeperError('INTERNAL', `backup ${b.id} has an unreadable time "${b.time}"`)
  return ms
}

/**
 * restic's `findLatestTimestamp`: the newest backup that is not in the future. A backup stamped
 * ahead of the clock (a clock that jumped) must not drag the window forward; with none before
 * `now` (a clock reset to 1970) the window reaches back forever. A wrong clock only keeps more.
 */
function latestNotInFuture(list: { ms: number }[], now: Date): number | undefined {
  return list.find((b) => b.ms < now.getTime())?.ms
}

/**
 * Plans retention for one database's backups. Newest first, stable for equal times (input order
 * decides). A bucket rule keeps a backup whose bucket differs from the last one that rule kept, or
 * the oldest backup of the list while the rule has counts left; each keep uses one count. Rules are
 * independent. `keepWithin` counts back from the newest backup (not from `now`; `now` only
 * excludes backups stamped in the future from being that anchor, as restic does).
 * A backup kept only because it is the oldest gets restic's reason `oldest <rule> snapshot`.
 * An empty policy keeps nothing here; callers refuse it before planning (safety.ts).
 */
export function planRetention(
  backups: PlannedBackup[],
  policy: RetentionPolicy,
  now: Date,
  opts: PlanOptions = {},
): RetentionPlan {
  const tz = opts.tz ?? 'UTC'
  const seen = new Set<string>()
  for (const b of backups) {
    if (seen.has(b.id)) throw new DbkeeperError('INTERNAL', `backup id ${b.id} appears twice in one retention plan`)
    seen.add(b.id)
  }
  // Checked before anything else, so that a bad policy fails even on a directory without backups.
  const rules = BUCKET_RULES.map((r) => ({ ...r, left: checkedCount(policy, r.field), last: -1 }))
  const within = policy.keepWithin === undefined ? undefined : parseWithin(policy.keepWithin)
  const useWithin = within !== undefined && !isZeroWithin(within)
  // Array.prototype.sort is stable: equal times keep their input order, as restic's sort.Stable.
  const list = backups.map((b) => ({ id: b.id, ms: timeOf(b) })).sort((a, b) => b.ms - a.ms)
  const plan: RetentionPlan = { keep: [], remove: [] }
  if (list.length === 0) return plan

  const latest = latestNotInFuture(list, now)
  const bound = !useWithin ? 0 : latest === undefined ? Number.NEGATIVE_INFINITY : withinBoundMs(latest, within, tz)
  const withinReason = useWithin ? `within ${formatWithin(within)}` : ''

  list.forEach((cur, index) => {
    const reasons: string[] = []
    if (useWithin && cur.ms > bound) reasons.push(withinReason)
    const local = wallClock(cur.ms, tz)
    const isOldest = index === list.length - 1
    for (const rule of rules) {
      if (rule.left === 0) continue
      const key = rule.key(local, index)
      // The oldest backup is kept while counts are left: that stretches the history as far back as possible.
      if (key !== rule.last || isOldest) {
        reasons.push(key === rule.last ? `oldest ${rule.reason}` : rule.reason)
        rule.last = key
        if (rule.left > 0) rule.left--
      }
    }
    if (reasons.length > 0) plan.keep.push({ id: cur.id, reasons })
    else plan.remove.push({ id: cur.id })
  })
  return plan
}
