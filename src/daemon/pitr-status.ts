/**
 * The point-in-time archives as `status`, /healthz and /metrics see them, read from the volume (no
 * running archiver needed): per database of each DBnn_PITR SQLite source (one Litestream archive
 * each), and per DBnn_PITR MySQL/MariaDB source (one binlog archive for all its databases: its
 * reading has the database `*`, and every database of the source shows it). A binlog archive's
 * window is what a restore to a time reaches (from the oldest base inside it), not all it holds.
 */
import { archiveDir, binlogArchiveDir } from '../catalog/naming.js'
import type { Config, SourceConfig } from '../config/types.js'
import type { FileReads } from '../runtime/file-reads.js'
import type { ArchiveRange, ArchiveState } from '../engines/index.js'

/** The database of a reading that covers a whole source (a MySQL binlog archive). */
export const WHOLE_SOURCE = '*'

export interface PitrReading {
  source: string
  /** A database of the source, or WHOLE_SOURCE. */
  database: string
  /** The archiver whose log lines tell more: `litestream`, `binlog`. */
  archiver: 'litestream' | 'binlog'
  state: ArchiveState
  /**
   * A MySQL binlog archive: what it holds, run by run (its splits are its gaps, for the watch),
   * where `state.ranges` is what a restore to a time reaches from the source's bases.
   */
  held?: ArchiveRange[]
}

/**
 * What is archived continuously: `source/database` of every DBnn_PITR SQLite source, and
 * `source/*` of every DBnn_PITR MySQL source (whatever DBnn_NAME lists, ALL included).
 */
export function pitrDatabases(sources: readonly SourceConfig[]): { source: SourceConfig; database: string }[] {
  return sources
    .filter((s) => s.pitr)
    .flatMap((s) =>
      s.engine === 'mysql'
        ? [{ source: s, database: WHOLE_SOURCE }]
        : s.databases === 'ALL'
          ? []
          : s.databases.map((database) => ({ source: s, database })),
    )
}

/** The reading that covers `source/database`: its own, or its source's whole archive. */
export function readingFor<R extends Pick<PitrReading, 'source' | 'database'>>(
  readings: readonly R[],
  source: string,
  database: string,
): R | undefined {
  return readings.find((r) => r.source === source && (r.database === database || r.database === WHOLE_SOURCE))
}

/** Every DBnn_PITR archive's reading; `reads`: how the volume is read (runtime/file-reads.ts; fs/promises when not given). */
export async function readPitrStates(
  config: Pick<Config, 'backupDir' | 'sources'>,
  now: Date,
  reads?: FileReads,
): Promise<PitrReading[]> {
  if (pitrDatabases(config.sources).length === 0) return []
  // Loaded only with a DBnn_PITR source: `status --check` (the HEALTHCHECK) loads no engine otherwise.
  const { createArchive, MysqlArchive } = await import('../engines/index.js')
  return Promise.all(
    pitrDatabases(config.sources).map(async ({ source, database }): Promise<PitrReading> => {
      if (source.engine === 'mysql') {
        // The window a restore reaches: from the oldest proven base (of any database of the
        // source) whose coordinates lie in a gap-free run, by restore --at's own rule.
        const { binlogBases } = await import('../restore/at-time-mysql.js')
        const { bases } = await binlogBases(config.backupDir, source, undefined, reads)
        const { held, ...state } = await new MysqlArchive(
          binlogArchiveDir(config.backupDir, source.label),
          reads,
        ).reachable(now, bases)
        return { source: source.label, database, archiver: 'binlog', state, held }
      }
      const dir = archiveDir(config.backupDir, source.label, database)
      return {
        source: source.label,
        database,
        archiver: 'litestream',
        state: await (await createArchive(source, dir, undefined, reads)).state(now),
      }
    }),
  )
}
