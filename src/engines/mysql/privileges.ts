import type { Connection, RowDataPacket } from 'mysql2/promise'

/**
 * Checks, before dumping, that the backup user can see everything in a database. This matters
 * because mysqldump does not fail without some privileges — it leaves things out and exits 0:
 * without TRIGGER, `SHOW TRIGGERS` returns nothing; without the right to read routines,
 * `SHOW PROCEDURE STATUS` returns nothing. The backup would "succeed" and lack them.
 *
 * Judged from the grant tables in information_schema (global, schema and table level). Roles
 * are not expanded there, so when the session has an active role we cannot judge and do not
 * block; mysqldump's own errors still catch SELECT, SHOW VIEW and EVENT.
 */

/** Missing privilege → what the dump would lack, for the message. */
export const CONSEQUENCE: Record<string, string> = {
  SELECT: 'mysqldump cannot read the tables',
  'SHOW VIEW': 'mysqldump cannot dump the views',
  TRIGGER: 'mysqldump would silently leave out the triggers',
  EVENT: 'mysqldump cannot dump the events',
  routines: 'mysqldump would silently leave out stored procedures and functions',
}

const SCHEMA_NEEDS = ['SELECT', 'SHOW VIEW', 'TRIGGER', 'EVENT'] as const

export interface Grants {
  global: Set<string>
  /** Schema-level privileges that apply to this database (grant patterns matched with LIKE). */
  schema: Set<string>
  /** Privileges granted on some table of this database: then we cannot judge, and assume yes. */
  table: Set<string>
  /** SELECT on the whole `mysql` schema or on mysql.proc (MariaDB keeps routines there). */
  canReadProc: boolean
}

/** Pure: which of the needed privileges are absent. 'routines' stands for "cannot read routines". */
export function missingFrom(grants: Grants): string[] {
  const has = (p: string) =>
    grants.global.has(p) || grants.global.has('ALL PRIVILEGES') || grants.schema.has(p) || grants.table.has(p)
  const missing: string[] = SCHEMA_NEEDS.filter((p) => !has(p))
  const routines =
    grants.global.has('SELECT') ||
    grants.canReadProc ||
    grants.global.has('SHOW CREATE ROUTINE') ||
    grants.schema.has('SHOW CREATE ROUTINE') ||
    grants.global.has('SHOW_ROUTINE')
  if (!routines) missing.push('routines')
  return missing
}

/** 'user@host' as CURRENT_USER() returns it → "'user'@'host'" as the GRANTEE columns hold it. */
export function granteeOf(currentUser: string): string {
  const at = currentUser.lastIndexOf('@')
  return `'${currentUser.slice(0, at)}'@'${currentUser.slice(at + 1)}'`
}

async function column(conn: Connection, sql: string, params: unknown[]): Promise<string[]> {
  const [rows] = await conn.query<RowDataPacket[]>(sql, params)
  return rows.map((r) => String(Object.values(r)[0]))
}

export async function hasActiveRole(conn: Connection): Promise<boolean> {
  try {
    const [value] = await column(conn, 'SELECT CURRENT_ROLE()', [])
    // MariaDB: NULL without a role; MySQL 8: 'NONE'.
    return value !== undefined && value !== 'null' && value !== 'NONE'
  } catch {
    return false // MySQL 5.7 has no roles
  }
}

/** The privileges the current user lacks on `database`; empty when complete or when we cannot judge. */
export async function missingPrivileges(conn: Connection, database: string): Promise<string[]> {
  if (await hasActiveRole(conn)) return []
  const [currentUser] = await column(conn, 'SELECT CURRENT_USER()', [])
  const grantee = granteeOf(currentUser ?? '')
  const global = await column(conn, 'SELECT PRIVILEGE_TYPE FROM information_schema.USER_PRIVILEGES WHERE GRANTEE = ?', [
    grantee,
  ])
  const schema = await column(
    conn,
    'SELECT PRIVILEGE_TYPE FROM information_schema.SCHEMA_PRIVILEGES WHERE GRANTEE = ? AND ? LIKE TABLE_SCHEMA',
    [grantee, database],
  )
  const table = await column(
    conn,
    'SELECT DISTINCT PRIVILEGE_TYPE FROM information_schema.TABLE_PRIVILEGES WHERE GRANTEE = ? AND TABLE_SCHEMA = ?',
    [grantee, database],
  )
  const proc = await column(
    conn,
    `SELECT PRIVILEGE_TYPE FROM information_schema.SCHEMA_PRIVILEGES WHERE GRANTEE = ? AND 'mysql' LIKE TABLE_SCHEMA AND PRIVILEGE_TYPE = 'SELECT'
     UNION SELECT PRIVILEGE_TYPE FROM information_schema.TABLE_PRIVILEGES
       WHERE GRANTEE = ? AND TABLE_SCHEMA = 'mysql' AND TABLE_NAME = 'proc' AND PRIVILEGE_TYPE = 'SELECT'`,
    [grantee, grantee],
  )
  return missingFrom({
    global: new Set(global),
    schema: new Set(schema),
    table: new Set(table),
    canReadProc: proc.length > 0,
  })
}
