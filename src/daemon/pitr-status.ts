/**
 * The point-in-time archives as `status`, /healthz and /metrics see them: per database of each
 * DBnn_PITR source, its ranges and lag, read from the volume (no running archiver needed).
 */
import { archiveDir, binlogArchiveDir } from '../catalog/naming.js'
import type { Config, SourceConfig } from '../config/types.js'
import type { ArchiveState } from '../engines/index.js'

export interface PitrReading {
  source: string
  database: string
  state: ArchiveState
}

/** The databases archived continuously: `source/database` of every DBnn_PITR source. */
export function pitrDatabases(sources: readonly SourceConfig[]): { source: SourceConfig; database: string }[] {
  return sources
    .filter((s) => s.pitr && s.databases !== 'ALL')
    .flatMap((s) => (s.databases as string[]).map((database) => ({ source: s, database })))
}

export async function readPitrStates(config: Pick<Config, 'backupDir' | 'sources'>, now: Date): Promise<PitrReading[]> {
  if (pitrDatabases(config.sources).length === 0) return []
  // Loaded only with a DBnn_PITR source: `status --check` (the HEALTHCHECK) loads no engine otherwise.
  const { createArchive } = await import('../engines/index.js')
  return Promise.all(
    pitrDatabases(config.sources).map(async ({ source, database }) => ({
      source: source.label,
      database,
      // A MySQL source has one binlog archive for all its databases.
      state: await createArchive(
        source,
        source.engine === 'mysql'
          ? binlogArchiveDir(config.backupDir, source.label)
          : archiveDir(config.backupDir, source.label, database),
      ).state(now),
    })),
  )
}
