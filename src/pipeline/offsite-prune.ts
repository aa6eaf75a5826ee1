/**
 * `dbkeeper prune` off-site: each target's own retention (S3_n_KEEP_*, else the source's) applied
 * to every database the target holds of each source, through the one applier (retention/apply.ts).
 * A target with S3_NO_DELETE is only planned: its removals are reported for the bucket's lifecycle
 * rule. A target that cannot be listed is reported as failed and the others go on.
 */
import { listEntries } from '../catalog/catalog.js'
import { remoteDir } from '../catalog/remote.js'
import type { Config, RetentionPolicy, SourceConfig } from '../config/types.js'
import { applyRetentionOn } from '../retention/apply.js'
import { pitrScope } from '../retention/pitr.js'
import type { BackupVerdict } from '../retention/safety.js'
import { toDbkeeperError } from '../runtime/errors.js'
import type { Logger } from '../runtime/logger.js'
import { openS3Target } from '../storage/s3/index.js'
import type { Target } from '../storage/target.js'
import { targetPolicy } from './offsite-target.js'

export interface PrunedOnTarget {
  /** `S3`, `S3_2`, … */
  target: string
  /** `s3://bucket/prefix/<source>/<db>/` */
  location: string
  source: string
  database: string
  status: 'ok' | 'refused' | 'failed'
  policy: RetentionPolicy
  tz: string
  /** S3_NO_DELETE: nothing was deleted; the backups marked `remove` are for the lifecycle rule to expire. */
  noDelete: boolean
  backups: BackupVerdict[]
  /** Keys removed, in deletion order; empty on a dry run and with S3_NO_DELETE. */
  deleted: string[]
  error?: { code: string; message: string; hint?: string }
}

export async function pruneTargets(args: {
  config: Config
  sources: readonly SourceConfig[]
  dryRun: boolean
  logger: Logger
  signal: AbortSignal
  targets?: readonly Target[]
}): Promise<PrunedOnTarget[]> {
  const { config, logger } = args
  const out: PrunedOnTarget[] = []
  for (const [i, cfg] of config.s3Targets.entries()) {
    const target =
      args.targets?.[i] ?? openS3Target(cfg, { logger: logger.child({ target: cfg.id }), signal: args.signal })
    for (const source of args.sources) {
      const base = {
        target: cfg.id,
        source: source.label,
        policy: { ...targetPolicy(cfg, source) },
        tz: config.tz,
        noDelete: cfg.noDelete,
      }
      const fail = (database: string, error: unknown): PrunedOnTarget => {
        const e = toDbkeeperError(error)
        if (e.code === 'ABORTED') throw e
        logger.error({ target: cfg.id, source: source.label, database, code: e.code }, `prune ${cfg.id}: ${e.message}`)
        return {
          ...base,
          location: target.url(database === '*' ? `${source.label}/` : remoteDir(source.label, database)),
          database,
          status: e.code === 'RETENTION' ? 'refused' : 'failed',
          backups: [],
          deleted: [],
          error: {
            code: e.code,
            message: `${cfg.id} (${target.description}): ${e.message}`,
            ...(e.hint ? { hint: e.hint } : {}),
          },
        }
      }
      let databases: string[]
      try {
        databases = [
          ...new Set((await listEntries(target, { source: source.label })).map((e) => e.manifest.database)),
        ].sort()
      } catch (error) {
        out.push(fail('*', error))
        continue
      }
      for (const database of databases) {
        try {
          const r = await applyRetentionOn({
            ...base,
            ...pitrScope(source, config.pitr),
            target,
            database,
            now: new Date(),
            dryRun: args.dryRun || cfg.noDelete,
            name: 's3-retention',
            logger,
          })
          out.push({
            ...base,
            location: target.url(remoteDir(source.label, database)),
            database,
            status: 'ok',
            backups: r.backups,
            deleted: r.deleted,
          })
        } catch (error) {
          out.push(fail(database, error))
        }
      }
    }
  }
  return out
}
