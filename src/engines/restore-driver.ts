/**
 * One engine's way of putting a backup back: the same steps for every engine, so that the restore
 * command and the drills (restore/restore.ts, restore/drill.ts) never ask which engine they talk to:
 *   inspect → prepare? → load → count (checked by the caller) → commit? — or abandon? on failure.
 *
 * Here, under engines/, with everything a driver is given, because engines/ is the lower layer:
 * a driver gets a decompressed stream and the few facts of the backup it reads (BackupFacts), never
 * the manifest or the catalog; restore/ builds both from a proven backup (restore/content.ts).
 */
import { basename, dirname, join } from 'node:path'
import type { Readable } from 'node:stream'
import type { SourceConfig } from '../config/types.js'
import type { RestoreNeeds } from './engine.js'

export interface TargetState {
  exists: boolean
  /** No tables, views, routines or events (MySQL), nothing a fresh database lacks (PostgreSQL: relations, functions, types, schemas, large objects…), a 0-byte file (SQLite). */
  empty: boolean
}

/** What a driver reads of the backup it restores: taken from its manifest, never from today's configuration. */
export interface BackupFacts {
  /** The backup's id, for messages. */
  id: string
  /** The database the backup was taken of (the name it is filed under). */
  database: string
  /** The raw content: `sql` (a dump), `dump` (a PostgreSQL custom-format archive) or `db` (an SQLite file). */
  format: 'sql' | 'dump' | 'db'
  /** The dump tool's version and options as recorded (a MySQL restore picks the client of the same flavour; a re-dump the same options). */
  tool: { version: string; options: readonly string[] }
  /** What the backup needs of the target server, measured at backup time (absent in older backups). */
  restoreNeeds?: RestoreNeeds | undefined
  /** SQLite: the absolute path of the file the backup was taken from (absent in older backups). */
  sqlitePath?: string | undefined
  /**
   * How to read the backup file with plain tools, FILE standing for its path (`zstd -dc FILE`;
   * codecs.ts readCommand); absent when no one file is read (an SQLite state at a time).
   */
  readWith?: string | undefined
}

/**
 * The record-and-forget pair for one source, handed to a restore driver: a database it creates
 * beside the target is recorded before CREATE and forgotten after DROP, so that the leftovers of a
 * killed restore are swept by the next run (restore/scratch.ts).
 */
export interface ScratchLedger {
  record(name: string, target: string): Promise<void>
  forget(name: string): Promise<void>
}

export interface DriverTarget {
  source: SourceConfig
  /** The backup being restored. */
  backup: BackupFacts
  /** A database name on the source's server, or a file path (SQLite). */
  target: string
  /**
   * true: the target's current content is replaced (dropped first, or built aside and swapped in).
   * false: the target must be absent or empty (`--into`, drills); it is created when absent.
   */
  replace: boolean
  /** SQLite: restore in place onto DBnn_PATH even when the backup was taken from another file. */
  forcePath?: boolean | undefined
  /** Private 0700 directory for credential files and temporary files. */
  workDir: string
  /**
   * Where a database created beside the target (staged copy, old content) is recorded before it
   * is created and forgotten once dropped: the next run sweeps a killed restore's.
   */
  scratch?: ScratchLedger | undefined
  /**
   * A restore to a time (MySQL/MariaDB): after the base is loaded into `into` (the copy beside the
   * target, or the new target) and before the check and the swap, rolls it forward. Rejects when
   * it fails; the driver then removes what it loaded, so the target is as it was. Absent: none.
   */
  rollForward?: RollForward | undefined
  /** Where a driver's warnings go (the restore's log): one line each. Absent: nowhere. */
  warn?: ((line: string) => void) | undefined
}

/** Rolls a loaded database forward (binlog replay); `workDir` is the restore's private directory. */
export type RollForward = (into: string, workDir: string, signal: AbortSignal) => Promise<void>

/** The decompressed content of a proven backup, streamed. */
export interface BackupContent {
  /** The decompressed bytes. Fails (emits 'error') when the file cannot be read or decompressed. */
  stream: Readable
  /** After `stream` was read to its end: throws when the bytes were not the manifest's. */
  assertComplete(): void
  /**
   * Content proven as it is read (for a driver that `loadsAside`): resolves, once the read ended,
   * with the refusal (VERIFY_FAILED) when the backup is not the manifest's — its file or its
   * content sha256 or size differ, it does not decompress, its end-of-dump marker is missing — and
   * undefined when it is. When the loader stopped early, the rest is read first: a load that
   * failed on a damaged backup is reported as the damage. Absent: the backup was proven before.
   */
  verdict?(): Promise<Error | undefined>
  /**
   * The same content as the sections of a dump, to be read in any order and several at once (a
   * MySQL gzip backup written one member per section). When present, the driver reads these and
   * not `stream` (which is then empty); `verdict` covers them all.
   */
  sections?: ContentSections
  /**
   * With `sections`: the same backup opened again as one stream, proven as it is read, for a load
   * by sections that failed, or whose members are not the manifest's, on a file that is (`fileProven`):
   * the failure is the split's, not the backup's, and the driver loads it again the one-client way.
   */
  sequential?(): BackupContent
  /**
   * With `sections`: whether the file as written is the manifest's (its sha256 and size, read to
   * its end). What decides between refusing and loading again on one client: a member table that
   * does not describe a good file is ours to doubt, not the backup.
   */
  fileProven?(): Promise<boolean>
}

/** A dump cut into its head, its tables and its tail (engines/mysql/sections.ts). */
export interface ContentSections {
  /** The head (session settings), read whole: every connection is fed it first. */
  head(): Promise<Buffer>
  /** One section per table, in dump order. */
  tables: readonly ContentSection[]
  /** What follows the tables (routines, events, views, closing settings): loaded after all of them. */
  tail: ContentSection
}

export interface ContentSection {
  /** Bytes of its content: the larger ones are loaded first. */
  size: number
  /** Its content, decompressed; opened once. Fails (emits 'error') when it cannot be read or decompressed. */
  open(): Readable
}

/** A table of what was loaded, counted exactly. */
export interface CountedTable {
  name: string
  rows: number
  /** A partitioned table, counted through its partitions (which are listed too): not added twice to the total. */
  inPartitions?: boolean
}

export interface RestoreDriver {
  /** What the target is, for the confirmation and every message: "database `shop` on db:3306". */
  readonly label: string
  /** Whether the manifest's row counts are exact for this engine (restore/check.ts). */
  readonly exactCounts: boolean
  /**
   * `load` never writes where the target's current content is (a new database beside it, or a
   * target it created and drops on failure), and awaits `content.verdict` before it resolves: the
   * backup may then be proven as it loads, in one read, instead of read once to prove it and once
   * more to load it; and the safety backup waits until what was loaded is proven and checked.
   */
  readonly loadsAside?: boolean
  /** The target's current state. Reads only. */
  inspect(signal: AbortSignal): Promise<TargetState>
  /**
   * Reads only, before the confirmation, the safety backup and the load: rejects, changing nothing,
   * when the target cannot take this backup — what the backup needs of the server
   * (restoreNeeds: MySQL names the setting to change), a target that cannot be replaced at all (an
   * SQLite side file mounted on its own), or a file the backup was not taken from (SQLite, unless
   * `forcePath`). Resolves with lines for the operator. load() checks again what it relies on.
   * Absent: nothing to check.
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

export const RESTORE_TEMP_SUFFIX = '.dbk-restore'

/** `.<name>.dbk-restore` in the same directory: same file system, so the final rename is atomic. */
export function restoreTempPath(path: string): string {
  return join(dirname(path), `.${basename(path)}${RESTORE_TEMP_SUFFIX}`)
}
