/**
 * Which backups a target should receive, pure: the retention planner asked before an upload, so
 * that a target only ever gets what its own policy keeps. A monthly-only vault (`S3_2_KEEP_MONTHLY=12
 * S3_2_KEEP_LAST=0`) must not be sent every six-hourly backup to delete it again: in an archive tier
 * that costs the tier's minimum storage duration each time, and under Object Lock it cannot be
 * deleted at all.
 *
 * The rule, over the target's backups (`held`) and the local backups missing there (`missing`):
 * - one plan over both (safety.ts: the same rules retention applies afterwards) says which
 *   periods the target's policy keeps;
 * - oldest first, a missing backup is sent when the plan keeps it for `KEEP_LAST` or `KEEP_WITHIN`
 *   (those keep "the newest n" / "everything recent": each backup is its own slot), or when it
 *   falls in a kept period (hour, day, week, month, year) that nothing on the target — held or
 *   sent before it — fills yet. A filled period is never refilled: the target keeps the first
 *   backup of each period, the volume the last.
 */
import { decideRetention, type RetentionEntry, type RetentionScope } from './safety.js'
import { BUCKET_RULES } from './buckets.js'
import { isProvenBackup } from '../catalog/latest.js'
import { wallClock } from './zoned.js'

export interface UploadPlan<T extends RetentionEntry> {
  /** To send, oldest first. */
  upload: T[]
  /** Not sent, with the reason (for the log and `prune --dry-run`). */
  skipped: { entry: T; why: string }[]
}

/** The period rules of the policy (every counting rule but KEEP_LAST). */
function periodRules(scope: RetentionScope) {
  return BUCKET_RULES.filter((r) => r.field !== 'keepLast' && (scope.policy[r.field] ?? 0) !== 0)
}

function periodKey(rule: (typeof BUCKET_RULES)[number], entry: RetentionEntry, tz: string): string {
  return `${rule.field}:${rule.key(wallClock(Date.parse(entry.manifest.startedAt), tz), 0)}`
}

export function planUploads<T extends RetentionEntry>(
  held: readonly T[],
  missing: readonly T[],
  scope: RetentionScope,
): UploadPlan<T> {
  const plan: UploadPlan<T> = { upload: [], skipped: [] }
  if (missing.length === 0) return plan
  const { verdicts } = decideRetention([...held, ...missing], scope)
  const reasonsOf = new Map(verdicts.map((v) => [v.file, v.action === 'keep' ? v.reasons : undefined]))
  const rules = periodRules(scope)
  // The periods the plan keeps at all, and those the target already fills.
  const keptPeriods = new Set<string>()
  for (const e of [...held, ...missing]) {
    const reasons = reasonsOf.get(e.manifest.file)
    if (!reasons) continue
    for (const rule of rules)
      if (reasons.some((r) => r.includes(rule.reason))) keptPeriods.add(periodKey(rule, e, scope.tz))
  }
  const filled = new Set<string>()
  for (const e of held) if (isProvenBackup(e)) for (const rule of rules) filled.add(periodKey(rule, e, scope.tz))

  const oldestFirst = [...missing].sort((a, b) => Date.parse(a.manifest.startedAt) - Date.parse(b.manifest.startedAt))
  for (const entry of oldestFirst) {
    const reasons = reasonsOf.get(entry.manifest.file) ?? []
    const ownSlot = reasons.some((r) => r === 'last snapshot' || r.startsWith('within '))
    const periods = rules.map((rule) => periodKey(rule, entry, scope.tz))
    const kept = periods.filter((p) => keptPeriods.has(p))
    if (ownSlot || kept.some((p) => !filled.has(p))) {
      plan.upload.push(entry)
      for (const p of periods) filled.add(p)
    } else {
      plan.skipped.push({
        entry,
        why:
          kept.length > 0
            ? `its period (${kept.map((p) => p.replace(/^keep/, '').toLowerCase()).join(', ')}) is held on the target already`
            : "the target's retention would remove it",
      })
    }
  }
  return plan
}
