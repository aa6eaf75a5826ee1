import type { Connection, RowDataPacket } from 'mysql2/promise'
import type { SourceConfig } from '../../config/types.js'
import { DbkeeperError } from '../../runtime/errors.js'
import type { DatabaseInfo } from '../engine.js'
import { isScratchName } from '../scratch-names.js'
import { SYSTEM_DATABASES } from './args.js'
import { CONSEQUENCE, missingPrivileges } from './privileges.js'
import { fromDriverError, grantHint, ROUTINE_GRANTS } from './errors.js'

const CONNECT_TIMEOUT_MS = 10_000

/**
 * mysql2 is imported on the first connection, not with this module: loading it is ~0.1–0.2 s of
 * CPU, and a backup's probe starts the dump tools' `--version` first so that they run on the other
 * core meanwhile (engine.ts; docs/PERFORMANCE.md, "The serial fixed cost, cut").
 */
let driver: Promise<typeof import('mysql2/promise')> | undefined
function loadDriver(): Promise<typeof import('mysql2/promise')> {
  return (driver ??= import('mysql2/promise').then((m) => m.default))
}

/**
 * Opens a mysql2 connection with the source's credentials. Aborting `signal` destroys it, which
 * fails whatever query is running.
 */
export async function connect(source: SourceConfig, signal: AbortSignal): Promise<Connection> {
  signal.throwIfAborted()
  const mysql = await loadDriver()
  let conn: Connection
  try {
    conn = await mysql.createConnection({
      host: source.host ?? 'localhost',
      port: source.port ?? 3306,
      user: source.user ?? 'root',
      password: source.password?.reveal() ?? '',
      connectTimeout: CONNECT_TIMEOUT_MS,
      // BIGINT counts as numbers (approximate sizes; precision past 2^53 does not matter here).
      supportBigNumbers: false,
    })
  } catch (error) {
    throw fromDriverError(source, error)
  }
  if (signal.aborted) conn.destroy()
  else signal.addEventListener('abort', () => conn.destroy(), { once: true })
  // A server-side idle disconnect later must not crash the process with an unhandled 'error'.
  conn.on('error', () => {})
  return conn
}

export async function serverVersion(conn: Connection): Promise<string> {
  const [rows] = await conn.query<RowDataPacket[]>('SELECT VERSION() AS version')
  return String(rows[0]?.version ?? '')
}

/** Every database the user can see (SHOW DATABASES lists only those it has some privilege on). */
export async function visibleDatabases(conn: Connection): Promise<string[]> {
  const [rows] = await conn.query<RowDataPacket[]>('SHOW DATABASES')
  return rows.map((r) => String(Object.values(r)[0]))
}

/**
 * `ALL` expanded, or each named database confirmed. A name missing from SHOW DATABASES is tried
 * with USE: the server then says whether it does not exist (1049) or the user may not see it (1044).
 */
export async function resolveDatabases(conn: Connection, source: SourceConfig): Promise<string[]> {
  const all = await visibleDatabases(conn)
  // What `ALL` means: every visible database minus the server's own and dbkeeper's scratch ones
  // (a killed drill or restore leaves them; the next run drops them, restore/scratch.ts).
  const visible = all.filter((name) => !SYSTEM_DATABASES.has(name.toLowerCase()) && !isScratchName(name))
  if (source.databases === 'ALL') {
    if (visible.length === 0) {
      throw new DbkeeperError(
        'NOT_FOUND',
        `${source.id}_NAME=ALL found no databases to back up on ${source.host}:${source.port ?? 3306} (system databases are left out)`,
        {
          hint: `create the database, grant ${source.user ?? 'root'} access to it, or name the databases in ${source.id}_NAME`,
        },
      )
    }
    return visible
  }
  for (const name of source.databases) {
    if (all.includes(name)) continue
    try {
      await conn.query(`USE ${(await loadDriver()).escapeId(name, true)}`)
    } catch (error) {
      const mapped = fromDriverError(source, error, name)
      if (mapped.code === 'NOT_FOUND') {
        throw new DbkeeperError(
          'NOT_FOUND',
          `database \`${name}\` named in ${source.id}_NAME does not exist on ${source.host}:${source.port ?? 3306}`,
          {
            hint: `check ${source.id}_NAME (the server has: ${visible.join(', ') || 'no user databases'})`,
            cause: error,
          },
        )
      }
      throw mapped
    }
  }
  return [...source.databases]
}

/** Fails when mysqldump would produce an incomplete dump for lack of a privilege (see privileges.ts). */
export async function checkPrivileges(conn: Connection, source: SourceConfig, database: string): Promise<void> {
  const missing = await missingPrivileges(conn, database)
  if (missing.length === 0) return
  const user = source.user ?? 'root'
  const why = missing
    .map((p) => `${p === 'routines' ? 'no right to read routines' : `no ${p}`}: ${CONSEQUENCE[p]}`)
    .join('; ')
  const schemaGrants = missing.filter((p) => p !== 'routines')
  const hints = [
    ...(schemaGrants.length ? [grantHint(source, database, schemaGrants.join(', '))] : []),
    ...(missing.includes('routines')
      ? [
          `for routines grant one of: ${ROUTINE_GRANTS} to '${user}'@'%' — or set ${source.id}_USER to an account that has it`,
        ]
      : []),
  ]
  throw new DbkeeperError('PRIVILEGE', `user '${user}' lacks privileges on database \`${database}\` (${why})`, {
    hint: hints.join('; '),
  })
}

interface TableRow extends RowDataPacket {
  db: string
  name: string
  table_rows: number | null
  bytes: number | null
}

/** Approximate rows and sizes of the base tables (InnoDB estimates: good for a log line, not exact). */
export async function describeDatabases(conn: Connection, names: string[]): Promise<DatabaseInfo[]> {
  const infos = new Map<string, DatabaseInfo>(names.map((name) => [name, { name, tables: [] }]))
  if (names.length === 0) return []
  const [rows] = await conn.query<TableRow[]>(
    `SELECT TABLE_SCHEMA AS db, TABLE_NAME AS name, TABLE_ROWS AS table_rows, DATA_LENGTH + INDEX_LENGTH AS bytes
       FROM information_schema.TABLES
      WHERE TABLE_TYPE = 'BASE TABLE' AND TABLE_SCHEMA IN (?)
      ORDER BY TABLE_SCHEMA, TABLE_NAME`,
    [names],
  )
  for (const row of rows) {
    infos.get(row.db)?.tables.push({
      name: row.name,
      rows: Number(row.table_rows ?? 0),
      ...(row.bytes === null ? {} : { bytes: Number(row.bytes) }),
    })
  }
  return names.map((name) => infos.get(name)!)
}
