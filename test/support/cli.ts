import { execa } from 'execa'
import { fileURLToPath } from 'node:url'
import { inject } from 'vitest'
import type { ListedBackup } from '../../src/cli/commands/list.js'

export const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const SOURCE_MAIN = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url))

/**
 * The compiled CLI of this test run when the global setup built it, else the source through tsx.
 * `status` runs the status build (`main-status.js`), as bin/dbkeeper.js does in the image.
 */
function cliArgs(command?: string): string[] {
  let built: string | undefined
  try {
    built = inject('cliEntry')
  } catch {
    built = undefined
  }
  if (built && command === 'status') built = built.replace(/main\.js$/, 'main-status.js')
  return built ? [built] : ['--import', 'tsx', SOURCE_MAIN]
}

export interface CliResult {
  exitCode: number
  stdout: string
  stderr: string
  /** stdout + stderr, for "this text appears nowhere" assertions. */
  all: string
}

export interface CliOptions {
  /** Prepended to PATH (fixture scripts that stand in for a dump tool). */
  pathPrepend?: string
  cwd?: string
  timeoutMs?: number
  /** A command the CLI runs under, e.g. `['prlimit', '--fsize=262144', '--']`. */
  under?: string[]
}

/** The command line and environment of one CLI process: exactly `env` (plus PATH/HOME), as cron or `docker exec` would. */
function cliCommand(
  args: string[],
  env: Record<string, string>,
  opts: CliOptions,
): [string, string[], { env: Record<string, string | undefined>; extendEnv: false; cwd: string; stdin: 'ignore' }] {
  const path = [opts.pathPrepend, process.env.PATH].filter(Boolean).join(':')
  const argv = [process.execPath, ...cliArgs(args[0]), ...args]
  const [file, ...rest] = [...(opts.under ?? []), ...argv]
  return [
    file!,
    rest,
    {
      env: { PATH: path, HOME: process.env.HOME ?? '/root', LOG_FORMAT: 'json', ...env },
      extendEnv: false,
      cwd: opts.cwd ?? ROOT,
      stdin: 'ignore',
    },
  ]
}

/**
 * Runs the real CLI (`src/cli/main.ts` through tsx) as a separate process with exactly `env`
 * (plus PATH/HOME), as cron or `docker exec` would.
 */
export async function runCli(args: string[], env: Record<string, string>, opts: CliOptions = {}): Promise<CliResult> {
  const [file, argv, options] = cliCommand(args, env, opts)
  const r = await execa(file, argv, { ...options, reject: false, timeout: opts.timeoutMs ?? 120_000 })
  return { exitCode: r.exitCode ?? -1, stdout: r.stdout, stderr: r.stderr, all: `${r.stdout}\n${r.stderr}` }
}

/** Starts the CLI without waiting (for concurrency tests and process inspection). */
export function startCli(args: string[], env: Record<string, string>, opts: CliOptions = {}) {
  const [file, argv, options] = cliCommand(args, env, opts)
  return execa(file, argv, {
    ...options,
    reject: false,
    // A test's SIGTERM must stay a SIGTERM: graceful shutdowns are what is being tested.
    forceKillAfterDelay: false,
  })
}

/** `dbkeeper list --json [ARGS]`, which must succeed: the backups as scripts see them. */
export async function listJson(
  env: Record<string, string>,
  args: string[] = [],
  opts: CliOptions = {},
): Promise<ListedBackup[]> {
  const r = await runCli(['list', '--json', ...args], env, opts)
  if (r.exitCode !== 0) throw new Error(`dbkeeper list failed (exit ${r.exitCode}):\n${r.all.slice(-2000)}`)
  return JSON.parse(r.stdout) as ListedBackup[]
}
