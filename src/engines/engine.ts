import type { Readable } from 'node:stream'
import type { EngineKind } from '../config/types.js'

export interface TableInfo {
  name: string
  /** Approximate row count (InnoDB statistics, pg_class.reltuples) or exact (SQLite). */
  rows: number
  /** Approximate data size in bytes, when the server reports it. */
  bytes?: number
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
  /** Starts a consistent dump of one database. */
  dump(database: string, signal: AbortSignal): DumpProcess
  /**
   * Checks the raw dump content: its first bytes and its last bytes (at most 64 KiB each).
   * Returns undefined when complete, else the reason (e.g. "the '-- Dump completed' marker is missing").
   */
  checkContent(head: Buffer, tail: Buffer): string | undefined
  /**
   * Backups this source takes besides its databases, each filed under its own database name
   * (PostgreSQL's roles and tablespaces from `pg_dumpall --globals-only`). Absent: none.
   */
  companions?(): { database: string; engine: Engine }[]
}
