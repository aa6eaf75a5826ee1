/**
 * Versions: the server's, the client tools', and the one rule between them — a pg_dump older
 * than the server's major version cannot dump it (and peer tools that ignore this fail silently).
 */
import { execa } from 'execa'
import type { SourceConfig } from '../../config/types.js'
import { DbkeeperError } from '../../runtime/errors.js'
import { childEnv } from '../subprocess.js'
import { versionFix } from './errors.js'

/** 150020 → "15"; 90624 → "9.6" (before 10 the major version had two parts). */
export function majorFromVersionNum(num: number): string {
  return num >= 100_000
    ? String(Math.floor(num / 10_000))
    : `${Math.floor(num / 10_000)}.${Math.floor(num / 100) % 100}`
}

/** "pg_dump (PostgreSQL) 15.20 (Debian 15.20-0+deb12u1)" → { version: "15.20 (Debian …)", major: "15" } */
export function parseToolVersion(output: string): { version: string; major: string } | undefined {
  const m = /\(PostgreSQL\)\s+((\d+)(?:\.(\d+))?\S*(?:\s.*)?)$/m.exec(output.trim())
  if (!m) return undefined
  const first = Number(m[2])
  return { version: m[1]!.trim(), major: first >= 10 ? String(first) : `${first}.${m[3] ?? 0}` }
}

export function compareMajor(a: string, b: string): number {
  return Number(a) - Number(b)
}

/** The installed pg_dump's version, or TOOL_MISSING. */
export async function toolVersion(
  source: SourceConfig,
  tool: string,
  signal: AbortSignal,
): Promise<{ version: string; major: string }> {
  const r = await execa(tool, ['--version'], {
    env: childEnv({ LC_MESSAGES: 'C' }),
    extendEnv: false,
    reject: false,
    cancelSignal: signal,
    timeout: 30_000,
    stdin: 'ignore',
  })
  signal.throwIfAborted()
  if ((r.cause as NodeJS.ErrnoException | undefined)?.code === 'ENOENT') {
    throw new DbkeeperError('TOOL_MISSING', `${source.id}: ${tool} is not installed (not found on PATH)`, {
      hint: 'install postgresql-client (Debian/Ubuntu) in the dbkeeper image, at least the major version of the server',
    })
  }
  const parsed = r.exitCode === 0 ? parseToolVersion(r.stdout) : undefined
  if (!parsed) {
    throw new DbkeeperError(
      'TOOL_MISSING',
      `${source.id}: \`${tool} --version\` did not answer as PostgreSQL's ${tool} does (exit ${r.exitCode ?? '?'}: ${(r.stdout || r.stderr).trim().slice(0, 200)})`,
      { hint: `check which ${tool} is first on PATH` },
    )
  }
  return parsed
}

/** VERSION when the tool is older than the server: pg_dump refuses, or worse, a peer tool ignores the refusal. */
export function checkToolVersion(
  source: SourceConfig,
  tool: string,
  toolV: { version: string; major: string },
  serverVersion: string,
  serverMajor: string,
): void {
  if (compareMajor(toolV.major, serverMajor) >= 0) return
  throw new DbkeeperError(
    'VERSION',
    `${source.id}: ${tool} ${toolV.version} is older than the PostgreSQL ${serverVersion} server at ${source.id}_HOST=${source.host ?? 'localhost'}; ${tool} ${toolV.major} cannot dump a ${serverMajor} server`,
    { hint: versionFix(serverMajor) },
  )
}
