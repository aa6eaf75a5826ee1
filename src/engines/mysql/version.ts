import { execa } from 'execa'
import type { SourceConfig } from '../../config/types.js'
import { DbkeeperError } from '../../runtime/errors.js'
import { childEnv } from '../subprocess.js'

export type Flavour = 'mariadb' | 'mysql'

export interface DumpTool {
  /** The command run by name from PATH. */
  command: string
  /** e.g. "10.19 Distrib 10.11.19-MariaDB" or "8.0.36". */
  version: string
  flavour: Flavour
}

/** Tried in this order; Debian's MariaDB 11 packages may ship only `mariadb-dump`. */
export const DUMP_COMMANDS = ['mysqldump', 'mariadb-dump'] as const

/** MariaDB says so in every version string (server and client); MySQL, Percona and others do not. */
export function flavourOf(version: string): Flavour {
  return /mariadb/i.test(version) ? 'mariadb' : 'mysql'
}

/** The MariaDB release in a version string: "10.19 Distrib 10.11.19-MariaDB" and "10.11.19-MariaDB-log" → [10, 11]. */
function mariadbRelease(version: string): [number, number] | undefined {
  const m = /(\d+)\.(\d+)\.\d+-MariaDB/i.exec(version)
  return m ? [Number(m[1]), Number(m[2])] : undefined
}

/**
 * Whether the dump can carry system-versioned tables' history (`--dump-history`, with the
 * `system_versioning_insert_history` that loads it back): MariaDB 10.11 and later, the tool and
 * the server both. Without it a dump holds only the current rows.
 */
export function dumpsHistory(tool: DumpTool, serverVersion: string): boolean {
  const atLeast = (r: [number, number] | undefined) => r !== undefined && (r[0] > 10 || (r[0] === 10 && r[1] >= 11))
  return atLeast(mariadbRelease(tool.version)) && atLeast(mariadbRelease(serverVersion))
}

/**
 * The version part of `mysqldump --version`:
 *   "mysqldump  Ver 10.19 Distrib 10.11.19-MariaDB, for debian-linux-gnu (x86_64)" → "10.19 Distrib 10.11.19-MariaDB"
 *   "mariadb-dump from 11.4.2-MariaDB, client 10.19 for Linux (x86_64)"          → "11.4.2-MariaDB, client 10.19"
 *   "mysqldump  Ver 8.0.36 for Linux on x86_64 (MySQL Community Server - GPL)"  → "8.0.36"
 */
export function parseToolVersion(output: string): string {
  const line = output.trim().split('\n')[0] ?? ''
  const m = /\b(?:Ver|from)\s+(.+?),?\s+for\s/.exec(line)
  return (m?.[1] ?? line).trim()
}

/** `command --version`, never rejecting: the exit code, stdout and an ENOENT `cause` tell. */
export function askVersion(command: string, signal: AbortSignal) {
  return execa(command, ['--version'], {
    env: childEnv(),
    extendEnv: false,
    reject: false,
    stdin: 'ignore',
    timeout: 10_000,
    cancelSignal: signal,
  })
}

/**
 * Every dump command found on PATH, with its version, in DUMP_COMMANDS order. An empty list: none
 * installed. The commands are asked at once: each `--version` is a process start, serial on the way
 * to the dump otherwise.
 */
export async function findDumpTools(signal: AbortSignal): Promise<DumpTool[]> {
  const answers = await Promise.all(
    DUMP_COMMANDS.map(async (command) => {
      const r = await askVersion(command, signal)
      if ((r.cause as NodeJS.ErrnoException | undefined)?.code === 'ENOENT') return undefined
      if (r.exitCode !== 0) return undefined
      return { command, version: parseToolVersion(r.stdout), flavour: flavourOf(r.stdout) }
    }),
  )
  return answers.filter((t) => t !== undefined)
}

/**
 * Picks the dump tool that matches the server's flavour. A mismatch is refused rather than warned
 * about, because it fails *silently*:
 * - MySQL 8's mysqldump against MariaDB queries columns MariaDB lacks (COLUMN_STATISTICS,
 *   generation_expression) and has been seen to exit 0 after dumping only the first table's
 *   schema — an empty backup that looks fine.
 * - MariaDB's mysqldump against MySQL decides features by the numeric server version: it has
 *   dumped MySQL generated columns in a form that cannot be restored, and it breaks on MySQL's
 *   new version numbers. Neither shows as an error at backup time; both show up at restore time.
 */
export function chooseDumpTool(found: DumpTool[], serverVersion: string, source: SourceConfig): DumpTool {
  const want = flavourOf(serverVersion)
  const match = found.find((t) => t.flavour === want)
  if (match) return match
  if (found.length === 0) {
    throw new DbkeeperError(
      'TOOL_MISSING',
      `mysqldump is not installed (neither mysqldump nor mariadb-dump is on PATH)`,
      {
        hint: `install the client tools matching the server of ${source.id}: ${clientPackage(want)}`,
      },
    )
  }
  const have = found.map((t) => `${t.command} ${t.version}`).join(', ')
  throw new DbkeeperError(
    'VERSION',
    `the server of ${source.id} is ${want === 'mariadb' ? 'MariaDB' : 'MySQL'} ${serverVersion}, but the dump tool is ${have}: ` +
      `a ${found[0]!.flavour === 'mariadb' ? 'MariaDB' : 'MySQL'} mysqldump against a ${want === 'mariadb' ? 'MariaDB' : 'MySQL'} server can produce dumps that are incomplete or do not restore`,
    {
      hint: `install ${clientPackage(want)} where dbkeeper runs, or check ${source.id}_TYPE / ${source.id}_HOST point at the intended server`,
    },
  )
}

function clientPackage(flavour: Flavour): string {
  return flavour === 'mariadb'
    ? "MariaDB's client tools (Debian: mariadb-client)"
    : "MySQL's client tools (mysql-client from dev.mysql.com's APT repository)"
}
