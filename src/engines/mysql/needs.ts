/**
 * What restoring a mysqldump will ask of a server (engine.ts RestoreNeeds), and the one rule for
 * the packet size: the backup side records it, the restore side (needs-check.ts) checks
 * it against the target server before anything is touched.
 *
 * The longest statement is measured on the dump's bytes as they pass (meter.ts): an extended INSERT
 * holds rows up to mysqldump's `--net-buffer-length` (1 MiB by default; MariaDB's mysqldump puts
 * each row on a line of its own), and a row longer than that is a statement of its own however
 * large (`--hex-blob` doubles a BLOB's bytes). The server refuses a statement longer than its
 * max_allowed_packet with ERROR 1153, whatever the client's own `--max-allowed-packet` says.
 */
import type { Connection, RowDataPacket } from 'mysql2/promise'
import type { DumpObservation, RestoreNeeds } from '../engine.js'

/** max_allowed_packet's ceiling (1 GiB) on MySQL and MariaDB. */
export const PACKET_MAX = 1024 * 1024 * 1024

/**
 * The max_allowed_packet a statement of `bytes` needs: its length plus 1 KiB for the packet's own
 * header and the command byte, rounded up to the 1024-byte multiple the server keeps.
 */
export function packetFor(bytes: number): number {
  return Math.min(PACKET_MAX, Math.ceil((bytes + 1024) / 1024) * 1024)
}

export function mib(bytes: number): string {
  return `${(bytes / (1024 * 1024)).toFixed(1)} MiB`
}

/** "SET GLOBAL max_allowed_packet = N (and max_allowed_packet = N under [mysqld] in my.cnf, to outlive a restart)". */
export function packetSetting(bytes: number): string {
  const n = packetFor(bytes)
  return `SET GLOBAL max_allowed_packet = ${n}; (and \`max_allowed_packet = ${n}\` under [mysqld] in my.cnf, so that it outlives a restart)`
}

/** DEFINER accounts (`user@host`) of the database's views, routines, triggers and events. */
export async function definersOf(conn: Connection, database: string): Promise<string[]> {
  const [rows] = await conn.query<RowDataPacket[]>(
    `SELECT DEFINER AS d FROM information_schema.VIEWS WHERE TABLE_SCHEMA = ?
     UNION SELECT DEFINER FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = ?
     UNION SELECT DEFINER FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = ?
     UNION SELECT DEFINER FROM information_schema.EVENTS WHERE EVENT_SCHEMA = ?`,
    [database, database, database, database],
  )
  return [...new Set(rows.map((r) => String(r.d)))].sort()
}

/**
 * The definers among `definers` that have no account on the server; undefined when the user may
 * not read the account list (mysql.user needs SELECT on it). `current_user` counts as existing.
 */
export async function missingDefiners(conn: Connection, definers: readonly string[]): Promise<string[] | undefined> {
  if (definers.length === 0) return []
  let accounts: Set<string>
  try {
    const [rows] = await conn.query<RowDataPacket[]>("SELECT CONCAT(User, '@', Host) AS a FROM mysql.user")
    accounts = new Set(rows.map((r) => String(r.a)))
  } catch {
    return undefined
  }
  return definers.filter((d) => !accounts.has(d))
}

/** The backup side: measured after the dump, on the source server. Problems of the server's settings are warnings. */
export async function measureNeeds(
  conn: Connection,
  database: string,
  observed: DumpObservation,
): Promise<RestoreNeeds> {
  const { longestStatement } = observed
  const [[vars]] = await conn.query<RowDataPacket[]>('SELECT @@global.max_allowed_packet AS packet')
  const packet = Number(vars?.packet ?? 0)
  const definers = await definersOf(conn, database)
  const [parts] = await conn.query<RowDataPacket[]>(
    'SELECT DISTINCT TABLE_NAME AS t FROM information_schema.PARTITIONS WHERE TABLE_SCHEMA = ? AND PARTITION_NAME IS NOT NULL ORDER BY 1',
    [database],
  )
  const partitioned = parts.map((r) => String(r.t))
  const [[schema]] = await conn.query<RowDataPacket[]>(
    'SELECT DEFAULT_CHARACTER_SET_NAME AS cs, DEFAULT_COLLATION_NAME AS coll FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?',
    [database],
  )
  const charset =
    typeof schema?.cs === 'string' && typeof schema.coll === 'string'
      ? { characterSet: schema.cs, collation: schema.coll }
      : undefined
  const warnings: string[] = []
  if (packet > 0 && packetFor(longestStatement) > packet) {
    warnings.push(
      `the longest statement is ${mib(longestStatement)} (${longestStatement} bytes), this server's max_allowed_packet is ${mib(packet)}: ` +
        `a restore into it needs ${packetSetting(longestStatement)} — dbkeeper restore raises it itself when its user may (SUPER)`,
    )
  }
  const missing = await missingDefiners(conn, definers)
  if (missing === undefined && definers.length > 0) {
    warnings.push(
      `could not check whether the definers ${definers.join(', ')} exist (the backup user may not read mysql.user)`,
    )
  } else if (missing && missing.length > 0) {
    warnings.push(
      `the definer${missing.length === 1 ? '' : 's'} ${missing.join(', ')} of views, routines, triggers or events no longer exist${missing.length === 1 ? 's' : ''}: ` +
        'a restore creates the objects anyway only as a user with SET USER or SUPER, and using them fails with ERROR 1449 until the account is created again',
    )
  }
  return {
    longestStatement,
    ...(definers.length ? { definers } : {}),
    ...(charset ? { charset } : {}),
    ...(partitioned.length ? { partitioned } : {}),
    ...(warnings.length ? { warnings } : {}),
  }
}
