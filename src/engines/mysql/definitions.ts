/**
 * A database's views, triggers, routines and events as statements that create them again, read
 * with SHOW CREATE … (the server's own text, with the sql_mode, character set and time zone it was
 * created under). The swap (swap.ts) needs them because MySQL cannot move these objects to
 * another database: RENAME TABLE refuses a table with triggers (ERROR 1435), a view cannot change
 * schema (ERROR 1450), and routines and events have no rename across databases at all.
 */
import mysql, { type Connection, type RowDataPacket } from 'mysql2/promise'
import { DbkeeperError } from '../../runtime/errors.js'
import { requalify } from './rewrite.js'

export type DefinitionKind = 'PROCEDURE' | 'FUNCTION' | 'VIEW' | 'TRIGGER' | 'EVENT'

export interface Definition {
  kind: DefinitionKind
  name: string
  /** The CREATE statement, without the database's name before the object's (it is created in the current database). */
  sql: string
  sqlMode?: string
  charset?: string
  collation?: string
  timeZone?: string
}

const id = (name: string) => mysql.escapeId(name, true)

/**
 * Every definition of `database`, in the order they can be created again: routines (views may call
 * functions), views (in an order found by retrying, createAll), triggers by table and action order
 * (which keeps FOLLOWS/PRECEDES order), events. Throws, changing nothing, when a definition cannot
 * be read (SHOW CREATE PROCEDURE gives NULL to a user that neither owns the routine nor may read mysql.proc).
 */
export async function readDefinitions(conn: Connection, database: string): Promise<Definition[]> {
  await conn.query(`USE ${id(database)}`)
  const list = async (sql: string): Promise<{ kind: string; name: string }[]> =>
    (await conn.query<RowDataPacket[]>(sql, [database]))[0].map((r) => ({ kind: String(r.kind), name: String(r.name) }))
  const wanted = [
    ...(await list(
      "SELECT ROUTINE_TYPE AS kind, ROUTINE_NAME AS name FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = ? ORDER BY ROUTINE_TYPE = 'PROCEDURE', ROUTINE_NAME",
    )),
    ...(await list(
      "SELECT 'VIEW' AS kind, TABLE_NAME AS name FROM information_schema.VIEWS WHERE TABLE_SCHEMA = ? ORDER BY TABLE_NAME",
    )),
    ...(await list(`SELECT 'TRIGGER' AS kind, TRIGGER_NAME AS name FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = ?
                    ORDER BY EVENT_OBJECT_TABLE, ACTION_TIMING, EVENT_MANIPULATION, ACTION_ORDER`)),
    ...(await list(
      "SELECT 'EVENT' AS kind, EVENT_NAME AS name FROM information_schema.EVENTS WHERE EVENT_SCHEMA = ? ORDER BY EVENT_NAME",
    )),
  ]
  const out: Definition[] = []
  for (const w of wanted) {
    if (!['PROCEDURE', 'FUNCTION', 'VIEW', 'TRIGGER', 'EVENT'].includes(w.kind)) {
      throw new DbkeeperError(
        'RESTORE_FAILED',
        `\`${database}\` holds a ${w.kind} (${w.name}), which a restore cannot move between databases; nothing was changed`,
        {
          hint: 'restore with --into a new database and move the application there, or load the dump by hand (docs/RESTORE.md)',
        },
      )
    }
    const kind = w.kind as DefinitionKind
    const [rows] = await conn.query<RowDataPacket[]>(`SHOW CREATE ${kind} ${id(w.name)}`)
    const row: Record<string, unknown> = rows[0] ?? {}
    const key = Object.keys(row).find((k) => k.startsWith('Create ') || k === 'SQL Original Statement')
    const sql = key === undefined ? null : (row[key] as string | null)
    if (typeof sql !== 'string' || sql === '') {
      throw new DbkeeperError(
        'PRIVILEGE',
        `the definition of ${kind.toLowerCase()} \`${database}\`.\`${w.name}\` cannot be read (SHOW CREATE ${kind} gives nothing), so it could not be moved; nothing was changed`,
        {
          hint: "restore as a user that may read every routine (SELECT on mysql.proc, or the routines' DEFINER), e.g. one with ALL PRIVILEGES ON *.*",
        },
      )
    }
    const str = (k: string) => (typeof row[k] === 'string' ? row[k] : undefined)
    out.push({
      kind,
      name: w.name,
      sql,
      ...(str('sql_mode') !== undefined ? { sqlMode: str('sql_mode') } : {}),
      ...(str('character_set_client') ? { charset: str('character_set_client') } : {}),
      ...(str('collation_connection') ? { collation: str('collation_connection') } : {}),
      ...(str('time_zone') ? { timeZone: str('time_zone') } : {}),
    })
  }
  return out
}

/** The statement that removes one definition from `database`. */
export function dropStatement(d: Definition, database: string): string {
  return `DROP ${d.kind} IF EXISTS ${id(database)}.${id(d.name)}`
}

/**
 * Creates `defs` in `database`, in their order; views whose dependencies are not there yet are
 * retried until a round creates none. `from` names the database they were read from: a view the
 * server printed with that name inside it (see rewrite.ts) is given `database` instead.
 * `created` receives each one as it is created, for the caller's rollback.
 */
export async function createAll(
  conn: Connection,
  defs: readonly Definition[],
  database: string,
  from: string,
  created: Definition[],
): Promise<void> {
  await conn.query(`USE ${id(database)}`)
  const [[initial]] = await conn.query<RowDataPacket[]>('SELECT @@SESSION.sql_mode AS m')
  let pending = [...defs]
  while (pending.length > 0) {
    const failed: { def: Definition; error: unknown }[] = []
    for (const def of pending) {
      try {
        await createOne(conn, def, database, from, String(initial?.m ?? ''))
        created.push(def)
      } catch (error) {
        // A view on a view not created yet: ERROR 1146 (no such table); retried next round.
        if (def.kind !== 'VIEW' || (error as { errno?: number }).errno !== 1146) throw error
        failed.push({ def, error })
      }
    }
    if (failed.length === pending.length) throw failed[0]!.error
    pending = failed.map((f) => f.def)
  }
  await conn.query('SET NAMES utf8mb4')
}

async function createOne(
  conn: Connection,
  def: Definition,
  database: string,
  from: string,
  sqlMode: string,
): Promise<void> {
  const sql = def.kind === 'VIEW' ? requalify(def.sql, from, database) : def.sql
  // The connection sends UTF-8: the object's own client character set is kept when the text
  // means the same in it (a utf8 flavour, or plain ASCII), else utf8mb4 keeps the text right.
  const sameBytes = def.charset !== undefined && (def.charset.startsWith('utf8') || !/[^\t\n\r -~]/.test(sql))
  const settings = [
    `sql_mode = ${mysql.escape(def.sqlMode ?? sqlMode)}`,
    ...(sameBytes ? [`character_set_client = ${mysql.escape(def.charset)}`] : ['character_set_client = utf8mb4']),
    ...(sameBytes && def.collation
      ? [`collation_connection = ${mysql.escape(def.collation)}`]
      : ['collation_connection = utf8mb4_general_ci']),
    ...(def.timeZone ? [`time_zone = ${mysql.escape(def.timeZone)}`] : []),
  ]
  await conn.query(`SET SESSION ${settings.join(', ')}`)
  await conn.query(sql)
}
