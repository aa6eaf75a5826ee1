/**
 * What a backup needs of the server it is restored into (restoreNeeds in the manifest, measured at backup
 * time by engines/mysql/needs.ts), checked before anything is touched — before the safety backup,
 * before a drill creates its scratch database.
 *
 * max_allowed_packet: a statement longer than the server's max_allowed_packet fails with ERROR
 * 1153 part-way through the load. When the backup's longest statement needs more, the restore
 * raises it (SET GLOBAL, which needs SUPER) for the load only and sets it back afterwards: a
 * restore changes the database it restores, not the server's settings (new sessions of the
 * application keep the value they were tuned with). A user that may not raise it is refused with
 * the exact setting to change. Backups from before restoreNeeds existed are not checked ahead: the
 * load into the staging database meets ERROR 1153 and the target stays as it was.
 */
import type { Connection, RowDataPacket } from 'mysql2/promise'
import { mib, missingDefiners, packetFor, packetSetting, PACKET_MAX } from './needs.js'
import { DbkeeperError } from '../../runtime/errors.js'
import type { DriverTarget } from '../restore-driver.js'

export interface CheckedNeeds {
  /** Lines for the operator. */
  lines: string[]
  /** The max_allowed_packet the load needs and the server does not have yet (raised by `raisePacket`). */
  packet?: number
}

export async function checkNeeds(conn: Connection, t: DriverTarget, label: string): Promise<CheckedNeeds> {
  const needs = t.backup.restoreNeeds
  if (!needs) return { lines: [] }
  const lines: string[] = []
  let packet: number | undefined
  const longest = needs.longestStatement ?? 0
  const current = await globalPacket(conn)
  if (longest > 0 && packetFor(longest) > current) {
    if (longest + 1024 > PACKET_MAX) {
      throw new DbkeeperError(
        'RESTORE_FAILED',
        `backup ${t.backup.id} holds a statement of ${mib(longest)}, longer than any server's max_allowed_packet (1 GiB) allows; nothing was changed`,
        {
          hint: 'restore it with --to-file and load the rows by other means (LOAD DATA), or restore an older backup',
        },
      )
    }
    packet = packetFor(longest)
    await assertMayRaisePacket(conn, (error) =>
      packetRefusal(`backup ${t.backup.id} holds`, longest, current, label, t.source.user, 'the load', error),
    )
    lines.push(
      `the backup's longest statement is ${mib(longest)}: max_allowed_packet (${mib(current)}) will be raised to ${mib(packet)} for the load and set back afterwards`,
    )
  }
  const definers = needs.definers ?? []
  const missing = await missingDefiners(conn, definers)
  if (missing === undefined && definers.length > 0) {
    lines.push(
      `could not check whether the definers ${definers.join(', ')} exist on this server (user '${t.source.user ?? 'root'}' may not read mysql.user)`,
    )
  } else if (missing && missing.length > 0) {
    lines.push(
      `the definer${missing.length === 1 ? '' : 's'} ${missing.join(', ')} of views, routines, triggers or events ${missing.length === 1 ? 'does' : 'do'} not exist on this server: ` +
        'the objects are created anyway (restoring needs SET USER or SUPER), and using them fails with ERROR 1449 until the account exists (CREATE USER …) or their DEFINER is changed',
    )
  }
  return { lines, ...(packet ? { packet } : {}) }
}

/**
 * Asks the server whether this user may raise max_allowed_packet, changing nothing (a no-op SET
 * GLOBAL); a refusal (1227, no SUPER) is thrown as `refused` makes it.
 */
export async function assertMayRaisePacket(
  conn: Connection,
  refused: (error: { errno?: number; sqlMessage?: string }) => Error,
): Promise<void> {
  await conn
    .query('SET GLOBAL max_allowed_packet = @@GLOBAL.max_allowed_packet')
    .catch((error: { errno?: number; sqlMessage?: string }) => {
      if (error.errno !== 1227) throw error
      throw refused(error)
    })
}

/** "`what` a statement of N; `label` allows M, and the user may not raise it": the setting to change. */
export function packetRefusal(
  what: string,
  longest: number,
  current: number,
  label: string,
  user: string | undefined,
  during: string,
  error: { sqlMessage?: string },
): DbkeeperError {
  return new DbkeeperError(
    'PRIVILEGE',
    `${what} a statement of ${mib(longest)} (${longest} bytes); ${label} allows ${mib(current)} (max_allowed_packet), ` +
      `and user '${user ?? 'root'}' may not raise it (${error.sqlMessage ?? 'needs SUPER'}); nothing was changed`,
    {
      hint: `as an administrator of that server: ${packetSetting(longest)} — then restore again; or restore as a user with SUPER, which raises it for ${during} only`,
      cause: error,
    },
  )
}

/** A raised max_allowed_packet: the value to set back, and the init command of the clients that need it. */
export interface RaisedPacket {
  before: number
  initCommand: string | undefined
}

/**
 * Raises the server's max_allowed_packet to `need` when it is lower, for a load or a replay, and
 * turns the binlog's annotations off for the clients that send the long statements
 * (withoutAnnotations); undefined when nothing changed. setPacketBack undoes it.
 */
export async function raisePacket(conn: Connection, need: number): Promise<RaisedPacket | undefined> {
  const current = await globalPacket(conn)
  if (current >= need) return undefined
  await conn.query(`SET GLOBAL max_allowed_packet = ${need}`)
  return { before: current, initCommand: await withoutAnnotations(conn) }
}

/**
 * Sets max_allowed_packet back after a raise and rotates the binlog (rotateBinlog), on a
 * connection of its own; returns a line for the operator when either could not be done.
 */
export async function setPacketBack(open: () => Promise<Connection>, value: number): Promise<string | undefined> {
  let conn: Connection | undefined
  try {
    conn = await open()
    await conn.query(`SET GLOBAL max_allowed_packet = ${value}`)
    return await rotateBinlog(conn)
  } catch (error) {
    return `max_allowed_packet could not be set back to ${value} (${error instanceof Error ? error.message : String(error)}): SET GLOBAL max_allowed_packet = ${value}`
  } finally {
    conn?.destroy()
  }
}

/**
 * The init command of a client whose statements need a raised max_allowed_packet, or undefined.
 * With binlog_annotate_row_events (MariaDB's default) the server logs each statement beside its
 * rows as an Annotate_rows event as long as the statement: once the setting is set back, that event
 * is longer than the server reads its own binlog by, BINLOG_GTID_POS answers NULL past it, and
 * `mysqldump --single-transaction --master-data=2` (every later backup of a PITR source) crashes on
 * it with SIGSEGV (MariaDB 10.11.19, test/restore/at-time-packet.test.ts) until the binlog rotates.
 * So such a session logs the rows without the statement. Only where the server has the variable
 * (not MySQL) and the user may set it (SUPER or BINLOG ADMIN; raising the packet needed SUPER).
 */
async function withoutAnnotations(conn: Connection): Promise<string | undefined> {
  const command = 'SET SESSION binlog_annotate_row_events = 0'
  return conn.query(command).then(
    () => command,
    () => undefined,
  )
}

/**
 * After max_allowed_packet was raised for a load or a replay and set back, the binlog may hold
 * events longer than the setting: a long statement logged as itself (a routine's CREATE, any
 * statement under STATEMENT or MIXED format), or annotated beside its rows where that could not be
 * turned off (withoutAnnotations). The server reads its current binlog file by the setting, so
 * BINLOG_GTID_POS answers NULL past such an event and `mysqldump --single-transaction
 * --master-data=2` crashes (SIGSEGV, MariaDB 10.11.19) until the file is rotated. It is rotated
 * here (FLUSH BINARY LOGS: RELOAD or BINLOG ADMIN); where that is refused, the line returned says
 * what to run. Nothing when the server has no binlog.
 */
async function rotateBinlog(conn: Connection): Promise<string | undefined> {
  const [[row]] = await conn.query<RowDataPacket[]>('SELECT @@GLOBAL.log_bin AS b')
  if (!Number(row?.b)) return undefined
  return conn.query('FLUSH BINARY LOGS').then(
    () => undefined,
    (error: { sqlMessage?: string; message?: string }) =>
      `the binlog may hold statements longer than max_allowed_packet now that it is set back, and FLUSH BINARY LOGS was refused (${error.sqlMessage ?? error.message ?? 'needs RELOAD'}): run it as an administrator before the next backup, whose mysqldump --master-data would otherwise crash on them`,
  )
}

export async function globalPacket(conn: Connection): Promise<number> {
  const [[row]] = await conn.query<RowDataPacket[]>('SELECT @@GLOBAL.max_allowed_packet AS p')
  return Number(row?.p ?? 0)
}
