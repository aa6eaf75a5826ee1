/**
 * The MySQL/MariaDB command-line client replaying a dump: which one, and with which options (its
 * exit is judged in errors.ts, it runs through subprocess.ts). The credentials reach it through the same 0600 defaults file as mysqldump's.
 */
import { askVersion, flavourOf, type Flavour } from './version.js'
import { DbkeeperError } from '../../runtime/errors.js'

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
    const r = await askVersion(command, signal)
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
 * - `--init-command`: a session setting the load or replay needs (needs-check.ts withoutAnnotations).
 */
export function clientArgs(defaultsFile: string, database: string, initCommand?: string): string[] {
  return [
    `--defaults-extra-file=${defaultsFile}`,
    '--binary-mode',
    '--default-character-set=utf8mb4',
    '--max-allowed-packet=1G',
    '--batch',
    ...(initCommand ? [`--init-command=${initCommand}`] : []),
    `--database=${database}`,
  ]
}
