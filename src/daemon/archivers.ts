/**
 * The daemon's archivers: one supervised child per database of each DBnn_PITR source (Litestream
 * for an SQLite file), archiving into `<BACKUP_DIR>/<source>/.pitr/<database>/` beside the
 * scheduled dumps, from the daemon's start to its stop. A manual `dbkeeper backup` runs beside them.
 */
import { relative, sep } from 'node:path'
import { archiveDir } from '../catalog/naming.js'
import type { Config, S3Config } from '../config/types.js'
import { startArchiver, type ArchiveOffsite, type Archiver } from '../engines/index.js'
import { describeError } from '../runtime/errors.js'
import { pitrDatabases } from './pitr-status.js'
import type { Logger } from '../runtime/logger.js'

export interface RunningArchivers {
  readonly archivers: readonly { source: string; database: string; archiver: Archiver }[]
  stop(): Promise<void>
}

/**
 * The bucket an archive is copied to as well: the first off-site target that may delete, since
 * Litestream removes what falls out of PITR_WINDOW (a target with Object Lock or S3_NO_DELETE
 * would refuse it). Keyed as on the volume: `<S3_PREFIX><source>/.pitr/<database>`.
 */
export function archiveOffsite(
  targets: readonly S3Config[],
  backupDir: string,
  dir: string,
): ArchiveOffsite | undefined {
  const cfg = targets.find((t) => t.objectLock === undefined && !t.noDelete)
  if (!cfg) return undefined
  const path = `${cfg.prefix}${relative(backupDir, dir).split(sep).join('/')}`
  return {
    name: `${cfg.id} (s3://${cfg.bucket}/${path}/)`,
    replica: {
      bucket: cfg.bucket,
      path,
      region: cfg.region,
      endpoint: cfg.endpoint,
      forcePathStyle: cfg.forcePathStyle,
    },
    credentials:
      cfg.accessKeyId && cfg.secretAccessKey
        ? { accessKeyId: cfg.accessKeyId, secretAccessKey: cfg.secretAccessKey, sessionToken: cfg.sessionToken }
        : undefined,
  }
}

export async function startArchivers(
  config: Pick<Config, 'backupDir' | 'sources' | 'pitr' | 's3Targets' | 'encryption'>,
  logger: Logger,
  opts: { backoff?: { initialMs?: number; maxMs?: number; resetAfterMs?: number } } = {},
): Promise<RunningArchivers> {
  const archivers: { source: string; database: string; archiver: Archiver }[] = []
  for (const { source, database } of pitrDatabases(config.sources)) {
    const dir = archiveDir(config.backupDir, source.label, database)
    const offsite = archiveOffsite(config.s3Targets, config.backupDir, dir)
    if (!offsite && config.s3Targets.length > 0)
      logger.warn(
        { source: source.label, database },
        `point-in-time archive of ${source.label}/${database} stays on the volume: every off-site target has Object Lock or S3_NO_DELETE, and Litestream must delete what falls out of PITR_WINDOW`,
      )
    try {
      const archiver = await startArchiver({
        source,
        database,
        dir,
        windowMs: config.pitr.windowMs,
        logger,
        ...(offsite ? { offsite } : {}),
        ...(config.encryption ? { recipients: config.encryption.recipients } : {}),
        ...(opts.backoff ? { backoff: opts.backoff } : {}),
      })
      archivers.push({ source: source.label, database, archiver })
    } catch (error) {
      // The scheduled dumps go on; status shows the archive's lag growing, /healthz fails on it.
      logger.error(
        { source: source.label, database },
        `point-in-time archiving of ${source.label}/${database} could not start: ${describeError(error)}`,
      )
    }
  }
  return {
    archivers,
    stop: async () => {
      await Promise.all(archivers.map((a) => a.archiver.stop()))
    },
  }
}
