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
 *
 * An engine's folder is loaded by the first call that needs it (`await import()` below), not by
 * importing this file: a run loads only the engines of the sources it touches, so a SQLite backup
 * never loads mysql2 nor the MySQL and PostgreSQL code (docs/PERFORMANCE.md, "Fixed cost of a
 * run"). So every call that reaches into a folder returns a promise. Loaded up front, being small
 * and read whatever the engines: the MySQL binlog archive's files and window (binlog-archive.ts,
 * binlog-window.ts, archive.ts: node:fs only; every backup's retention reads them) and PostgreSQL's
 * GLOBALS_DATABASE (a constant, postgres/args.ts).
 */
import { join } from 'node:path'
import type { Readable } from 'node:stream'
import type { EngineKind, SourceConfig } from '../config/types.js'
import { DbkeeperError } from '../runtime/errors.js'
import type { FileReads } from '../runtime/file-reads.js'
import type { Logger } from '../runtime/logger.js'
import type { Archive, Archiver } from './archive.js'
import type { Engine, ProbeResult } from './engine.js'
import { MysqlArchive } from './mysql/archive.js'
import type { ReplayRequest } from './mysql/binlog-replay.js'
import { GLOBALS_DATABASE } from './postgres/args.js'
import type { Redump } from './redump.js'
import type { BackupFacts, DriverTarget, RestoreDriver } from './restore-driver.js'
import type { ArchiveKeys } from './sqlite/archive.js'
import type { ArchiveOffsite } from './sqlite/archiver.js'

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
export type { ReplayRequest } from './mysql/binlog-replay.js'

/** A MySQL/MariaDB replay of a binlog is possible here: the tool runs, our user may replay. */
export async function checkMysqlReplay(source: SourceConfig, signal: AbortSignal): Promise<void> {
  return (await import('./mysql/binlog-replay.js')).checkMysqlReplay(source, signal)
}

/** A binlog replayed onto a loaded base, up to a time (restore/at-time-mysql.ts). */
export async function replayBinlog(r: ReplayRequest): Promise<void> {
  return (await import('./mysql/binlog-replay.js')).replayBinlog(r)
}
/** PostgreSQL's roles and tablespaces are backed up under this database name (never drilled, never `--into`). */
export { GLOBALS_DATABASE }

/** The engine for one configured source. `workDir` is a private directory for temporary files. */
export async function createEngine(source: SourceConfig, workDir: string): Promise<Engine> {
  switch (source.engine) {
    case 'mysql':
      return new (await import('./mysql/engine.js')).MysqlEngine(source, workDir)
    case 'postgres':
      return new (await import('./postgres/engine.js')).PostgresEngine(source, workDir)
    case 'sqlite':
      return new (await import('./sqlite/engine.js')).SqliteEngine(source, workDir)
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
export async function readerForBackup(
  source: SourceConfig,
  backup: Pick<BackupFacts, 'database' | 'format'>,
  workDir: string,
): Promise<BackupReader> {
  if (source.engine !== 'postgres') {
    const engine = await createEngine(source, workDir)
    return { checkContent: (h, t) => engine.checkContent(h, t) }
  }
  const { PostgresEngine } = await import('./postgres/engine.js')
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
  const engine = await createEngine(file || globals ? source : { ...source, databases: [database] }, workDir)
  const probe = await engine.probe(signal)
  const { PostgresEngine } = globals ? await import('./postgres/engine.js') : { PostgresEngine: undefined }
  return {
    engine: PostgresEngine && engine instanceof PostgresEngine ? engine.globalsEngine() : engine,
    probe,
    database: file ? (probe.databases[0]?.name ?? database) : database,
  }
}

/** What restore/, the drills and the CLI ask of an engine kind without naming it. */
export interface RestoreKind {
  createDriver(t: DriverTarget): Promise<RestoreDriver>
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
    createDriver: async (t) => new (await import('./mysql/restore-driver.js')).MysqlDriver(t),
    redump: async (a) => (await import('./mysql/redump.js')).redumpMysql(a),
    server: {
      defaultPort: 3306,
      exists: async (source, name, signal) =>
        (await import('./mysql/restore-driver.js')).mysqlDatabaseExists(source, name, signal),
      drop: async (source, name, signal) =>
        (await import('./mysql/restore-driver.js')).mysqlDropDatabase(source, name, signal),
      renameBack: () => 'create the target and move its tables back',
    },
  },
  postgres: {
    ...onServer,
    createDriver: async (t) => new (await import('./postgres/restore-driver.js')).PostgresDriver(t),
    redump: async (a) => (await import('./postgres/redump.js')).redumpPostgres(a),
    server: {
      defaultPort: 5432,
      exists: async (source, name, signal) =>
        (await import('./postgres/restore-driver.js')).postgresDatabaseExists(source, name, signal),
      drop: async (source, name, signal) => (await import('./postgres/client.js')).dropDatabase(source, name, signal),
      renameBack: (name, target) => `ALTER DATABASE "${name}" RENAME TO "${target}"`,
    },
  },
  sqlite: {
    createDriver: async (t) => new (await import('./sqlite/restore-driver.js')).SqliteDriver(t),
    redump: async (a) => (await import('./sqlite/redump.js')).redumpSqlite(a),
    onServer: false,
    inPlaceTarget: (source) => source.path!,
    scratchTarget: (name, workDir) => join(workDir, `${name}.db`),
  },
}

export function restoreKind(kind: EngineKind): RestoreKind {
  return RESTORE_KINDS[kind]
}

/** The restore driver of a backup's engine (the contract is restore-driver.ts). */
export function createRestoreDriver(kind: EngineKind, t: DriverTarget): Promise<RestoreDriver> {
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
 * ranges, its lag, the database as of a time. `reads`: how its state is read (runtime/file-reads.ts;
 * fs/promises when not given).
 */
export function createArchive(
  source: SourceConfig,
  dir: string,
  keys?: ArchiveKeys,
  reads?: FileReads,
): Promise<Archive> {
  if (source.engine === 'mysql') return Promise.resolve(new MysqlArchive(dir, reads))
  if (source.engine !== 'sqlite') throw noArchive(source)
  return import('./sqlite/archive.js').then(({ SqliteArchive }) => new SqliteArchive(source.path!, dir, keys, reads))
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
    return import('./mysql/binlog-archiver.js').then(({ startBinlogArchiver }) =>
      startBinlogArchiver({
        source: opts.source,
        dir: opts.dir,
        logger: opts.logger,
        ...(opts.backoff ? { backoff: opts.backoff } : {}),
      }),
    )
  if (opts.source.engine !== 'sqlite') throw noArchive(opts.source)
  return import('./sqlite/archiver.js').then(({ startSqliteArchiver }) => startSqliteArchiver(opts))
}

/**
 * `dbkeeper check` of a DBnn_PITR source's archiving: its tool runs, and may write where it must;
 * for MySQL/MariaDB the server keeps a binlog our user may stream for `windowMs` (each problem
 * named with its server variable or GRANT).
 */
export function checkArchiving(source: SourceConfig, windowMs: number, signal?: AbortSignal): Promise<string> {
  if (source.engine === 'mysql')
    return import('./mysql/binlog-check.js').then(({ checkBinlogArchiving }) =>
      checkBinlogArchiving(source, windowMs, signal),
    )
  if (source.engine !== 'sqlite') throw noArchive(source)
  return import('./sqlite/archiver.js').then(({ checkSqliteArchiving }) => checkSqliteArchiving(source))
}
