/**
 * The off-site step of a run for one target and one database, after its local backup was
 * committed:
 *   1. plan: the target's backups (listed while the dump ran: `held`) and the proven local ones
 *      missing there, through the retention planner (retention/uploads.ts): the target receives
 *      only what its own policy keeps;
 *   2. this run's backup, when the plan sends it: finish the copy streamed during the dump (or
 *      upload it from the volume), confirm it, then its `.sha256` and manifest objects; when the
 *      plan does not send it, a streamed copy is cancelled (nothing stays visible). The streamed
 *      copy's relabel starts with 1, as soon as its upload completes: a label is not a manifest;
 *   3. catch-up: the other backups the plan sends (an earlier run could not reach the target), oldest first;
 *   4. the target's retention, only when 1–3 succeeded, over `held` and what 2–3 published (no
 *      second listing: see retention/apply.ts `entries`); with S3_NO_DELETE a dry run whose
 *      removals are reported for a lifecycle rule.
 * It never throws: a failure is reported in the result, named by the target.
 */
import type { CommittedBackup } from './backup.js'
import {
  listDatabaseDir,
  listEntries,
  sortNewestFirst,
  writtenEntry,
  type BackupEntry,
  type CatalogEntry,
} from '../catalog/catalog.js'
import type { OffsiteResult } from '../catalog/journal.js'
import { isProvenBackup } from '../catalog/latest.js'
import { databaseDir } from '../catalog/naming.js'
import type { RetentionPolicy, S3Config, SourceConfig } from '../config/types.js'
import { applyRetentionOn } from '../retention/apply.js'
import { retainUntil } from '../retention/lock-date.js'
import { planUploads, type UploadPlan } from '../retention/uploads.js'
import { toDbkeeperError } from '../runtime/errors.js'
import type { Logger } from '../runtime/logger.js'
import type { Target } from '../storage/target.js'
import type { StreamedCopy } from './offsite-copy.js'
import { confirmAndCommit, uploadFromVolume } from './offsite-publish.js'

/** One configured target, opened. */
export interface OpenTarget {
  readonly cfg: S3Config
  readonly target: Target
}

export interface OffsiteScope {
  source: string
  database: string
  policy: RetentionPolicy
  tz: string
  now: Date
  /** PITR_WINDOW of a DBnn_PITR source (retention/pitr.ts). */
  pitrWindowMs?: number
}

/** A target's policy for a source: its own `S3_n_KEEP_*` when set, else what the source keeps locally. */
export function targetPolicy(cfg: Pick<S3Config, 'retention'>, source: SourceConfig): RetentionPolicy {
  return cfg.retention ?? source.retention
}

/** `S3_2 (s3://bucket/prefix/)`: how messages, alerts and status name a target. */
export function targetName(t: OpenTarget): string {
  return `${t.cfg.id} (${t.target.description})`
}

/** The plan for the proven local backups of one database missing on the target. */
export async function planForTarget(
  target: Target,
  backupDir: string,
  scope: OffsiteScope,
  /** The target's backups of the database, when listed already (listHeld). */
  held?: readonly BackupEntry[],
): Promise<UploadPlan<CatalogEntry>> {
  const remote = held ?? (await listHeld(target, scope))
  const there = new Set(remote.filter((r) => r.problem === undefined).map((r) => r.manifest.file))
  const local = (await listDatabaseDir(databaseDir(backupDir, scope.source, scope.database))).filter(
    (e) =>
      isProvenBackup(e) &&
      e.manifest.kind === 'backup' &&
      e.manifest.source === scope.source &&
      e.manifest.database === scope.database,
  )
  const missing = local.filter((e) => !there.has(e.manifest.file))
  return planUploads(remote as CatalogEntry[], missing, scope)
}

/** The target's backups of one database: what the plan and the retention of copyToTarget start from. */
export function listHeld(target: Target, scope: Pick<OffsiteScope, 'source' | 'database'>): Promise<BackupEntry[]> {
  return listEntries(target, { source: scope.source, database: scope.database })
}

export async function copyToTarget(args: {
  open: OpenTarget
  backupDir: string
  copy: StreamedCopy | undefined
  /** listHeld, started when the dump did. */
  held: Promise<BackupEntry[]>
  committed: CommittedBackup
  scope: OffsiteScope
  signal: AbortSignal
  logger: Logger
}): Promise<OffsiteResult> {
  const { open, committed, scope, signal, logger } = args
  const { target, cfg } = open
  const m = committed.manifest
  const result: OffsiteResult = { ok: true, target: cfg.id }
  const lock = (e: { manifest: { startedAt: string } }) =>
    cfg.objectLock ? retainUntil(e.manifest.startedAt, scope.policy, cfg.objectLock.days, scope.now) : undefined
  try {
    // The relabel (CopyObject) follows the upload's completion at once, while the plan is made.
    const finishing = args.copy?.finish(m)
    let held: BackupEntry[]
    let plan: UploadPlan<CatalogEntry>
    try {
      held = await args.held
      plan = await planForTarget(target, args.backupDir, scope, held)
    } catch (error) {
      await args.copy?.cancel('the off-site plan failed')
      throw error
    }
    // What this run published: the retention's listing is `held` and these.
    const published: BackupEntry[] = []
    const mine = plan.upload.find((e) => e.manifest.file === m.file)
    if (mine) {
      const streamed = finishing ? await finishing : { ok: false as const, reason: 'not streamed' }
      if (streamed.ok) result.key = target.url(await confirmAndCommit(target, m, logger, lock(committed)))
      else {
        if (args.copy)
          logger.warn(
            `off-site copy streamed during the dump did not complete (${streamed.reason}); uploading from the volume`,
          )
        result.key = target.url(await uploadFromVolume(target, committed, signal, logger, lock(committed)))
      }
      published.push(writtenEntry(target, m))
      logger.info({ key: result.key }, 'off-site copy confirmed')
    } else {
      const why = plan.skipped.find((s) => s.entry.manifest.file === m.file)?.why ?? 'it is on the target already'
      await args.copy?.cancel(`not sent to ${cfg.id}: ${why}`)
      result.skipped = `not sent to ${cfg.id}: ${why}`
      logger.info(`off-site copy skipped: ${why}`)
    }
    result.caughtUp = []
    for (const entry of plan.upload) {
      if (entry === mine || signal.aborted) continue
      const key = target.url(await uploadFromVolume(target, entry, signal, logger, lock(entry)))
      result.caughtUp.push(key)
      published.push(writtenEntry(target, entry.manifest))
      logger.info({ key }, 'off-site catch-up: uploaded a backup an earlier run could not')
    }
    const listed = new Map(held.map((e) => [e.manifestKey, e]))
    for (const e of published) listed.set(e.manifestKey, e)
    const pruned = await applyRetentionOn({
      target,
      ...scope,
      entries: sortNewestFirst([...listed.values()]),
      // An append-only key cannot delete: plan and report, for the bucket's lifecycle rule.
      dryRun: cfg.noDelete,
      name: 's3-retention',
      logger,
    })
    const urls = (keys: string[]) =>
      keys.filter((k) => k.endsWith('.manifest.json')).map((k) => target.url(k.slice(0, -'.manifest.json'.length)))
    if (cfg.noDelete) {
      const due = pruned.backups.filter((b) => b.action === 'remove').map((b) => b.file)
      if (due.length > 0) {
        result.wouldRemove = due
        logger.info({ due }, `S3_NO_DELETE: ${due.length} backup(s) past retention, left for the lifecycle rule`)
      }
    } else result.removed = urls(pruned.deleted)
  } catch (error) {
    const e = toDbkeeperError(error)
    result.ok = false
    result.error = `${targetName(open)}: ${e.message}`
    if (e.hint) result.hint = e.hint
    logger.error(
      { key: result.key, code: e.code, hint: e.hint },
      `off-site copy to ${targetName(open)} failed: ${e.message}`,
    )
  }
  return result
}
