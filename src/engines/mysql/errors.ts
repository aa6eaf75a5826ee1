import type { SourceConfig } from '../../config/types.js'
import { DbkeeperError, type ErrorCode } from '../../runtime/errors.js'
import { scrubSecrets } from '../../runtime/secrets.js'
import { describeExit, type ToolExit } from '../subprocess.js'

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
    return new DbkeeperError('CONNECT', `cannot reach the MySQL/MariaDB server at ${where(source)}: ${NETWORK_CODES[code]} (${code})`, {
      hint: connectHint(source), cause: error,
    })
  }
  if (e.errno === 1045) {
    return new DbkeeperError('AUTH', `the server at ${where(source)} refused the credentials: ${text}`, { hint: authHint(source), cause: error })
  }
  if (e.errno === 1130) {
    return new DbkeeperError('AUTH', `the server at ${where(source)} has no account for this client host: ${text}`, {
      hint: `create the account for the backup host on the server (e.g. '${source.user ?? 'root'}'@'%'), or check ${source.id}_USER`, cause: error,
    })
  }
  if (e.errno === 1044 || e.errno === 1142 || e.errno === 1227) {
    const what = database === undefined ? '' : ` to database \`${database}\` (or it does not exist)`
    return new DbkeeperError('PRIVILEGE', `user '${source.user ?? 'root'}' has no access${what}: ${text}`, {
      hint: `${grantHint(source, database)}; or check ${source.id}_NAME`, cause: error,
    })
  }
  if (e.errno === 1049) {
    return new DbkeeperError('NOT_FOUND', `database \`${database ?? '?'}\` does not exist on ${where(source)}`, {
      hint: `check ${source.id}_NAME`, cause: error,
    })
  }
  return new DbkeeperError('CONNECT', `talking to the MySQL/MariaDB server at ${where(source)} failed: ${text}`, {
    hint: connectHint(source), cause: error,
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
  { code: 'CONNECT', test: /Got error: 200[2-5]\b|Can't connect to|Unknown (MySQL |MariaDB )?server host/i, hint: (s) => connectHint(s) },
  { code: 'NOT_FOUND', test: /\b1049\b|Unknown database/i, hint: (s) => `check ${s.id}_NAME` },
  {
    code: 'PRIVILEGE',
    test: /\b(1044|1142|1227)\b|command denied|you need \(at least one of\)|Access denied for user .* to database/i,
    hint: (s, db, line) => grantHint(s, db, neededPrivilege(line) ?? DUMP_GRANTS),
  },
  {
    code: 'DUMP_FAILED',
    test: /unknown (option|variable)|ambiguous option/i,
    hint: (s) => `mysqldump rejected an option: check ${s.id}_EXTRA_OPTS`,
  },
]

/** "SHOW VIEW command denied…" → "SHOW VIEW"; "you need (at least one of) the PROCESS privilege(s)" → "PROCESS". */
function neededPrivilege(line: string): string | undefined {
  return /you need \(at least one of\) the (.+?) privilege/i.exec(line)?.[1] ?? /([A-Z][A-Z ]*[A-Z]) command denied/.exec(line)?.[1]
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
    const lines = exit.stderr.split('\n').map((l) => l.trim()).filter(Boolean)
    const errors = lines.filter(isErrorLine)
    const clean = exit.exitCode === 0 && !exit.signal
    if (clean && errors.length === 0) return undefined
    // After a failed exit every line may explain it ("unknown option" says no "error").
    const candidates = clean ? errors : lines
    for (const rule of RULES) {
      const line = candidates.find((l) => rule.test.test(l))
      if (line === undefined) continue
      return new DbkeeperError(rule.code, `${tool} ${describeExit(exit)}: ${stripToolPrefix(line)}`, { hint: rule.hint(source, database, line) })
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
