/**
 * The product's safety rules around the restic plan, pure: which catalog entries the policy may
 * count, which it must never touch, and the refusals. apply.ts deletes, on any target.
 *
 * - Counted ("proven"): a verified backup of kind `backup` whose manifest names this source and
 *   database, whose data file has our name pattern and the manifest's size.
 * - Never counted, never removed, reported as kept: damaged entries (data missing or of the wrong
 *   size — left for an operator to inspect; counting them would let a backup without data take a
 *   daily slot), pre-restore safety backups (their own rule will come), and manifests that belong
 *   to another source or database (copied by hand: not ours to delete).
 * - Never counted, never removed, reported: backups stamped in the future (catalog/order.ts), taken
 *   under a clock that was ahead. Counted, one would be "the newest" and take the KEEP_LAST /
 *   daily slot of the run's own new backup, which the plan would then delete: every run would
 *   delete what it just made. restic only keeps them from anchoring KEEP_WITHIN; an operator
 *   expects the real backups to be untouched and the odd one kept as evidence, and told about.
 *   Once real time passes its stamp, it is counted like any other.
 * - The newest proven backup is always kept, whatever the policy says.
 * - A DBnn_PITR source (`pitrWindowMs`): every proven backup a restore to a time inside
 *   PITR_WINDOW may start from is kept too (pitr.ts).
 * - An empty policy, or a plan that would remove every proven backup, is refused.
 */
import type { BackupEntry } from '../catalog/catalog.js'

/** What the safety rules read of a listed backup (any target's: catalog.ts). */
export type RetentionEntry = Pick<BackupEntry, 'manifest' | 'problem'>
import { encodeName, parseDataFileName } from '../catalog/naming.js'
import { isFromTheFuture, isNewer } from '../catalog/order.js'
import type { RetentionPolicy } from '../config/types.js'
import { DbkeeperError } from '../runtime/errors.js'
import { isActivePolicy, planRetention } from './index.js'
import { PITR_BASE, pitrKeeps } from './pitr.js'

export const NEWEST_PROVEN = 'newest proven backup'
export const PRE_RESTORE = 'pre-restore safety backup'
export const FROM_THE_FUTURE = 'stamped in the future (clock skew): kept, not counted'

export interface RetentionScope {
  source: string
  database: string
  policy: RetentionPolicy
  tz: string
  now: Date
  /** PITR_WINDOW of a DBnn_PITR source: the base backups a time inside it needs are kept. */
  pitrWindowMs?: number
}

export interface BackupVerdict {
  id: string
  /** The data file's name inside the database directory. */
  file: string
  startedAt: string
  kind: 'backup' | 'pre-restore'
  action: 'keep' | 'remove'
  reasons: string[]
  /** Why the entry is damaged, when it is. */
  problem?: string
}

export interface RetentionDecision<T extends RetentionEntry = RetentionEntry> {
  /** Every entry of the directory, newest first. */
  verdicts: BackupVerdict[]
  /** The entries to delete, newest first: always a subset of the counted ones. */
  remove: T[]
}

/** Why an entry must not be counted, or undefined when it is a proven backup of this database. */
function exclusion(entry: RetentionEntry, scope: RetentionScope): string | undefined {
  const m = entry.manifest
  if (m.source !== scope.source || m.database !== scope.database) {
    return `belongs to ${m.source}/${m.database}, not ${scope.source}/${scope.database}: left alone`
  }
  const parsed = parseDataFileName(m.file)
  const isOurName = parsed !== undefined && parsed.id === `${encodeName(scope.database)}_${parsed.stamp}`
  if (!isOurName) {
    return `data file name "${m.file}" is not one dbkeeper writes for this database: left alone`
  }
  if (entry.problem !== undefined) return `damaged (${entry.problem}): left for inspection`
  if (m.verification?.ok !== true) return 'not verified: left for inspection'
  if (Number.isNaN(Date.parse(m.startedAt))) return `unreadable start time "${m.startedAt}": left for inspection`
  if (isFromTheFuture(m, scope.now)) return FROM_THE_FUTURE
  if (m.kind === 'pre-restore') return PRE_RESTORE
  return undefined
}

export function policyText(policy: RetentionPolicy): string {
  const parts = Object.entries(policy)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${k}=${String(v)}`)
  return parts.length > 0 ? parts.join(' ') : '(no rule)'
}

function refuse(scope: RetentionScope, why: string): never {
  throw new DbkeeperError(
    'RETENTION',
    `retention for ${scope.source}/${scope.database} refused: ${why}; nothing was deleted`,
    {
      hint: 'set a policy that keeps something (BACKUP_RETENTION_DAYS, KEEP_DAILY, … or the DBnn_KEEP_* overrides; see docs/CONFIGURATION.md)',
    },
  )
}

export function decideRetention<T extends RetentionEntry>(
  entries: readonly T[],
  scope: RetentionScope,
): RetentionDecision<T> {
  const counted = entries.filter((e) => exclusion(e, scope) === undefined)
  if (!isActivePolicy(scope.policy)) {
    refuse(scope, `the policy ${policyText(scope.policy)} keeps nothing and would remove all ${counted.length} backups`)
  }
  const plan = planRetention(
    counted.map((e) => ({ id: e.manifest.file, time: e.manifest.startedAt })),
    scope.policy,
    scope.now,
    { tz: scope.tz },
  )
  if (counted.length > 0 && plan.keep.length === 0) {
    refuse(scope, `the policy ${policyText(scope.policy)} would remove all ${counted.length} backups`)
  }
  const reasons = new Map(plan.keep.map((k) => [k.id, k.reasons]))
  const newest = newestOf(counted)
  if (newest) reasons.set(newest.manifest.file, [...(reasons.get(newest.manifest.file) ?? []), NEWEST_PROVEN])
  if (scope.pitrWindowMs !== undefined) {
    const bases = counted.map((e) => ({ id: e.manifest.file, finishedAt: e.manifest.finishedAt }))
    for (const id of pitrKeeps(bases, scope.now, scope.pitrWindowMs))
      reasons.set(id, [...(reasons.get(id) ?? []), PITR_BASE])
  }

  const verdicts = entries.map((e): BackupVerdict => {
    const excluded = exclusion(e, scope)
    const kept = excluded !== undefined ? [excluded] : reasons.get(e.manifest.file)
    const m = e.manifest
    const verdict: BackupVerdict = {
      id: m.id,
      file: m.file,
      startedAt: m.startedAt,
      kind: m.kind,
      action: kept ? 'keep' : 'remove',
      reasons: kept ?? [],
    }
    if (e.problem !== undefined) verdict.problem = e.problem
    return verdict
  })
  const remove = counted.filter((e) => !reasons.has(e.manifest.file))
  return { verdicts, remove }
}

/** The newest by the one rule (catalog/order.ts); `entries` holds no backup from the future. */
function newestOf<T extends RetentionEntry>(entries: readonly T[]): T | undefined {
  let best: T | undefined
  for (const e of entries) {
    if (!best || isNewer(e.manifest, best.manifest)) best = e
  }
  return best
}
