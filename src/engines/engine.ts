import type { Readable } from 'node:stream'
import type { EngineKind } from '../config/types.js'

export interface TableInfo {
  name: string
  /** Approximate row count (InnoDB statistics, pg_class.reltuples) or exact (SQLite). */
  rows: number
  /** Approximate data size in bytes, when the server reports it. */
  bytes?: number
}

/**
 * What restoring this backup will need of the target server, measured at backup time and recorded
 * in the manifest (`restoreNeeds`). A restore checks these against the target before it touches
 * anything (raising what the user's rights allow, else refusing with the setting to change); a
 * backup whose own source server could not take it back says so in `warnings`.
 */
export interface RestoreNeeds {
  /** MySQL/MariaDB: bytes of the longest statement in the dump; max_allowed_packet must hold it. */
  longestStatement?: number
  /** PostgreSQL: relations (tables, partitions, indexes, sequences, views…) a restore creates and locks. */
  relations?: number
  /** MySQL/MariaDB: DEFINER accounts of views, routines, triggers and events (`user@host`). */
  definers?: string[]
  /**
   * MySQL/MariaDB: the database's default character set and collation. A dump of one database has
   * no CREATE DATABASE, so a restore where the database no longer exists creates it with these
   * (its routines' parameters and its new tables' columns take them), not the server's default.
   */
  charset?: { characterSet: string; collation: string }
  /** Partitioned tables (their rows live in their partitions). */
  partitioned?: string[]
  /** PostgreSQL: extensions the dump creates (`CREATE EXTENSION`), which the target must have available. */
  extensions?: string[]
  /**
   * PostgreSQL: the encoding and locale the database was created with. A dump does not carry them
   * (pg_dump writes no CREATE DATABASE), so a restore creates its new database with these, not the
   * server's defaults, under which a unique index can fail, bytes change meaning or ORDER BY differs.
   */
  databaseLocale?: DatabaseLocale
  /**
   * Why the source server itself could not take this backup back as it is configured now, each a
   * sentence naming the setting to change ("the longest statement is 20.0 MiB, max_allowed_packet
   * is 16.0 MiB: SET GLOBAL max_allowed_packet = …"). The backup is still proven and kept.
   */
  warnings?: string[]
}

/** The options of `CREATE DATABASE` a PostgreSQL database was made with (pg_database), as named there. */
export interface DatabaseLocale {
  /** `UTF8`, `LATIN1`, `SQL_ASCII`… (pg_encoding_to_char). */
  encoding: string
  lcCollate: string
  lcCtype: string
  /** `libc`, `icu` (PostgreSQL 15+) or `builtin` (17+); absent: libc, the only one before 15. */
  localeProvider?: string
  /** The provider's own locale: ICU_LOCALE for icu, BUILTIN_LOCALE for builtin. */
  providerLocale?: string
  /** ICU_RULES (PostgreSQL 16+), when set. */
  icuRules?: string
}

/**
 * Where a base dump of a point-in-time recovery source stands in the server's binary log: the
 * first event a replay applies on top of the restored dump (`mariadb-binlog --start-position`),
 * and the GTID position it equals. Recorded in the manifest (`binlog`).
 */
export interface BinlogPosition {
  /** The binlog file name, without a directory (`binlog.000042`). */
  file: string
  /** The byte offset in `file` of the first event not in the dump. */
  position: number
  /** MariaDB's GTID position of the same point (`0-1-3`, domains comma-separated); absent when the server has none. */
  gtid?: string
}

/** What the pipeline observed of a dump's raw bytes, for `Engine.restoreNeeds`. */
export interface DumpObservation {
  /** Bytes of the longest statement (only measured when the engine sets `measuresStatements`; meter.ts). */
  longestStatement: number
}

export interface DatabaseInfo {
  name: string
  tables: TableInfo[]
}

export interface ProbeResult {
  /** e.g. "10.11.19-MariaDB" or "15.4" or "3.45.1" (SQLite library). */
  serverVersion: string
  /** The dump tool and its version, e.g. { name: 'mysqldump', version: '10.19 Distrib 10.11.19-MariaDB' }. */
  tool: { name: string; version: string }
  /** The databases this source will dump, resolved (`ALL` expanded, system databases left out). */
  databases: DatabaseInfo[]
}

export interface DumpResult {
  /** The options the tool ran with, without credentials (recorded in the manifest). */
  options: string[]
  /** The last lines of the tool's stderr (warnings), already free of secrets. */
  stderrTail: string
  /** Tables with exact row counts, when the engine knows them after the dump (SQLite). */
  tables?: TableInfo[]
}

/**
 * A running dump: the byte stream and how it ended. Never infer success from `stdout` ending:
 * `done` rejects with a DbkeeperError (code DUMP_FAILED, AUTH, CONNECT, PRIVILEGE, …) when the
 * tool exits non-zero, is killed, or writes an error to stderr. Aborting `signal` kills the tool
 * and rejects `done`.
 */
export interface DumpProcess {
  stdout: Readable
  done: Promise<DumpResult>
}

/** A section of a dump: its session settings, one table (structure, data, triggers), or what follows the tables. */
export type DumpSectionKind = 'head' | 'table' | 'tail'

/**
 * Cuts a dump, as it streams, where its sections begin (the dump starts with a 'head'): each chunk
 * comes back as pieces, in order, a piece marked with the kind of the section it begins. A marker
 * cut by a chunk's end is found with the next chunk: the last bytes of a chunk may come back with
 * the next one, and `end` gives what is held back. A new instance per dump.
 */
export interface DumpSections {
  pieces(chunk: Buffer): DumpPiece[]
  end(): DumpPiece[]
}

export interface DumpPiece {
  bytes: Buffer
  /** The section this piece begins; absent: it continues the one before. */
  starts?: DumpSectionKind
}

/**
 * One database engine. Implementations live in `engines/<kind>/` and never import storage.
 * The password reaches the tool through a 0600 file or the child's environment, never argv.
 */
export interface Engine {
  readonly kind: EngineKind
  /** The raw content type, the first part of the file extension: `sql` (a dump) or `db` (a file). */
  readonly contentExt: 'sql' | 'db' | 'dump'
  /**
   * Connects with the configured credentials and describes the server. Rejects with a
   * DbkeeperError whose code says what is wrong (CONNECT, AUTH, NOT_FOUND, TOOL_MISSING, VERSION)
   * and whose hint names the variable to fix. Safe to call repeatedly.
   */
  probe(signal: AbortSignal): Promise<ProbeResult>
  /**
   * Ends what a probe left running for the dump (SQLite keeps its probe's child for the snapshot).
   * Safe to call at any time, repeatedly. Absent: the engine keeps nothing between calls.
   */
  close?(): Promise<void>
  /** Starts a consistent dump of one database. */
  dump(database: string, signal: AbortSignal): DumpProcess
  /**
   * Checks the raw dump content: its first bytes and its last bytes (at most 64 KiB each).
   * Returns undefined when complete, else the reason (e.g. "the '-- Dump completed' marker is missing").
   */
  checkContent(head: Buffer, tail: Buffer): string | undefined
  /** The pipeline measures the longest statement of the raw dump (statements end in `;` at a line's end). */
  readonly measuresStatements?: boolean
  /**
   * Where the dump's sections begin (DumpSections): the gzip compressor ends a member there, so that
   * a restore may load sections over several connections at once. Absent: one member.
   */
  sections?(): DumpSections
  /**
   * A DBnn_PITR source: where this dump stands in the server's binary log, read from the dump's
   * own first and last bytes (at most 64 KiB each). undefined when the dump does not say. Absent:
   * the engine's dumps carry no log position (SQLite's PITR is Litestream's snapshots).
   */
  binlogPosition?(head: Buffer, tail: Buffer): BinlogPosition | undefined
  /**
   * After a successful dump: what a restore of it will need (recorded in the manifest). Must not
   * throw for a problem of the server's settings: that is a `warnings` entry. Absent: nothing known.
   */
  restoreNeeds?(database: string, observed: DumpObservation, signal: AbortSignal): Promise<RestoreNeeds>
  /**
   * Backups this source takes besides its databases, each filed under its own database name
   * (PostgreSQL's roles and tablespaces from `pg_dumpall --globals-only`). Absent: none.
   */
  companions?(): { database: string; engine: Engine }[]
}
