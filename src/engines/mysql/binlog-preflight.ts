/**
 * Before a MySQL/MariaDB source is archived for point-in-time recovery (DBnn_PITR): does the server
 * keep a binary log a replay can use, for long enough, and may our user stream it? Every problem is
 * listed at once, each naming the server variable to set (`SET GLOBAL …` and the my.cnf line) or the
 * exact GRANT to run. The judgement is pure (judgeBinlogSettings); reading the server is the shell.
 *
 * What the privileges are for, as measured on MariaDB 10.11:
 * - REPLICATION SLAVE: `mariadb-binlog --read-from-remote-server` streams the binlog (COM_BINLOG_DUMP).
 * - BINLOG MONITOR (MariaDB 10.5+; REPLICATION CLIENT is its old name, SUPER covers it): SHOW MASTER
 *   STATUS and SHOW BINARY LOGS, where the archive learns which files exist.
 * - mysqldump --master-data=2 with --single-transaction needs nothing more on MariaDB: it reads the
 *   position from the snapshot (binlog_snapshot_file/position, BINLOG_GTID_POS). MySQL's
 *   --source-data takes FLUSH TABLES WITH READ LOCK and SHOW MASTER STATUS: RELOAD and REPLICATION
 *   CLIENT (from MySQL's documentation; not verified here).
 */
import type { Connection, RowDataPacket } from 'mysql2/promise'
import type { SourceConfig } from '../../config/types.js'
import { formatDuration } from '../../runtime/duration.js'
import { DbkeeperError } from '../../runtime/errors.js'
import { fromDriverError } from './errors.js'
import { granteeOf, hasActiveRole } from './privileges.js'
import { connect, serverVersion } from './probe.js'
import { flavourOf, type Flavour } from './version.js'

/** What the judgement reads of the server. */
export interface BinlogSettings {
  flavour: Flavour
  /** log_bin */
  logBin: boolean
  /** binlog_format: ROW, MIXED or STATEMENT. */
  format: string
  /** server_id; 0 when unset. */
  serverId: number
  /** binlog_expire_logs_seconds, when the server has it (MariaDB 10.6+, MySQL 8). */
  expireSeconds?: number
  /** expire_logs_days, when the server has it (MariaDB, MySQL before 8.4); fractions allowed. */
  expireDays?: number
  /** The user's global privileges; undefined when a role is active and they cannot be judged. */
  privileges: Set<string> | undefined
  /** The user as a GRANT names it: 'backup'@'%'. */
  grantee: string
}

export interface BinlogProblem {
  /** An error stops archiving; a warning is logged and archiving goes on. */
  severity: 'error' | 'warning'
  code: 'CONFIG' | 'PRIVILEGE'
  /** The server variable or privilege at fault (`log_bin`, `REPLICATION SLAVE`). */
  subject: string
  message: string
  /** The statement or my.cnf line that fixes it. */
  fix: string
}

const DAY_S = 86_400
const RESTART = 'in my.cnf under [mariadbd] (or [mysqld]), then restart the server'

/** The privileges streaming needs, each with the ones that also grant it. */
const NEEDED: Record<Flavour, { privilege: string; alsoBy: string[]; why: string }[]> = {
  mariadb: [
    { privilege: 'REPLICATION SLAVE', alsoBy: [], why: 'to stream the binary log' },
    {
      privilege: 'BINLOG MONITOR',
      alsoBy: ['REPLICATION CLIENT', 'SUPER'],
      why: 'for SHOW MASTER STATUS and SHOW BINARY LOGS',
    },
  ],
  mysql: [
    { privilege: 'REPLICATION SLAVE', alsoBy: [], why: 'to stream the binary log' },
    { privilege: 'REPLICATION CLIENT', alsoBy: ['SUPER'], why: 'for SHOW MASTER STATUS and SHOW BINARY LOGS' },
    { privilege: 'RELOAD', alsoBy: [], why: "for mysqldump --source-data's FLUSH TABLES WITH READ LOCK" },
  ],
}

/** Every problem of these settings for a PITR window of `windowMs`, errors and warnings; empty when ready. */
export function judgeBinlogSettings(s: BinlogSettings, windowMs: number): BinlogProblem[] {
  const problems: BinlogProblem[] = []
  if (!s.logBin)
    problems.push({
      severity: 'error',
      code: 'CONFIG',
      subject: 'log_bin',
      message: 'binary logging is off (log_bin = OFF): there is no binlog to archive or replay',
      fix: `log_bin = binlog ${RESTART} (log_bin cannot be set at runtime)`,
    })
  // Without a binlog, its format and expiry are moot: log_bin is the one thing to fix first.
  if (s.logBin && s.format.toUpperCase() !== 'ROW')
    problems.push({
      severity: 'warning',
      code: 'CONFIG',
      subject: 'binlog_format',
      message: `binlog_format is ${s.format}: a replayed statement can come out differently from what the server did (NOW(), UUID(), LIMIT without ORDER BY, triggers); ROW replays the rows themselves`,
      fix: `SET GLOBAL binlog_format = 'ROW'; and binlog_format = ROW ${RESTART} (SET GLOBAL reaches new sessions only)`,
    })
  if (!(s.serverId > 0))
    problems.push({
      severity: 'error',
      code: 'CONFIG',
      subject: 'server_id',
      message: 'server_id is 0: the server refuses to send its binlog to a replica, and mariadb-binlog connects as one',
      fix: `SET GLOBAL server_id = 1; and server_id = 1 ${RESTART} (any number no other server of the same replication uses)`,
    })
  const expiry = s.logBin ? expiryOf(s) : undefined
  if (expiry && expiry.seconds * 1000 < windowMs) {
    // A restore to the window's start replays from the base dump before it: keep a day more.
    const days = Math.ceil(windowMs / 1000 / DAY_S) + 1
    const set =
      expiry.variable === 'binlog_expire_logs_seconds'
        ? `binlog_expire_logs_seconds = ${days * DAY_S}`
        : `expire_logs_days = ${days}`
    problems.push({
      severity: 'error',
      code: 'CONFIG',
      subject: expiry.variable,
      message: `the server removes binlogs after ${formatDuration(expiry.seconds * 1000)} (${expiry.variable} = ${expiry.value}), sooner than PITR_WINDOW (${formatDuration(windowMs)}): an archiver that is down longer loses changes for good`,
      fix: `SET GLOBAL ${set}; and ${set} ${RESTART}; or a shorter PITR_WINDOW`,
    })
  }
  if (s.privileges) {
    const held = s.privileges
    const missing = NEEDED[s.flavour].filter(
      (n) => ![n.privilege, ...n.alsoBy, 'ALL PRIVILEGES'].some((p) => held.has(p)),
    )
    if (missing.length > 0)
      problems.push({
        severity: 'error',
        code: 'PRIVILEGE',
        subject: missing.map((m) => m.privilege).join(', '),
        message: `user ${s.grantee} lacks ${missing.map((m) => `${m.privilege} (${m.why})`).join(' and ')}`,
        fix: `GRANT ${missing.map((m) => m.privilege).join(', ')} ON *.* TO ${s.grantee};`,
      })
  }
  return problems
}

/** When the server removes a binlog, and which variable says so; undefined: never. */
function expiryOf(s: BinlogSettings): { seconds: number; variable: string; value: string } | undefined {
  // MariaDB keeps the two in step; MySQL 8 lets binlog_expire_logs_seconds win when set.
  if (s.expireSeconds !== undefined && s.expireSeconds > 0)
    return { seconds: s.expireSeconds, variable: 'binlog_expire_logs_seconds', value: String(s.expireSeconds) }
  if (s.expireDays !== undefined && s.expireDays > 0)
    return { seconds: s.expireDays * DAY_S, variable: 'expire_logs_days', value: String(s.expireDays) }
  return undefined
}

/** Reads the settings of the server `conn` is connected to, as the connected user. */
export async function readBinlogSettings(conn: Connection): Promise<BinlogSettings> {
  const [rows] = await conn.query<RowDataPacket[]>(
    `SHOW GLOBAL VARIABLES WHERE Variable_name IN ('log_bin', 'binlog_format', 'server_id', 'binlog_expire_logs_seconds', 'expire_logs_days')`,
  )
  const v = new Map(rows.map((r) => [String(r.Variable_name).toLowerCase(), String(r.Value)]))
  const num = (name: string) => (v.has(name) ? Number(v.get(name)) : undefined)
  const [user] = await conn.query<RowDataPacket[]>('SELECT CURRENT_USER() AS u')
  const grantee = granteeOf(String(user[0]?.u ?? ''))
  let privileges: Set<string> | undefined
  if (!(await hasActiveRole(conn))) {
    const [granted] = await conn.query<RowDataPacket[]>(
      'SELECT PRIVILEGE_TYPE AS p FROM information_schema.USER_PRIVILEGES WHERE GRANTEE = ?',
      [grantee],
    )
    privileges = new Set(granted.map((g) => String(g.p)))
  }
  const expireSeconds = num('binlog_expire_logs_seconds')
  const expireDays = num('expire_logs_days')
  return {
    flavour: flavourOf(await serverVersion(conn)),
    logBin: /^(on|1)$/i.test(v.get('log_bin') ?? ''),
    format: v.get('binlog_format') ?? 'unknown',
    serverId: num('server_id') ?? 0,
    ...(expireSeconds === undefined ? {} : { expireSeconds }),
    ...(expireDays === undefined ? {} : { expireDays }),
    privileges,
    grantee,
  }
}

/** Connects as the source's user and judges its server for a PITR window of `windowMs`. */
export async function checkBinlogSettings(
  source: SourceConfig,
  windowMs: number,
  signal: AbortSignal,
): Promise<BinlogProblem[]> {
  const conn = await connect(source, signal)
  try {
    return judgeBinlogSettings(await readBinlogSettings(conn), windowMs)
  } catch (error) {
    throw fromDriverError(source, error)
  } finally {
    conn.destroy()
  }
}

/** One error listing every error-severity problem (warnings left out), or undefined when there is none. */
export function binlogProblemsError(source: SourceConfig, problems: BinlogProblem[]): DbkeeperError | undefined {
  const errors = problems.filter((p) => p.severity === 'error')
  if (errors.length === 0) return undefined
  return new DbkeeperError(
    errors.every((e) => e.code === 'PRIVILEGE') ? 'PRIVILEGE' : 'CONFIG',
    `${source.label} (${source.id}) cannot be archived for point-in-time recovery: ${errors.map((e) => e.message).join('; ')}`,
    { hint: errors.map((e) => `${e.subject}: ${e.fix}`).join('; ') },
  )
}
