import { execa } from 'execa'
import { DbkeeperError } from '../runtime/errors.js'
import { scrubSecrets } from '../runtime/secrets.js'
import type { DumpProcess, DumpResult } from './engine.js'

const STDERR_TAIL_BYTES = 8192

/**
 * The environment a dump tool runs with: only what it needs, never the parent's (which holds the
 * DBnn_PASS variables). Engines add their own variables (e.g. PGPASSFILE).
 */
export function childEnv(extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = {}
  for (const key of ['PATH', 'HOME', 'LANG', 'LC_ALL', 'TZ', 'TMPDIR']) {
    const value = process.env[key]
    if (value !== undefined) env[key] = value
  }
  return { ...env, ...extra }
}

export interface ToolExit {
  exitCode: number | undefined
  signal: string | undefined
  stderr: string
}

export interface SpawnDumpOptions {
  env: Record<string, string>
  signal: AbortSignal
  /** Recorded in the manifest: the arguments without credentials. */
  options: string[]
  /**
   * Decides how the tool ended: undefined when the dump is good, else the error to reject with.
   * Called with the scrubbed stderr.
   */
  judge(exit: ToolExit): DbkeeperError | undefined
  /** Runs after the process ended, whatever happened (e.g. deletes a credentials file). */
  cleanup?: () => Promise<void>
}

/**
 * Starts a dump tool and pairs its stdout with a `done` promise that settles only once the process
 * exited: a stream that ended says nothing about whether the dump is complete.
 */
export function spawnDump(command: string, args: string[], opts: SpawnDumpOptions): DumpProcess {
  const child = execa(command, args, {
    buffer: false,
    stdin: 'ignore',
    stdout: 'pipe',
    stderr: 'pipe',
    reject: false,
    extendEnv: false,
    env: opts.env,
    cancelSignal: opts.signal,
    forceKillAfterDelay: 5000,
  })
  let stderr = ''
  child.stderr.setEncoding('utf8')
  child.stderr.on('data', (chunk: string) => {
    stderr = (stderr + chunk).slice(-STDERR_TAIL_BYTES)
  })

  const done = (async (): Promise<DumpResult> => {
    try {
      const result = await child
      const errno = (result.cause as NodeJS.ErrnoException | undefined)?.code
      if (errno === 'ENOENT') {
        throw new DbkeeperError('TOOL_MISSING', `${command} is not installed (not found on PATH)`, {
          hint: `install the database client tools that provide ${command} (Debian: mariadb-client or postgresql-client)`,
        })
      }
      const clean = scrubSecrets(stderr).trim()
      if (result.isCanceled) throw new DbkeeperError('ABORTED', `${command} was stopped: the run was aborted`)
      const verdict = opts.judge({ exitCode: result.exitCode, signal: result.signal, stderr: clean })
      if (verdict) throw withOutput(verdict, clean)
      return { options: opts.options, stderrTail: lastLines(clean, 10) }
    } finally {
      await opts.cleanup?.()
    }
  })()
  // The caller awaits `done` after the stream; keep an early rejection from being "unhandled".
  done.catch(() => {})
  return { stdout: child.stdout, done }
}

/**
 * The verdict names one line of stderr; the alert also shows the lines around it (what the tool
 * printed last), unless that one line is all there was.
 */
function withOutput(verdict: DbkeeperError, stderr: string): DbkeeperError {
  const tail = lastLines(stderr, 10).trim()
  if (tail === '' || verdict.output !== undefined || verdict.message.endsWith(tail)) return verdict
  return new DbkeeperError(verdict.code, verdict.message, { ...(verdict.hint ? { hint: verdict.hint } : {}), cause: verdict.cause, output: tail })
}

export function lastLines(text: string, n: number): string {
  return text.split('\n').slice(-n).join('\n')
}

/** "exited 2" / "was killed by SIGKILL" */
export function describeExit(exit: ToolExit): string {
  if (exit.signal) return `was killed by ${exit.signal}`
  return `exited ${exit.exitCode ?? '?'}`
}
