/**
 * One engine's way of putting a backup back: the same steps for every engine, so that the restore
 * command and the drills (restore.ts, drill.ts) never ask which engine they talk to:
 *   inspect → prepare? → load → count (checked by the caller) → commit? — or abandon? on failure.
 */
import type { Manifest } from '../catalog/manifest.js'
import type { SourceConfig } from '../config/types.js'
import type { CountedTable } from './check.js'
import type { BackupContent } from './content.js'
import type { ScratchLedger } from './scratch.js'

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
  /**
   * Where a database created beside the target (staged copy, old content) is recorded before it
   * is created and forgotten once dropped (scratch.ts): the next run sweeps a killed restore's.
   */
  scratch?: ScratchLedger
}

export interface RestoreDriver {
  /** What the target is, for the confirmation and every message: "database `shop` on db:3306". */
  readonly label: string
  /** Whether the manifest's row counts are exact for this engine (check.ts). */
  readonly exactCounts: boolean
  /** The target's current state. Reads only. */
  inspect(signal: AbortSignal): Promise<TargetState>
  /**
   * Reads only, before the confirmation, the safety backup and the load: rejects, changing nothing,
   * when the target cannot take this backup — what the backup needs of the server
   * (manifest.restoreNeeds: MySQL names the setting to change) or a target that cannot be replaced
   * at all (an SQLite side file mounted on its own). Resolves with lines for the operator. load()
   * checks again what it relies on. Absent: nothing to check.
   */
  prepare?(signal: AbortSignal): Promise<string[]>
  /**
   * Loads the decompressed content, creating the target when absent. A driver with `commit` may
   * load beside the target (staged) and put it in place in `commit`. Rejects with a DbkeeperError
   * whose message says what state the target was left in.
   */
  load(content: BackupContent, state: TargetState, signal: AbortSignal): Promise<void>
  /** Tables with exact row counts of what was loaded (staged or in place), and integrity problems (SQLite). */
  count(signal: AbortSignal): Promise<{ tables: CountedTable[]; problems: string[] }>
  /**
   * After `load` and a good check of `count`: puts what was loaded in the target's place; a failure
   * leaves the target as it was before `load`. Resolves with lines for the operator. Absent: `load`
   * already put it in place.
   */
  commit?(signal: AbortSignal): Promise<string[]>
  /**
   * After `load` when the restore fails (the check, or `commit` itself): removes what `load`
   * created (the staged copy, or the target when it did not exist before). Never rejects.
   */
  abandon?(signal: AbortSignal): Promise<void>
  /** Removes the target (drill scratch databases and files). No error when it is already gone. */
  discard(signal: AbortSignal): Promise<void>
}
