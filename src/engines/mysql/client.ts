/**
 * The MySQL/MariaDB command-line client replaying a dump: which one, with which options, and what
 * its exit means. The credentials reach it through the same 0600 defaults file as mysqldump's.
 */
import type { Readable } from 'node:stream'
import { execa } from 'execa'
import type { SourceConfig } from '../config/types.js'
import { childEnv, lastLines } from '../engines/subprocess.js'
import { flavourOf, type Flavour } from '../engines/mysql/version.js'
import { DbkeeperError } from '../runtime/errors.js'
import { scrubSecrets } from '../runtime/secrets.js'

/** Tried in this order; Debian's mariadb-client ships both names, MySQL's only `mysql`. */
export const CLIENT_COMMANDS = ['mariadb', 'mysql'] as const

/**
 * The client whose flavour matches the dump tool's: a MariaDB dump starts with a sandbox-mode
 * line (`/*M!999999\- enable the sandbox mode *\/`) that MySQL's client rejects as an unknown
 * command, and MySQL's client speaks MySQL's authentication plugins.
 */
export async function findClient(dumpToolVersion: string, signal: AbortSignal): Promise<string> {
  const want: Flavour = flavourOf(dumpToolVersion)
  const found: { command: string; flavour: Flavour }[] = []
  for (const command of CLIENT_COMMANDS) {
    const r = await execa(command, ['--version'], { env: childEnv(), extendEnv: false, reject: false, stdin: 'ignore', timeout: 10_000, cancelSignal: signal })
    if (r.exitCode === 0) found.push({ command, flavour: flavourOf(r.stdout) })
  }
  const pick = found.find((c) => c.flavour === want) ?? found[0]
  if (!pick) {
    throw new DbkeeperError('TOOL_MISSING', 'neither `mariadb` nor `mysql` (the command-line client) is on PATH', {
      hint: 'install the client tools (Debian: mariadb-client) — or use scripts/restore-mysql.sh where they are installed',
    })
  }
  return pick.command
}

/**
 * The client's options, and why:
 * - `--defaults-extra-file` first (the client honours it only there): credentials, never argv.
 * - `--binary-mode`: bytes are passed as they are (no `\r\n` rewriting, NUL allowed) and client
 *   commands such as `\!` (run a shell command) are not interpreted inside the dump; DELIMITER,
 *   which routines and triggers need, still works.
 * - `--default-character-set=utf8mb4`: the connection speaks utf8mb4 from the first byte; the
 *   dump's own `SET NAMES utf8mb4` follows, and hex blobs need no character set at all.
 * - `--max-allowed-packet=1G`: the client's side of the limit for long extended INSERTs (the
 *   server's max_allowed_packet still applies).
 * - no `--force`: the client stops at the first failing statement and names its line.
 */
export function clientArgs(defaultsFile: string, database: string): string[] {
  return [
    `--defaults-extra-file=${defaultsFile}`, '--binary-mode', '--default-character-set=utf8mb4', '--max-allowed-packet=1G',
    '--batch', `--database=${database}`,
  ]
}

export interface ClientExit {
  exitCode: number | undefined
  signal: string | undefined
  stderr: string
  /** The input failed (the backup could not be read or decompressed) before the client read it all. */
  inputError: Error | undefined
}

/** Pipes `input` into the client and resolves when it exited. */
export async function runClient(command: string, args: string[], env: Record<string, string>, input: Readable, signal: AbortSignal): Promise<ClientExit> {
  const child = execa(command, args, {
    stdin: 'pipe', stdout: 'ignore', stderr: 'pipe', buffer: false, reject: false, extendEnv: false, env, cancelSignal: signal, forceKillAfterDelay: 5000,
  })
  let stderr = ''
  child.stderr.setEncoding('utf8')
  child.stderr.on('data', (chunk: string) => {
    stderr = (stderr + chunk).slice(-64 * 1024)
  })
  // EPIPE when the client exits early (at the first error): its exit status says why.
  child.stdin.on('error', () => {})
  let inputError: Error | undefined
  input.on('error', (error) => {
    inputError = error
    child.stdin.destroy()
  })
  input.pipe(child.stdin)
  const result = await child
  input.unpipe(child.stdin)
  input.destroy()
  if ((result.cause as NodeJS.ErrnoException | undefined)?.code === 'ENOENT') {
    throw new DbkeeperError('TOOL_MISSING', `${command} is not installed (not found on PATH)`, { hint: 'install the client tools (Debian: mariadb-client)' })
  }
  if (result.isCanceled) throw new DbkeeperError('ABORTED', `${command} was stopped: the restore was aborted`)
  return { exitCode: result.exitCode, signal: result.signal, stderr: scrubSecrets(stderr).trim(), inputError }
}

/** "ERROR 1064 (42000) at line 12: You have an error …" */
const SQL_ERROR = /^ERROR (\d+) \(([0-9A-Z]{5})\)(?: at line (\d+))?: (.*)$/

/**
 * The verdict on a finished client: undefined when the whole dump ran. `where` names the target
 * ("database `shop` on db:3306"); `next` is the operator's way back (the safety backup).
 */
export function judgeClient(source: SourceConfig, command: string, exit: ClientExit, where: string, next: string): DbkeeperError | undefined {
  if (exit.inputError) {
    return new DbkeeperError('RESTORE_FAILED', `the backup could not be read while restoring into ${where}: ${exit.inputError.message}; the statements before that point did run`, {
      hint: `run \`dbkeeper verify\` on the backup; ${next}`, cause: exit.inputError,
    })
  }
  if (exit.exitCode === 0 && !exit.signal) return undefined
  const lines = exit.stderr.split('\n').map((l) => l.trim()).filter(Boolean)
  const sqlLine = lines.find((l) => SQL_ERROR.test(l))
  const m = sqlLine === undefined ? undefined : SQL_ERROR.exec(sqlLine)!
  const errno = m ? Number(m[1]) : undefined
  if (errno === 1045 || (errno === undefined && /Access denied for user/.test(exit.stderr))) {
    return new DbkeeperError('AUTH', `${command} could not log in to restore into ${where}: ${sqlLine ?? lastLines(exit.stderr, 1)}`, { hint: `check ${source.id}_USER / ${source.id}_PASS (or ${source.id}_PASS_FILE)` })
  }
  if (errno === 2002 || errno === 2003 || errno === 2005 || errno === 2013) {
    return new DbkeeperError('CONNECT', `${command} lost or could not reach the server restoring into ${where}: ${sqlLine}`, { hint: `check ${source.id}_HOST / ${source.id}_PORT and the server log; ${next}` })
  }
  if (errno === 1153) {
    const at = m![3] === undefined ? '' : ` at line ${m![3]} of the dump`
    return new DbkeeperError('RESTORE_FAILED', `the server refused a statement${at} longer than its max_allowed_packet, restoring into ${where}: ${sqlLine}`, {
      hint: `as an administrator of that server: SET GLOBAL max_allowed_packet = 1073741824; (and max_allowed_packet = 1G under [mysqld] in my.cnf to keep it), then restore again` +
        `${m![3] === undefined ? '' : ` — the statement's size: gunzip -c FILE | sed -n '${m![3]}p' | wc -c`}; backups taken by this version record the size they need, and dbkeeper restore raises the setting itself when its user has SUPER; ${next}`,
    })
  }
  if (m) {
    const privilege = errno === 1044 || errno === 1142 || errno === 1227 || errno === 1370
    const at = m[3] === undefined ? '' : ` at line ${m[3]} of the dump`
    return new DbkeeperError(privilege ? 'PRIVILEGE' : 'RESTORE_FAILED', `${command} stopped at the first failing statement${at}, restoring into ${where}: ${sqlLine}`, {
      hint: privilege
        ? `restoring needs a user with all privileges on the database (and SET USER / SUPER for the DEFINER of views, triggers and routines): run the restore with ${source.id}_USER set to such a user; ${next}`
        : `the statements before it did run; ${next}${m[3] === undefined ? '' : `; to see the statement: gunzip -c FILE | sed -n '${m[3]}p' | cut -c1-500`}`,
    })
  }
  const how = exit.signal ? `was killed by ${exit.signal}` : `exited ${exit.exitCode ?? '?'}`
  return new DbkeeperError('RESTORE_FAILED', `${command} ${how} restoring into ${where}: ${lastLines(exit.stderr, 3) || 'no message on stderr'}`, { hint: next })
}
