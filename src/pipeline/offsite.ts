/**
 * The off-site step of a run, per database, after its local backup was committed:
 *   1. this backup: finish the copy streamed during the dump (or upload it from the volume),
 *      confirm it, then its `.sha256` and manifest objects;
 *   2. catch-up: every proven local backup missing off-site (an earlier run could not reach S3),
 *      oldest first, only those the off-site policy would keep;
 *   3. off-site retention, only when 1 succeeded (a run never prunes when its new copy failed).
 * It never throws: a failure is reported in the outcome (the run is then not ok), and the local
 * backup stays committed whatever happens off-site.
 */
import type { CommittedBackup } from './backup.js'
import { listDatabaseDir, listEntries, type CatalogEntry } from '../catalog/catalog.js'
import type { DatabaseResult, OffsiteResult } from '../catalog/journal.js'
import { isProvenBackup } from '../catalog/latest.js'
import { databaseDir } from '../catalog/naming.js'
import type { Config, RetentionPolicy, SourceConfig } from '../config/types.js'
import { applyRetentionOn } from '../retention/apply.js'
import { decideRetention } from '../retention/safety.js'
import { toDbkeeperError } from '../runtime/errors.js'
import type { Logger } from '../runtime/logger.js'
import { openS3Target } from '../storage/s3/index.js'
import type { Target } from '../storage/target.js'
import { startStreamedCopy, type StreamedCopy } from './offsite-copy.js'
import { confirmAndCommit, uploadFromVolume } from './offsite-publish.js'

/** Said with every off-site failure: what it means for the backup, whatever the cause. */
export const OFFSITE_NOTE = 'the local backup is committed; the next run uploads every backup still missing off-site'

export interface Offsite {
  readonly target: Target
  /** A copy of one database's backup, streamed during its dump (BackupJob.tee). */
  begin(source: string, database: string): StreamedCopy
  afterCommit(copy: StreamedCopy | undefined, committed: CommittedBackup, source: SourceConfig): Promise<OffsiteResult>
}

/** The off-site policy of a source: S3_KEEP_* when set, else what the source keeps locally. */
export function offsitePolicy(config: Config, source: SourceConfig): RetentionPolicy {
  return config.s3?.retention ?? source.retention
}

export function openOffsite(config: Config, logger: Logger, signal: AbortSignal, target?: Target): Offsite | undefined {
  if (!config.s3) return undefined
  const log = logger.child({ target: 's3' })
  // Warm: loading the SDK (in its thread) overlaps the sources' probes, not the first dump.
  const s3 = target ?? openS3Target(config.s3, { logger: log, signal, warm: true })
  return {
    target: s3,
    begin: (source, database) => startStreamedCopy(s3, source, database, log.child({ source })),
    async afterCommit(copy, committed, source) {
      const m = committed.manifest
      const dbLog = log.child({ source: source.label, database: m.database })
      const result: OffsiteResult = { ok: true }
      try {
        const streamed = copy ? await copy.finish(m) : { ok: false as const, reason: 'not streamed' }
        if (streamed.ok) result.key = s3.url(await confirmAndCommit(s3, m, dbLog))
        else {
          if (copy)
            dbLog.warn(
              `off-site copy streamed during the dump did not complete (${streamed.reason}); uploading from the volume`,
            )
          result.key = s3.url(await uploadFromVolume(s3, committed, signal, dbLog))
        }
        dbLog.info({ key: result.key }, 'off-site copy confirmed')
        const policy = offsitePolicy(config, source)
        const scope = { source: source.label, database: m.database, policy, tz: config.tz, now: new Date() }
        result.caughtUp = await catchUp(s3, config, scope, signal, dbLog)
        const pruned = await applyRetentionOn({
          target: s3,
          ...scope,
          dryRun: false,
          name: 's3-retention',
          logger: dbLog,
        })
        result.removed = pruned.deleted
          .filter((k) => k.endsWith('.manifest.json'))
          .map((k) => s3.url(k.slice(0, -'.manifest.json'.length)))
      } catch (error) {
        const e = toDbkeeperError(error)
        result.ok = false
        result.error = e.message
        if (e.hint) result.hint = e.hint
        dbLog.error({ key: result.key, code: e.code, hint: e.hint }, `off-site copy failed: ${e.message}`)
      }
      return result
    },
  }
}

/** Proven local backups of the database missing off-site that the off-site policy keeps, oldest first. */
export async function missingOffsite(
  target: Target,
  backupDir: string,
  scope: { source: string; database: string; policy: RetentionPolicy; tz: string; now: Date },
): Promise<CatalogEntry[]> {
  const remote = await listEntries(target, { source: scope.source, database: scope.database })
  const there = new Set(remote.filter((r) => r.problem === undefined).map((r) => r.manifest.file))
  const local = (await listDatabaseDir(databaseDir(backupDir, scope.source, scope.database))).filter(
    (e) =>
      isProvenBackup(e) &&
      e.manifest.kind === 'backup' &&
      e.manifest.source === scope.source &&
      e.manifest.database === scope.database,
  )
  const missing = local.filter((e) => !there.has(e.manifest.file))
  if (missing.length === 0) return []
  // One plan over what is off-site plus what could be: upload only what it would keep.
  const { remove } = decideRetention([...remote, ...missing], scope)
  const dropped = new Set(remove.map((e) => e.manifest.file))
  return missing.filter((e) => !dropped.has(e.manifest.file)).reverse()
}

async function catchUp(
  target: Target,
  config: Config,
  scope: Parameters<typeof missingOffsite>[2],
  signal: AbortSignal,
  logger: Logger,
): Promise<string[]> {
  const uploaded: string[] = []
  for (const entry of await missingOffsite(target, config.backupDir, scope)) {
    if (signal.aborted) break
    const key = await uploadFromVolume(target, entry, signal, logger)
    uploaded.push(target.url(key))
    logger.info({ key: target.url(key) }, 'off-site catch-up: uploaded a backup an earlier run could not')
  }
  return uploaded
}

/** Marks a database's result with its off-site outcome; a failed copy fails the database (and the run). */
export function recordOffsite(outcome: DatabaseResult, result: OffsiteResult): void {
  outcome.offsite = result
  if (result.ok) return
  outcome.ok = false
  outcome.error = {
    code: 'OFFSITE',
    message: `off-site copy failed: ${result.error ?? 'unknown error'}`,
    hint: result.hint ? `${result.hint}; ${OFFSITE_NOTE}` : OFFSITE_NOTE,
  }
}
