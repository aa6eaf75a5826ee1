/**
 * Turns what PostgreSQL and its client tools say into a DbkeeperError whose hint names the
 * DBnn_ variable to fix. Two sources of evidence: a tool's stderr (pg_dump, psql, pg_restore all
 * print libpq's and the server's messages) and a `pg` driver error (SQLSTATE or a Node errno).
 */
import type { SourceConfig } from '../../config/types.js'
import { DbkeeperError, type ErrorCode } from '../../runtime/errors.js'
import { scrubSecrets } from '../../runtime/secrets.js'
import { describeExit, type ToolExit } from '../subprocess.js'

interface Rule {
  code: ErrorCode
  pattern: RegExp
  hint: (id: string, line: string) => string
}

const credentials = (id: string) => `check ${id}_USER / ${id}_PASS (or ${id}_PASS_FILE)`

/** First match wins: order from the most to the least specific. */
const RULES: Rule[] = [
  {
    code: 'VERSION',
    pattern: /server version mismatch|unsupported server version/i,
    hint: () => versionFix(undefined),
  },
  {
    code: 'AUTH',
    pattern: /password authentication failed|no password supplied|role "[^"]*" does not exist|authentication failed/i,
    hint: (id) => credentials(id),
  },
  {
    code: 'AUTH',
    pattern: /no pg_hba\.conf entry/i,
    hint: (id) =>
      `the server's pg_hba.conf has no rule admitting this user from this host: add one on the server, or ${credentials(id)}`,
  },
  {
    code: 'NOT_FOUND',
    pattern: /database "[^"]*" does not exist/i,
    hint: (id) => `check ${id}_NAME: list the databases with \\l in psql, or use ${id}_NAME=ALL`,
  },
  {
    code: 'PRIVILEGE',
    pattern: /permission denied|must be superuser|not have CONNECT privilege/i,
    hint: (id, line) => privilegeFix(id, line),
  },
  {
    // Connected, then lost: not a configuration problem but an interrupted dump.
    code: 'DUMP_FAILED',
    pattern: /server closed the connection|terminating connection|connection to server was lost/i,
    hint: () =>
      'the server ended the connection mid-way (restart, crash, or an administrator or timeout ending the session): see the server log; the next run tries again',
  },
  {
    code: 'CONNECT',
    pattern:
      /could not connect|connection refused|could not translate host name|timeout expired|no route to host|network is unreachable|connection to server .* failed/i,
    hint: (id) => `check ${id}_HOST / ${id}_PORT and that the server is running and reachable from this container`,
  },
]

function privilegeFix(id: string, line: string): string {
  if (/pg_authid/.test(line)) {
    return `dumping roles with their passwords reads pg_authid, which needs a superuser: use one as ${id}_USER, or set ${id}_PG_GLOBALS=false`
  }
  if (/CONNECT privilege|for database/i.test(line)) {
    return `GRANT CONNECT ON DATABASE … TO the backup user, or leave that database out of ${id}_NAME`
  }
  return `grant ${id}_USER read access to everything it dumps (e.g. the pg_read_all_data role on PostgreSQL 14+, or a superuser)`
}

/** The fix for a pg_dump older than the server, naming the client package to install. */
export function versionFix(serverMajor: string | undefined): string {
  const pkg = serverMajor
    ? `postgresql-client-${serverMajor}`
    : 'the postgresql-client matching the server major version'
  return `install ${pkg} or newer in the dbkeeper image (Debian/Ubuntu: from the PGDG repository, apt.postgresql.org); pg_dump reads older servers but never newer ones`
}

/** The line of stderr that says what went wrong: the first error, else the last line. */
export function keyLine(stderr: string): string {
  const lines = stderr
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '')
  const error = lines.find((l) => /\b(error|fatal):/i.test(l))
  return (error ?? lines.at(-1) ?? '').replace(/^(pg_dump|pg_dumpall|pg_restore|psql): (error: )?/, '')
}

/**
 * The verdict on a finished tool: undefined when it exited 0, else a classified error. A known
 * cause gets its own code; anything else is `failCode` with "<tool> exited N: <line>".
 */
export function judgeToolExit(
  source: SourceConfig,
  tool: string,
  exit: ToolExit,
  failCode: ErrorCode = 'DUMP_FAILED',
): DbkeeperError | undefined {
  if (exit.exitCode === 0 && !exit.signal) return undefined
  const line = keyLine(exit.stderr)
  const what = `${source.id}: ${tool} ${describeExit(exit)}${line ? `: ${line}` : ''}`
  if (exit.signal)
    return new DbkeeperError(failCode, what, {
      hint: 'the tool was killed: look for the OOM killer or a timeout in the container logs',
    })
  for (const rule of RULES) {
    if (!rule.pattern.test(exit.stderr)) continue
    const message = rule.code === 'VERSION' ? `${what} (${versionsIn(exit.stderr)})` : what
    return new DbkeeperError(rule.code === 'DUMP_FAILED' ? failCode : rule.code, message, {
      hint: rule.hint(source.id, line),
    })
  }
  return new DbkeeperError(failCode, what, {
    hint: `the full stderr is in the log; options come from ${source.id}_EXTRA_OPTS`,
  })
}

/** "server version: 16.2; pg_dump version: 15.20" as pg_dump prints it on a mismatch. */
function versionsIn(stderr: string): string {
  const m = /server version: ([^;\n]+); (pg_dump|pg_dumpall|pg_restore) version: ([^\n]+)/.exec(stderr)
  return m ? `server ${m[1]!.trim()}, ${m[2]} ${m[3]!.trim()}` : 'see the log for both versions'
}

const CONNECT_ERRNOS = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ETIMEDOUT',
  'ECONNRESET',
  'ENOENT',
])

/**
 * Classifies an error from the `pg` driver. `database` is the one we tried to reach, if any.
 * SQLSTATE classes: 28xxx invalid authorization, 3D000 no such database, 42501 insufficient privilege.
 */
export function classifyPgError(source: SourceConfig, error: unknown, database?: string): DbkeeperError {
  if (error instanceof DbkeeperError) return error
  const err = error as { code?: string; message?: string }
  const text = scrubSecrets(err.message ?? String(error))
  const where = `${source.id}: PostgreSQL at ${source.host ?? 'localhost'}:${source.port ?? 5432}`
  const id = source.id
  if (err.code === '3D000') {
    return new DbkeeperError('NOT_FOUND', `${where} has no database "${database ?? '?'}"`, {
      hint: `check ${id}_NAME (a comma list of existing databases, or ALL)`,
      cause: error,
    })
  }
  if (err.code === '42501') {
    return new DbkeeperError('PRIVILEGE', `${where}: ${text}${database ? ` (database "${database}")` : ''}`, {
      hint: privilegeFix(id, text),
      cause: error,
    })
  }
  if (err.code === '28P01' || err.code === '28000' || (err.code === undefined && /password|SASL|SCRAM/i.test(text))) {
    return new DbkeeperError(
      'AUTH',
      `${where} refused the credentials of user "${source.user ?? 'postgres'}": ${text}`,
      {
        hint: /pg_hba/.test(text)
          ? `the server's pg_hba.conf has no rule for this user and host: add one, or ${credentials(id)}`
          : credentials(id),
        cause: error,
      },
    )
  }
  if ((err.code !== undefined && CONNECT_ERRNOS.has(err.code)) || /timeout|terminated|connect/i.test(text)) {
    return new DbkeeperError('CONNECT', `${where} is not reachable: ${text}`, {
      hint: `check ${id}_HOST / ${id}_PORT and that the server is running and reachable from this container`,
      cause: error,
    })
  }
  return new DbkeeperError('DUMP_FAILED', `${where}: ${text}`, {
    hint: `check the server log; the source is configured by the ${id}_ variables`,
    cause: error,
  })
}

/** The hint of TOOL_MISSING for psql and pg_restore. */
export const PG_INSTALL_HINT =
  'install postgresql-client (Debian/Ubuntu) in the dbkeeper image, at least the major version of the server'
