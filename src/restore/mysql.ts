/**
 * Restoring a mysqldump into MySQL/MariaDB. Our dumps hold no CREATE DATABASE or USE (args.ts), so
 * the same file restores into any name. Replacing a database means DROP DATABASE, CREATE DATABASE
 * with its old character set and collation, then replaying the dump: what remains is exactly the
 * backup, not the backup merged with tables created since. MySQL has no transactional DDL, so a
 * failure part-way leaves part of the dump applied; the safety backup taken first is the way back.
 */
import mysql, { type Connection, type RowDataPacket } from 'mysql2/promise'
import { removeDefaultsFile, writeDefaultsFile } from '../engines/mysql/defaults-file.js'
import { connect } from '../engines/mysql/probe.js'
import { fromDriverError } from '../engines/mysql/errors.js'
import { childEnv } from '../engines/subprocess.js'
import { DbkeeperError } from '../runtime/errors.js'
import { scrubSecrets } from '../runtime/secrets.js'
import type { CountedTable } from './check.js'
import type { BackupContent } from './content.js'
import type { DriverTarget, RestoreDriver, TargetState } from './driver.js'
import { clientArgs, findClient, judgeClient, runClient } from './mysql-client.js'

/** How long DROP DATABASE waits for a client's metadata lock before we say "in use" (MariaDB's default is a year). */
const LOCK_WAIT_SECONDS = 30

export class MysqlDriver implements RestoreDriver {
  readonly exactCounts = false
  readonly label: string

  constructor(private readonly t: DriverTarget) {
    this.label = `database \`${t.target}\` on ${t.source.host ?? 'localhost'}:${t.source.port ?? 3306}`
  }

  async inspect(signal: AbortSignal): Promise<TargetState> {
    return this.#withConn(signal, async (conn) => {
      if (!(await charsetOf(conn, this.t.target))) return { exists: false, empty: true }
      const [rows] = await conn.query<RowDataPacket[]>(
        `SELECT (SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = ?)
              + (SELECT COUNT(*) FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = ?)
              + (SELECT COUNT(*) FROM information_schema.EVENTS WHERE EVENT_SCHEMA = ?) AS n`, [this.t.target, this.t.target, this.t.target])
      return { exists: true, empty: Number(rows[0]?.n ?? 0) === 0 }
    })
  }

  async load(content: BackupContent, state: TargetState, signal: AbortSignal): Promise<void> {
    // Found before anything is dropped: a missing client must not leave the database gone.
    const command = await findClient(this.t.manifest.tool.version, signal)
    const defaults = writeDefaultsFile(this.t.workDir, this.t.source)
    try {
      await this.#recreate(state, signal)
      // HOME points at the private work directory so that no ~/.my.cnf overrides the credentials.
      const exit = await runClient(command, clientArgs(defaults, this.t.target), childEnv({ HOME: this.t.workDir }), content.stream, signal)
      const failed = judgeClient(this.t.source, command, exit, this.label, `${this.label} now holds part of the backup`)
      if (failed) throw failed
      content.assertComplete()
    } finally {
      await removeDefaultsFile(defaults)
    }
  }

  /** Replace: drop and create again with the same defaults. A new target: create. */
  async #recreate(state: TargetState, signal: AbortSignal): Promise<void> {
    const db = mysql.escapeId(this.t.target, true)
    await this.#withConn(signal, async (conn) => {
      // The dump does not carry the database's defaults (no CREATE DATABASE): keep the target's,
      // else take the backed-up database's when it is on this server, else utf8mb4.
      const charset = (await charsetOf(conn, this.t.target)) ?? (await charsetOf(conn, this.t.manifest.database)) ?? { cs: 'utf8mb4', coll: undefined }
      if (state.exists && this.t.replace) {
        await conn.query(`SET SESSION lock_wait_timeout = ${LOCK_WAIT_SECONDS}`)
        await conn.query(`DROP DATABASE ${db}`).catch((error: { errno?: number }) => {
          if (error.errno !== 1205) throw error
          throw new DbkeeperError('RESTORE_FAILED', `${this.label} is in use: DROP DATABASE waited ${LOCK_WAIT_SECONDS} s for another connection's lock; nothing was changed`, {
            hint: 'stop the application (and anything else connected to the database), then restore again', cause: error,
          })
        })
      }
      if (!state.exists || this.t.replace) {
        await conn.query(`CREATE DATABASE ${db} CHARACTER SET ${charset.cs}${charset.coll ? ` COLLATE ${charset.coll}` : ''}`)
      }
    })
  }

  async count(signal: AbortSignal): Promise<{ tables: CountedTable[]; problems: string[] }> {
    return this.#withConn(signal, async (conn) => {
      const [names] = await conn.query<RowDataPacket[]>(
        "SELECT TABLE_NAME AS name FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_TYPE = 'BASE TABLE' ORDER BY TABLE_NAME", [this.t.target])
      const tables: CountedTable[] = []
      for (const { name } of names as { name: string }[]) {
        const [rows] = await conn.query<RowDataPacket[]>(`SELECT COUNT(*) AS n FROM ${mysql.escapeId(this.t.target, true)}.${mysql.escapeId(name, true)}`)
        tables.push({ name, rows: Number(rows[0]?.n ?? 0) })
      }
      return { tables, problems: [] }
    })
  }

  async discard(signal: AbortSignal): Promise<void> {
    await this.#withConn(signal, (conn) => conn.query(`DROP DATABASE IF EXISTS ${mysql.escapeId(this.t.target, true)}`))
  }

  async #withConn<T>(signal: AbortSignal, fn: (conn: Connection) => Promise<T>): Promise<T> {
    const conn = await connect(this.t.source, signal)
    try {
      return await fn(conn)
    } catch (error) {
      throw restoreError(this.t, this.label, error)
    } finally {
      conn.destroy()
    }
  }
}

/** A server's refusal in the restore's terms; network and login problems as for a dump. */
function restoreError(t: DriverTarget, label: string, error: unknown): DbkeeperError {
  if (error instanceof DbkeeperError) return error
  const e = error as { errno?: number; sqlState?: string; message?: string }
  if (e.errno === 1044 || e.errno === 1142 || e.errno === 1227) {
    return new DbkeeperError('PRIVILEGE', `user '${t.source.user ?? 'root'}' may not restore into ${label}: ${scrubSecrets(e.message ?? '')}`, {
      hint: `restoring needs CREATE, DROP and write privileges on the database (GRANT ALL ON \`${t.target}\`.* …): run the restore with ${t.source.id}_USER set to such a user (docs/RESTORE.md)`,
      cause: error,
    })
  }
  if (typeof e.sqlState === 'string' && e.errno !== undefined) {
    return new DbkeeperError('RESTORE_FAILED', `${label}: the server refused: ${scrubSecrets(e.message ?? '')}`, { hint: 'see the server log', cause: error })
  }
  return fromDriverError(t.source, error, t.target)
}

/** The database's default character set and collation, or undefined when it does not exist. */
async function charsetOf(conn: Connection, database: string): Promise<{ cs: string; coll: string | undefined } | undefined> {
  const [rows] = await conn.query<RowDataPacket[]>(
    'SELECT DEFAULT_CHARACTER_SET_NAME AS cs, DEFAULT_COLLATION_NAME AS coll FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?', [database])
  const row = rows[0]
  if (!row) return undefined
  // Names from the server's own catalogue; checked anyway before they go into a statement.
  const safe = (v: unknown) => (typeof v === 'string' && /^\w+$/.test(v) ? v : undefined)
  return { cs: safe(row.cs) ?? 'utf8mb4', coll: safe(row.coll) }
}
