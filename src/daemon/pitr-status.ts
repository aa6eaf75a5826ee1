/**
 * The point-in-time archives as `status`, /healthz and /metrics see them: per database of each
 * DBnn_PITR source, its ranges and lag, read from the volume (no running archiver needed).
 */
import { archiveDir } from '../catalog/naming.js'
import type { Config } from '../config/types.js'
import { createArchive, type ArchiveState } from '../engines/index.js'
import { pitrDatabases } from './archivers.js'

export interface PitrReading {
  source: string
  database: string
  state: ArchiveState
}

export async function readPitrStates(config: Pick<Config, 'backupDir' | 'sources'>, now: Date): Promise<PitrReading[]> {
  return Promise.all(
    pitrDatabases(config.sources).map(async ({ source, database }) => ({
      source: source.label,
      database,
      state: await createArchive(source, archiveDir(config.backupDir, source.label, database)).state(now),
    })),
  )
}
