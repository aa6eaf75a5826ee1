/**
 * One engine's way of putting a backup back: the same four steps for every engine, so that the
 * restore command and the drills (restore.ts, drill.ts) never ask which engine they talk to.
 */
import type { Manifest } from '../catalog/manifest.js'
import type { SourceConfig } from '../config/types.js'
import type { CountedTable } from './check.js'
import type { BackupContent } from './content.js'
import { MysqlDriver } from './mysql.js'
import { PostgresDriver } from './postgres.js'
import { SqliteDriver } from './sqlite.js'

export interface TargetState {
  exists: boolean
  /** No tables, views, routines or events (MySQL), no relations or functions (PostgreSQL), a 0-byte file (SQLite). */
  empty: boolean
}

export interface DriverTarget {
  source: SourceConfig
  /** The backup being restored (its engine, format, tool and database). */
  manifest: Manifest
  /** A database name on the source's server, or a file path (SQLite). */
  target: string
  /**
   * true: the target's current content is replaced (dropped first, or built aside and swapped in).
   * false: the target must be absent or empty (`--into`, drills); it is created when absent.
   */
  replace: boolean
  /** Private 0700 directory for credential files and temporary files. */
  workDir: string
}

export interface RestoreDriver {
  /** What the target is, for the confirmation and every message: "database `shop` on db:3306". */
  readonly label: string
  /** Whether the manifest's row counts are exact for this engine (check.ts). */
  readonly exactCounts: boolean
  /** The target's current state. Reads only. */
  inspect(signal: AbortSignal): Promise<TargetState>
  /**
   * Reads only: rejects when the target cannot be replaced at all (an SQLite side file mounted on
   * its own), so that the restore stops before the confirmation and the safety backup. load()
   * checks the same again. Absent: nothing to check.
   */
  preflight?(signal: AbortSignal): Promise<void>
  /**
   * Loads the decompressed content into the target, creating it when absent. Rejects with a
   * DbkeeperError whose message says what state the target was left in.
   */
  load(content: BackupContent, state: TargetState, signal: AbortSignal): Promise<void>
  /** Tables with exact row counts after the load, and integrity problems (SQLite). */
  count(signal: AbortSignal): Promise<{ tables: CountedTable[]; problems: string[] }>
  /** Removes the target (drill scratch databases and files). No error when it is already gone. */
  discard(signal: AbortSignal): Promise<void>
}

export function createDriver(t: DriverTarget): RestoreDriver {
  switch (t.manifest.engine) {
    case 'mysql':
      return new MysqlDriver(t)
    case 'postgres':
      return new PostgresDriver(t)
    case 'sqlite':
      return new SqliteDriver(t)
  }
}
