/**
 * The engines, one folder each, and the one place that names them. Every engine folder holds the
 * whole life of its engine, in files named by role — the same name for the same role everywhere:
 *
 *   role                mysql/               postgres/            sqlite/
 *   the Engine (dump,   engine.ts            engine.ts            engine.ts (+ snapshot-child.ts)
 *     content check)
 *   probe               probe.ts             probe.ts             (in engine.ts)
 *   tool options        args.ts              args.ts              —
 *   tool version        version.ts           version.ts           —
 *   error judging       errors.ts            errors.ts            (in engine.ts, child.ts)
 *   credential files    credentials.ts       credentials.ts       — (no credentials)
 *   restore needs       needs.ts (measured),  needs.ts             —
 *                       needs-check.ts (target)
 *   client replaying    client.ts            client.ts            —
 *     a dump
 *   restore driver      restore-driver.ts    restore-driver.ts    restore-driver.ts (+ replace.ts,
 *                       (+ swap.ts, definitions.ts, rewrite.ts)   path.ts, inspect-child.ts)
 *   drill re-dump       redump.ts            redump.ts            redump.ts
 *   PITR: archiver,     binlog-position.ts   — (not supported)    archiver.ts (Litestream,
 *     archive read back,  (a dump's coords),                      supervised), archive.ts,
 *     preflight, replay   binlog-preflight.ts                      litestream.ts
 *                         binlog-archiver.ts,
 *                         binlog-check.ts, archive.ts
 *                         (+ binlog-archive.ts, binlog-window.ts),
 *                         binlog-replay.ts
 *
 * Beside them, engine-neutral: engine.ts (the Engine contract), restore-driver.ts (the RestoreDriver
 * contract and what a driver is given), redump.ts (the re-dump contract), subprocess.ts (THE child
 * process runner), supervisor.ts (a long-lived child kept running), archive.ts (the PITR
 * contracts: Archiver, Archive), scratch-names.ts. Nothing outside engines/ needs to import an engine folder:
 * this file answers for all of them.
 */
import { join } from 'node:path'
import type { Readable } from 'node:stream'
import type { EngineKind, SourceConfig } from '../config/types.js'
import { DbkeeperError } from '../runtime/errors.js'
import type { Logger } from '../runtime/logger.js'
import type { Archive, Archiver } from './archive.js'
import type { Engine, ProbeResult } from './engine.js'
import { MysqlArchive } from './mysql/archive.js'
import { startBinlogArchiver } from './mysql/binlog-archiver.js'
import { checkBinlogArchiving } from './mysql/binlog-check.js'
import { MysqlEngine } from './mysql/engine.js'
import { redumpMysql } from './mysql/redump.js'
import { mysqlDatabaseExists, MysqlDriver, mysqlDropDatabase } from './mysql/restore-driver.js'
import { GLOBALS_DATABASE } from './postgres/args.js'
import { dropDatabase } from './postgres/client.js'
import { PostgresEngine } from './postgres/engine.js'
import { redumpPostgres } from './postgres/redump.js'
import { postgresDatabaseExists, PostgresDriver } from './postgres/restore-driver.js'
import type { Redump } from './redump.js'
import type { BackupFacts, DriverTarget, RestoreDriver } from './restore-driver.js'
import { SqliteArchive, type ArchiveKeys } from './sqlite/archive.js'
import { checkSqliteArchiving, startSqliteArchiver, type ArchiveOffsite } from './sqlite/archiver.js'
import { SqliteEngine } from './sqlite/engine.js'
import { redumpSqlite } from './sqlite/redump.js'
import { SqliteDriver } from './sqlite/restore-driver.js'

export type { BinlogPosition, Engine, DumpProcess, DumpResult, ProbeResult, DatabaseInfo, TableInfo } from './engine.js'
export type {
  BackupContent,
  BackupFacts,
  CountedTable,
  DriverTarget,
  RestoreDriver,
  RollForward,
  ScratchLedger,
  TargetState,
} from './restore-driver.js'
export type { Redumped } from './redump.js'
export type { Archive, ArchiveRange, ArchiveState, Archiver, Materialized } from './archive.js'
export type { ArchiveOffsite } from './sqlite/archiver.js'
export type { ArchiveKeys } from './sqlite/archive.js'
export { describeLag, describeRanges, rangeAt, rangeOrRefuse } from './archive.js'
export type { BinlogProblem } from './mysql/binlog-preflight.js'
/** A DBnn_PITR MySQL/MariaDB source's server, judged for binlog archiving; and the error its problems make. */
export { binlogProblemsError, checkBinlogSettings } from './mysql/binlog-preflight.js'
/** A MySQL source's binlog archive on the volume, as files and proofs (daemon/binlog-offsite.ts ships it). */
export { localBinlogs, readIndex as readBinlogIndex } from './mysql/binlog-archive.js'
/** Retention of a MySQL source's binlog archive (retention/binlog.ts): its runs, and the files no kept base needs removed. */
export { readBinlogArchive, removeBinlogs } from './mysql/binlog-archive.js'
/** A MySQL/MariaDB source's binlog archive read back, its window, and its replay onto a loaded base (restore/at-time-mysql.ts). */
export { MysqlArchive } from './mysql/archive.js'
export {
  binlogRanges,
  binlogsNotNeeded,
  reachableRanges,
  replayFrom,
  type BinlogBase,
  type ReplayPlan,
} from './mysql/binlog-window.js'
export { checkMysqlReplay, replayBinlog } from './mysql/binlog-replay.js'
/** PostgreSQL's roles and tablespaces are backed up under this database name (never drilled, never `--into`). */
export { GLOBALS_DATABASE }

/** The engine for one configured source. `workDir` is a private directory for temporary files. */
export function createEngine(source: SourceConfig, workDir: string): Engine {
  switch (source.engine) {
    case 'mysql':
      return new MysqlEngine(source, workDir)
    case 'postgres':
      return new PostgresEngine(source, workDir)
    case 'sqlite':
      return new SqliteEngine(source, workDir)
  }
}

/** How a backup's raw content is proven: its edges, and for some formats a read through the whole. */
export interface BackupReader {
  /** Undefined when complete, else the reason (end marker, file magic). */
  checkContent(head: Buffer, tail: Buffer): string | undefined
  /** A custom-format archive: pg_restore reads it all. Undefined when good, else the reason. Absent: the edges prove it. */
  verifyContent?(raw: Readable, signal?: AbortSignal): Promise<string | undefined>
}

/**
 * The reader of a backup of this source as it was taken — by its format and database, never by
 * today's configuration (a source switched to DBnn_PG_FORMAT=custom still reads its plain dumps).
 */
export function readerForBackup(
  source: SourceConfig,
  backup: Pick<BackupFacts, 'database' | 'format'>,
  workDir: string,
): BackupReader {
  if (source.engine !== 'postgres') {
    const engine = createEngine(source, workDir)
    return { checkContent: (h, t) => engine.checkContent(h, t) }
  }
  const engine = new PostgresEngine({ ...source, pgFormat: backup.format === 'dump' ? 'custom' : 'plain' }, workDir)
  if (backup.database === GLOBALS_DATABASE) return { checkContent: (h, t) => engine.checkGlobalsContent(h, t) }
  return {
    checkContent: (h, t) => engine.checkContent(h, t),
    ...(backup.format === 'dump'
      ? { verifyContent: (raw: Readable, signal?: AbortSignal) => engine.verifyContent(raw, signal) }
      : {}),
  }
}

/**
 * The engine, probe and database name of a backup of exactly `database` of this source as it is
 * now (the safety backup before a restore): the source's file (SQLite, filed under its configured
 * name), PostgreSQL's roles and tablespaces, or one database on the server.
 */
export async function engineForDatabase(
  source: SourceConfig,
  database: string,
  workDir: string,
  signal: AbortSignal,
): Promise<{ engine: Engine; probe: ProbeResult; database: string }> {
  const file = source.engine === 'sqlite'
  const globals = source.engine === 'postgres' && database === GLOBALS_DATABASE
  // Probe exactly the target: the source may be configured with other databases, or ALL.
  const engine = createEngine(file || globals ? source : { ...source, databases: [database] }, workDir)
  const probe = await engine.probe(signal)
  return {
    engine: globals && engine instanceof PostgresEngine ? engine.globalsEngine() : engine,
    probe,
    database: file ? (probe.databases[0]?.name ?? database) : database,
  }
}

/** What restore/, the drills and the CLI ask of an engine kind without naming it. */
export interface RestoreKind {
  createDriver(t: DriverTarget): RestoreDriver
  redump: Redump
  /** The backup is a database on a server: `--into` another name, scratch databases recorded and swept. Else a file. */
  readonly onServer: boolean
  /** Where a restore in place goes: the source's file, or the backup's database. */
  inPlaceTarget(source: SourceConfig, database: string): string
  /** Where a drill restores, under the scratch name `name`: a database, or a file in `workDir`. */
  scratchTarget(name: string, workDir: string): string
  /** Server engines: what the sweep of leftover scratch databases needs (restore/scratch.ts). */
  server?: {
    defaultPort: number
    exists(source: SourceConfig, name: string, signal: AbortSignal): Promise<boolean>
    drop(source: SourceConfig, name: string, signal: AbortSignal): Promise<void>
    /** How to put back the old content a restore killed between its renames left in `name`. */
    renameBack(name: string, target: string): string
  }
}

const onServer = {
  onServer: true,
  inPlaceTarget: (_source: SourceConfig, database: string) => database,
  scratchTarget: (name: string) => name,
} as const

const RESTORE_KINDS: Record<EngineKind, RestoreKind> = {
  mysql: {
    ...onServer,
    createDriver: (t) => new MysqlDriver(t),
    redump: redumpMysql,
    server: {
      defaultPort: 3306,
      exists: mysqlDatabaseExists,
      drop: mysqlDropDatabase,
      renameBack: () => 'create the target and move its tables back',
    },
  },
  postgres: {
    ...onServer,
    createDriver: (t) => new PostgresDriver(t),
    redump: redumpPostgres,
    server: {
      defaultPort: 5432,
      exists: postgresDatabaseExists,
      drop: dropDatabase,
      renameBack: (name, target) => `ALTER DATABASE "${name}" RENAME TO "${target}"`,
    },
  },
  sqlite: {
    createDriver: (t) => new SqliteDriver(t),
    redump: redumpSqlite,
    onServer: false,
    inPlaceTarget: (source) => source.path!,
    scratchTarget: (name, workDir) => join(workDir, `${name}.db`),
  },
}

export function restoreKind(kind: EngineKind): RestoreKind {
  return RESTORE_KINDS[kind]
}

/** The restore driver of a backup's engine (the contract is restore-driver.ts). */
export function createRestoreDriver(kind: EngineKind, t: DriverTarget): RestoreDriver {
  return RESTORE_KINDS[kind].createDriver(t)
}

function noArchive(source: SourceConfig): DbkeeperError {
  return new DbkeeperError(
    'USAGE',
    `${source.label} (${source.id}) is a ${source.engine} source: point-in-time recovery works for sqlite and mysql sources only`,
    { hint: 'restore a scheduled backup instead (dbkeeper restore latest --source …)' },
  )
}

/**
 * The continuous archive of one database of a DBnn_PITR source, at `dir` (catalog/naming.ts
 * archiveDir; MySQL/MariaDB: the source's one binlog archive, binlogArchiveDir), read back: its
 * ranges, its lag, the database as of a time.
 */
export function createArchive(source: SourceConfig, dir: string, keys?: ArchiveKeys): Archive {
  if (source.engine === 'mysql') return new MysqlArchive(dir)
  if (source.engine !== 'sqlite') throw noArchive(source)
  return new SqliteArchive(source.path!, dir, keys)
}

/**
 * Starts the supervised archiver of a DBnn_PITR source, archiving into `dir`: for SQLite one per
 * database (`database`, catalog/naming.ts archiveDir), for MySQL/MariaDB one per source, its
 * binlog (`database` unused; binlogArchiveDir).
 */
export function startArchiver(opts: {
  source: SourceConfig
  database: string
  dir: string
  windowMs: number
  logger: Logger
  backoff?: { initialMs?: number; maxMs?: number; resetAfterMs?: number }
  offsite?: ArchiveOffsite
  recipients?: readonly string[]
}): Promise<Archiver> {
  if (opts.source.engine === 'mysql')
    return startBinlogArchiver({
      source: opts.source,
      dir: opts.dir,
      logger: opts.logger,
      ...(opts.backoff ? { backoff: opts.backoff } : {}),
    })
  if (opts.source.engine !== 'sqlite') throw noArchive(opts.source)
  return startSqliteArchiver(opts)
}

/**
 * `dbkeeper check` of a DBnn_PITR source's archiving: its tool runs, and may write where it must;
 * for MySQL/MariaDB the server keeps a binlog our user may stream for `windowMs` (each problem
 * named with its server variable or GRANT).
 */
export function checkArchiving(source: SourceConfig, windowMs: number, signal?: AbortSignal): Promise<string> {
  if (source.engine === 'mysql') return checkBinlogArchiving(source, windowMs, signal)
  if (source.engine !== 'sqlite') throw noArchive(source)
  return checkSqliteArchiving(source)
}
