import type { SourceConfig } from '../../config/types.js'
import { DbkeeperError, type ErrorCode } from '../../runtime/errors.js'
import { scrubSecrets } from '../../runtime/secrets.js'
import { describeExit, lastLines, type ToolExit } from '../subprocess.js'

/**
 * Every judgement of what MySQL/MariaDB and its tools say, in one place: a mysql2 error of the
 * probe or a restore (fromDriverError, restoreError), mysqldump's exit (judgeMysqldump), and the
 * command-line client's exit replaying a dump (judgeClient). The server's error numbers that mean
 * the same thing everywhere are named once below.
 */

/** "Access denied": to a database (1044), a table (1142), a global privilege (1227). */
export const PRIVILEGE_ERRNOS: readonly number[] = [1044, 1142, 1227]
/** Cannot reach or lost the server (client-side 2002/2003/2005, 2013 lost during a query). */
const CONNECT_ERRNOS: readonly number[] = [2002, 2003, 2005, 2013]

/**
 * What a backup user needs on each database for `--single-transaction --routines --triggers
 * --events`. LOCK TABLES is not needed with --single-transaction, but operators copy this line,
 * and it is needed as soon as DBnn_EXTRA_OPTS adds --lock-tables (for non-InnoDB tables).
 */
export const DUMP_GRANTS = 'SELECT, SHOW VIEW, TRIGGER, EVENT, LOCK TABLES'

/** Routines are readable only with one of these, depending on the server (see privileges.ts). */
export const ROUTINE_GRANTS =
  'SELECT ON mysql.proc (MariaDB before 11.3), SHOW CREATE ROUTINE ON *.* (MariaDB 11.3+) or SHOW_ROUTINE ON *.* (MySQL 8.0.20+)'

export function connectHint(source: SourceConfig): string {
  return `check ${source.id}_HOST / ${source.id}_PORT and that the server is running`
}

export function authHint(source: SourceConfig): string {
  return `check ${source.id}_USER / ${source.id}_PASS or ${source.id}_PASS_FILE`
}

export function grantHint(source: SourceConfig, database: string | undefined, privileges = DUMP_GRANTS): string {
  const on = database === undefined ? '*.*' : `\`${database.replace(/`/g, '``')}\`.*`
  return `grant the backup user what mysqldump needs: GRANT ${privileges} ON ${on} TO '${source.user ?? 'root'}'@'%' — or set ${source.id}_USER to an account that has it`
}

function where(source: SourceConfig): string {
  return `${source.host ?? 'localhost'}:${source.port ?? 3306}`
}

const NETWORK_CODES: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  ENOTFOUND: 'unknown host name',
  EAI_AGAIN: 'host name lookup failed',
  ETIMEDOUT: 'connection timed out',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  ECONNRESET: 'connection reset',
  PROTOCOL_CONNECTION_LOST: 'the server closed the connection',
}

/** Translates a mysql2 error from the probe into the operator's terms. */
export function fromDriverError(source: SourceConfig, error: unknown, database?: string): DbkeeperError {
  if (error instanceof DbkeeperError) return error
  const e = error as { code?: string; errno?: number; message?: string }
  const text = scrubSecrets(e.message ?? String(error))
  const code = e.code ?? ''
  if (code in NETWORK_CODES) {
    return new DbkeeperError(
      'CONNECT',
      `cannot reach the MySQL/MariaDB server at ${where(source)}: ${NETWORK_CODES[code]} (${code})`,
      {
        hint: connectHint(source),
        cause: error,
      },
    )
  }
  if (e.errno === 1045) {
    return new DbkeeperError('AUTH', `the server at ${where(source)} refused the credentials: ${text}`, {
      hint: authHint(source),
      cause: error,
    })
  }
  if (e.errno === 1130) {
    return new DbkeeperError('AUTH', `the server at ${where(source)} has no account for this client host: ${text}`, {
      hint: `create the account for the backup host on the server (e.g. '${source.user ?? 'root'}'@'%'), or check ${source.id}_USER`,
      cause: error,
    })
  }
  if (e.errno !== undefined && PRIVILEGE_ERRNOS.includes(e.errno)) {
    const what = database === undefined ? '' : ` to database \`${database}\` (or it does not exist)`
    return new DbkeeperError('PRIVILEGE', `user '${source.user ?? 'root'}' has no access${what}: ${text}`, {
      hint: `${grantHint(source, database)}; or check ${source.id}_NAME`,
      cause: error,
    })
  }
  if (e.errno === 1049) {
    return new DbkeeperError('NOT_FOUND', `database \`${database ?? '?'}\` does not exist on ${where(source)}`, {
      hint: `check ${source.id}_NAME`,
      cause: error,
    })
  }
  return new DbkeeperError('CONNECT', `talking to the MySQL/MariaDB server at ${where(source)} failed: ${text}`, {
    hint: connectHint(source),
    cause: error,
  })
}

/**
 * Lines the tools print that look alarming but are not errors: warnings, and `--verbose`
 * progress ("-- Retrieving table structure for table error_log...") which names tables.
 */
const HARMLESS = /^((\S+:\s*)?(\[warning\]|warning\b)|-- )/i
/** An error line even when the exit code is 0 (mysqldump sometimes reports and carries on). */
const ERRORISH = /error|errno|denied|couldn't execute|can't connect|lost connection/i

export function isErrorLine(line: string): boolean {
  return ERRORISH.test(line) && !HARMLESS.test(line)
}

interface Rule {
  code: ErrorCode
  test: RegExp
  hint: (source: SourceConfig, database: string, line: string) => string
}

/** First matching rule wins: "Access denied … to database" (1044) must not read as bad credentials. */
const RULES: Rule[] = [
  { code: 'AUTH', test: /\b1045\b|\(using password: (YES|NO)\)/, hint: (s) => authHint(s) },
  {
    code: 'CONNECT',
    test: /Got error: 200[2-5]\b|Can't connect to|Unknown (MySQL |MariaDB )?server host/i,
    hint: (s) => connectHint(s),
  },
  { code: 'NOT_FOUND', test: /\b1049\b|Unknown database/i, hint: (s) => `check ${s.id}_NAME` },
  {
    code: 'PRIVILEGE',
    test: /\b(1044|1142|1227)\b|command denied|you need \(at least one of\)|Access denied for user .* to database/i,
    hint: (s, db, line) => grantHint(s, db, neededPrivilege(line) ?? DUMP_GRANTS),
  },
  {
    // A DBnn_PITR source's dump asks for its binlog position (args.ts PITR_OPTIONS).
    code: 'DUMP_FAILED',
    test: /\b1381\b|not using binary logging|Binlogging on server not active/i,
    hint: (s) =>
      `${s.id}_PITR needs the server's binary log, and it is off (log_bin): add \`log_bin = binlog\`, \`binlog_format = ROW\` and \`server_id = 1\` under [mariadbd] in my.cnf (or start it with --log-bin) and restart the server`,
  },
  {
    code: 'DUMP_FAILED',
    test: /unknown (option|variable)|ambiguous option/i,
    hint: (s) => `mysqldump rejected an option: check ${s.id}_EXTRA_OPTS`,
  },
]

/** "SHOW VIEW command denied…" → "SHOW VIEW"; "you need (at least one of) the PROCESS privilege(s)" → "PROCESS". */
function neededPrivilege(line: string): string | undefined {
  return (
    /you need \(at least one of\) the (.+?) privilege/i.exec(line)?.[1] ??
    /([A-Z][A-Z ]*[A-Z]) command denied/.exec(line)?.[1]
  )
}

function stripToolPrefix(line: string): string {
  return line.replace(/^(mysqldump|mariadb-dump):\s*/, '')
}

/**
 * Decides how a mysqldump run ended. Exit 0 is not enough: mysqldump reports some failures on
 * stderr and still exits 0, so any error line fails the dump too.
 */
export function judgeMysqldump(tool: string, source: SourceConfig, database: string) {
  return (exit: ToolExit): DbkeeperError | undefined => {
    const lines = exit.stderr
      .split('\n')
      .map((l) => l.trim())
      .filter(Boolean)
    const errors = lines.filter(isErrorLine)
    const clean = exit.exitCode === 0 && !exit.signal
    if (clean && errors.length === 0) return undefined
    // After a failed exit every line may explain it ("unknown option" says no "error").
    const candidates = clean ? errors : lines
    for (const rule of RULES) {
      const line = candidates.find((l) => rule.test.test(l))
      if (line === undefined) continue
      return new DbkeeperError(rule.code, `${tool} ${describeExit(exit)}: ${stripToolPrefix(line)}`, {
        hint: rule.hint(source, database, line),
      })
    }
    const line = errors.at(-1) ?? lines.at(-1)
    const message = clean
      ? `${tool} exited 0 but reported an error: ${stripToolPrefix(line ?? '')}`
      : `${tool} ${describeExit(exit)}: ${line === undefined ? 'no message on stderr' : stripToolPrefix(line)}`
    return new DbkeeperError('DUMP_FAILED', message, {
      hint: `the dump of \`${database}\` is incomplete and was not kept; the server's error log may say more (source ${source.id})`,
    })
  }
}

/** "ERROR 1064 (42000) at line 12: You have an error …" */
const SQL_ERROR = /^ERROR (\d+) \(([0-9A-Z]{5})\)(?: at line (\d+))?: (.*)$/

/**
 * The verdict on a finished client: undefined when the whole dump ran. `where` names the target
 * ("database `shop` on db:3306"); `next` is the operator's way back (the safety backup).
 * `input.readWith` reads the backup file with plain tools, FILE standing for its path
 * (BackupFacts.readWith). `input.part`: the client was fed part of the dump (a connection of the
 * parallel load: the head, then some tables), so the line it names is not the dump's, and no command
 * that looks the line up in the file is offered.
 */
export function judgeClient(
  source: SourceConfig,
  command: string,
  exit: ToolExit,
  where: string,
  next: string,
  /**
   * What the client read: the dump (read with `readWith`), one connection's share of it (`part`:
   * its lines are not the file's), or another stream that `readWith` prints (`name`: the binlog).
   */
  input: { readWith?: string | undefined; part?: boolean; name?: string } = {},
): DbkeeperError | undefined {
  const readWith = input.readWith ?? 'gzip -dc FILE'
  const lineOf = (line: string | undefined) =>
    line === undefined
      ? ''
      : input.part
        ? ` at line ${line} of this connection's input (the dump's head, then the tables it loaded)`
        : ` at line ${line} of ${input.name ?? 'the dump'}`
  const inFile = (line: string | undefined) => line !== undefined && !input.part
  if (exit.inputError) {
    return new DbkeeperError(
      'RESTORE_FAILED',
      `the backup could not be read while restoring into ${where}: ${exit.inputError.message}; the statements before that point did run`,
      {
        hint: `run \`dbkeeper verify\` on the backup; ${next}`,
        cause: exit.inputError,
      },
    )
  }
  if (exit.exitCode === 0 && !exit.signal) return undefined
  const lines = exit.stderr
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)
  const sqlLine = lines.find((l) => SQL_ERROR.test(l))
  const m = sqlLine === undefined ? undefined : SQL_ERROR.exec(sqlLine)!
  const errno = m ? Number(m[1]) : undefined
  if (errno === 1045 || (errno === undefined && /Access denied for user/.test(exit.stderr))) {
    return new DbkeeperError(
      'AUTH',
      `${command} could not log in to restore into ${where}: ${sqlLine ?? lastLines(exit.stderr, 1)}`,
      { hint: `check ${source.id}_USER / ${source.id}_PASS (or ${source.id}_PASS_FILE)` },
    )
  }
  if (errno !== undefined && CONNECT_ERRNOS.includes(errno)) {
    return new DbkeeperError(
      'CONNECT',
      `${command} lost or could not reach the server restoring into ${where}: ${sqlLine}`,
      { hint: `check ${source.id}_HOST / ${source.id}_PORT and the server log; ${next}` },
    )
  }
  if (errno === 1153 || (errno === 2006 && m![3] !== undefined)) {
    const line = m![3]
    const at = lineOf(line)
    const size = inFile(line)
      ? `the statement's size in bytes (from that line to the first line that ends in \`;\`): ${readWith} | LC_ALL=C awk 'NR >= ${line} { n += length($0) + 1 } NR >= ${line} && /;$/ { print n; exit }'`
      : undefined
    const setting =
      'as an administrator of that server: SET GLOBAL max_allowed_packet = 1073741824; (and max_allowed_packet = 1G under [mysqld] in my.cnf to keep it), then restore again'
    const measured =
      input.name === undefined
        ? 'backups taken by this version record the size they need, and dbkeeper restore raises the setting itself when its user has SUPER; '
        : ''
    // A statement over max_allowed_packet: MySQL answers 1153; MariaDB closes the connection, which
    // the client reports as 2006 at the statement's line.
    return errno === 1153
      ? new DbkeeperError(
          'RESTORE_FAILED',
          `the server refused a statement${at} longer than its max_allowed_packet, restoring into ${where}: ${sqlLine}`,
          { hint: `${setting}${size === undefined ? '' : ` — ${size}`}; ${measured}${next}` },
        )
      : new DbkeeperError(
          'RESTORE_FAILED',
          `the server closed the connection at the statement${at}, restoring into ${where}: ${sqlLine}; a statement longer than the server's max_allowed_packet does this (MariaDB), as does a server that restarted`,
          {
            hint: `${size === undefined ? '' : `${size}; `}the server's limit: SELECT @@GLOBAL.max_allowed_packet; if the statement is longer, ${setting}; ${measured}if not, see the server's error log; ${next}`,
          },
        )
  }
  if (m) {
    const privilege = PRIVILEGE_ERRNOS.includes(errno!) || errno === 1370
    const at = lineOf(m[3])
    return new DbkeeperError(
      privilege ? 'PRIVILEGE' : 'RESTORE_FAILED',
      `${command} stopped at the first failing statement${at}, restoring into ${where}: ${sqlLine}`,
      {
        hint: privilege
          ? `restoring needs a user with all privileges on the database (and SET USER / SUPER for the DEFINER of views, triggers and routines): run the restore with ${source.id}_USER set to such a user; ${next}`
          : `the statements before it did run; ${next}${inFile(m[3]) ? `; to see the statement: ${readWith} | sed -n '${m[3]}p' | cut -c1-500` : ''}`,
      },
    )
  }
  const how = exit.signal ? `was killed by ${exit.signal}` : `exited ${exit.exitCode ?? '?'}`
  return new DbkeeperError(
    'RESTORE_FAILED',
    `${command} ${how} restoring into ${where}: ${lastLines(exit.stderr, 3) || 'no message on stderr'}`,
    { hint: next },
  )
}

/** The grant pattern of the databases an in-place restore creates beside `target` (LIKE-escaped). */
export function besidePattern(target: string): string {
  return `${target.replace(/[_%\\]/g, '\\$&')}\\_dbk%`
}

/** A server's refusal in the restore's terms; network and login problems as for a dump. */
export function restoreError(source: SourceConfig, target: string, label: string, error: unknown): DbkeeperError {
  if (error instanceof DbkeeperError) return error
  const e = error as { errno?: number; sqlState?: string; message?: string }
  if (e.errno !== undefined && PRIVILEGE_ERRNOS.includes(e.errno)) {
    return new DbkeeperError(
      'PRIVILEGE',
      `user '${source.user ?? 'root'}' may not restore into ${label}: ${scrubSecrets(e.message ?? '')}`,
      {
        hint:
          `restoring needs CREATE, DROP and write privileges on the database and on the copy loaded beside it (GRANT ALL ON \`${target}\`.* … and ON \`${besidePattern(target)}\`.* …): ` +
          `run the restore with ${source.id}_USER set to such a user (docs/RESTORE.md)`,
        cause: error,
      },
    )
  }
  if (typeof e.sqlState === 'string' && e.errno !== undefined) {
    return new DbkeeperError('RESTORE_FAILED', `${label}: the server refused: ${scrubSecrets(e.message ?? '')}`, {
      hint: 'see the server log',
      cause: error,
    })
  }
  return fromDriverError(source, error, target)
}
