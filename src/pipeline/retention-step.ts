import type { Config, SourceConfig } from '../config/types.js'
import { describeError } from '../runtime/errors.js'
import type { Logger } from '../runtime/logger.js'
import { futureWarning } from '../catalog/order.js'
import { applyRetention } from '../retention/apply.js'
import { pruneBinlogArchive } from '../retention/binlog.js'
import { pitrScope } from '../retention/pitr.js'
import { FROM_THE_FUTURE } from '../retention/safety.js'

export interface RetentionOutcome {
  ok: boolean
  /** Data files removed by the policy. */
  removed: string[]
  error?: string
}

/**
 * Applies the source's retention policy to one database after this run committed a backup of it
 * (the caller guarantees that); for a DBnn_PITR MySQL source, then to its binlog archive
 * (retention/binlog.ts). A refused plan or a failed deletion is logged and reported, never
 * thrown: the new backup stays committed and the run is marked failed.
 */
export async function applyRetentionAfterBackup(args: {
  config: Config
  source: SourceConfig
  database: string
  logger: Logger
}): Promise<RetentionOutcome> {
  const { config, source, database, logger } = args
  try {
    const now = new Date()
    const report = await applyRetention({
      backupDir: config.backupDir,
      source: source.label,
      database,
      policy: source.retention,
      tz: config.tz,
      now,
      ...pitrScope(source, config.pitr),
      dryRun: false,
      logger,
    })
    const future = report.backups.filter((b) => b.reasons.includes(FROM_THE_FUTURE))
    if (future.length > 0) {
      logger.warn(
        { database, backups: future.map((b) => b.file) },
        futureWarning(
          future.map((b) => ({ ...b, source: source.label, database })),
          now,
        ),
      )
    }
    const removed = report.backups.filter((b) => b.action === 'remove').map((b) => b.file)
    const kept = report.backups.filter((b) => b.action === 'keep')
    logger.info(
      { database, kept: kept.map((b) => `${b.file} (${b.reasons.join(', ')})`), removed },
      `retention kept ${kept.length}, removed ${removed.length}`,
    )
    // A MySQL source's binlog archive: what no base left inside PITR_WINDOW needs goes with them.
    if (source.pitr && source.engine === 'mysql')
      await pruneBinlogArchive({ backupDir: config.backupDir, source, now, windowMs: config.pitr.windowMs, logger })
    return { ok: true, removed }
  } catch (error) {
    const message = describeError(error)
    logger.error({ database }, `retention failed: ${message}`)
    return { ok: false, removed: [], error: message }
  }
}
