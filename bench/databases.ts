/**
 * The bench's databases: a private MariaDB (test/support/servers.ts, in a temp dir, on a free
 * port) loaded with LOAD DATA from generated TSV files, and an SQLite file with the same rows.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { startMariadb } from '../test/support/mariadb-server.js'
import { mysqlAdmin, type RunningServer } from '../test/support/servers.js'
import { SHAPES, tsvChunks, type Shape } from './generate.js'

export const BENCH_DB = 'bench'
/** TSV written per LOAD DATA statement: big enough to be fast, small enough for any /tmp. */
const LOAD_CHUNK = 64 * 1024 * 1024

export interface BenchMariadb {
  server: RunningServer
  database: string
}

/** What every bench's dbkeeper run gets: this PATH and HOME, warn-level JSON logs. */
function runEnv(): Record<string, string> {
  return { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/root', LOG_LEVEL: 'warn', LOG_FORMAT: 'json' }
}

/**
 * The environment of a dbkeeper run on the bench's MariaDB server (`database` on it; gzip,
 * warn-level JSON logs, the label `bench`), for the benches that compare runs of it.
 */
export function mariadbRunEnv(server: RunningServer, database: string, backupDir: string): Record<string, string> {
  const { info } = server
  return {
    ...runEnv(),
    BACKUP_DIR: backupDir,
    COMPRESSION: 'gzip',
    DB01_TYPE: 'mariadb',
    DB01_HOST: info.host,
    DB01_PORT: String(info.port),
    DB01_USER: info.user,
    ...(info.password ? { DB01_PASS: info.password } : {}),
    DB01_NAME: database,
    DB01_LABEL: 'bench',
  }
}

/** The environment of a dbkeeper run backing up the SQLite file `path` (label `bench`); BACKUP_DIR is the caller's. */
export function sqliteRunEnv(path: string): Record<string, string> {
  return { ...runEnv(), DB01_TYPE: 'sqlite', DB01_PATH: path, DB01_LABEL: 'bench' }
}

/**
 * Starts MariaDB and loads `bytes` of rows (as TSV; mysqldump's SQL comes out a few percent
 * larger). The test server's tiny buffer pool and redo log would make loading crawl; both are
 * resized online (MariaDB ≥ 10.9 resizes the redo log with SET GLOBAL).
 */
export async function createMariadb(
  bytes: number,
  log: (line: string) => void,
  shape: Shape = 'text',
  opts: { binlog?: boolean } = {},
): Promise<BenchMariadb> {
  const tables = SHAPES[shape]
  // With a binlog (point-in-time benches) the load itself is not logged: only what follows the base matters.
  const server = await startMariadb(opts.binlog ? { binlog: {} } : {})
  const tsvDir = await mkdtemp(join(tmpdir(), 'dbk-bench-tsv-'))
  const conn = await mysqlAdmin(server.info)
  try {
    await conn.query('SET GLOBAL innodb_buffer_pool_size = 1073741824')
    await conn
      .query('SET GLOBAL innodb_log_file_size = 536870912')
      .catch(() => log('  (redo log not resizable online; loading will be slower)'))
    if (opts.binlog) await conn.query('SET SESSION sql_log_bin = 0')
    await conn.query(`CREATE DATABASE ${BENCH_DB}`)
    await conn.query(`USE ${BENCH_DB}`)
    for (const table of tables) {
      await conn.query(table.ddl)
      let n = 0
      for (const tsv of tsvChunks(table, bytes / tables.length, LOAD_CHUNK)) {
        const file = join(tsvDir, `${table.name}-${n++}.tsv`)
        await writeFile(file, tsv)
        await conn.query(`LOAD DATA INFILE ${conn.escape(file)} INTO TABLE ${table.name}`)
        await rm(file)
      }
      log(`  ${table.name}: ${n} chunk(s) loaded`)
    }
    // Written pages reach the data files before timing starts, so the first run is not penalised.
    await conn.query('SET GLOBAL innodb_max_dirty_pages_pct = 0')
    await waitForCleanPool(conn)
    return { server, database: BENCH_DB }
  } catch (error) {
    await server.stop()
    throw error
  } finally {
    await conn.end().catch(() => undefined)
    await rm(tsvDir, { recursive: true, force: true })
  }
}

async function waitForCleanPool(conn: Awaited<ReturnType<typeof mysqlAdmin>>): Promise<void> {
  for (let i = 0; i < 600; i++) {
    const [rows] = await conn.query("SHOW GLOBAL STATUS LIKE 'Innodb_buffer_pool_pages_dirty'")
    if (Number((rows as { Value: string }[])[0]?.Value ?? 0) < 100) return
    await new Promise((r) => setTimeout(r, 500))
  }
}

/** An SQLite database (WAL, like a live application's) holding `bytes` of the same rows. */
export function createSqlite(path: string, bytes: number, shape: Shape = 'text'): void {
  const tables = SHAPES[shape]
  const db = new Database(path)
  try {
    db.pragma('journal_mode = WAL')
    db.pragma('synchronous = OFF')
    for (const table of tables) {
      db.exec(table.ddl.replace(/\s*ENGINE=InnoDB/, ''))
      let insert: Database.Statement | undefined
      for (const tsv of tsvChunks(table, bytes / tables.length, LOAD_CHUNK)) {
        db.transaction(() => {
          for (const line of tsv.split('\n')) {
            if (!line) continue
            const values = line.split('\t')
            insert ??= db.prepare(`INSERT INTO ${table.name} VALUES (${values.map(() => '?').join(',')})`)
            insert.run(values)
          }
        })()
      }
    }
    db.pragma('wal_checkpoint(TRUNCATE)')
  } finally {
    db.close()
  }
}
