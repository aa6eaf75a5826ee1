/**
 * The daemon's archivers: one supervised child per database of each DBnn_PITR source (Litestream
 * for an SQLite file), archiving into `<BACKUP_DIR>/<source>/.pitr/<database>/` beside the
 * scheduled dumps, from the daemon's start to its stop. A manual `dbkeeper backup` runs beside them.
 */
import { archiveDir } from '../catalog/naming.js'
import type { Config } from '../config/types.js'
import { startArchiver, type Archiver } from '../engines/index.js'
import { describeError } from '../runtime/errors.js'
import { pitrDatabases } from './pitr-status.js'
import type { Logger } from '../runtime/logger.js'

export interface RunningArchivers {
  readonly archivers: readonly { source: string; database: string; archiver: Archiver }[]
  stop(): Promise<void>
}

export async function startArchivers(
  config: Pick<Config, 'backupDir' | 'sources' | 'pitr'>,
  logger: Logger,
  opts: { backoff?: { initialMs?: number; maxMs?: number; resetAfterMs?: number } } = {},
): Promise<RunningArchivers> {
  const archivers: { source: string; database: string; archiver: Archiver }[] = []
  for (const { source, database } of pitrDatabases(config.sources)) {
    const dir = archiveDir(config.backupDir, source.label, database)
    try {
      const archiver = await startArchiver({
        source,
        database,
        dir,
        windowMs: config.pitr.windowMs,
        logger,
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
