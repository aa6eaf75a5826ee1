/**
 * THE runner of child processes (dump tools, client tools replaying a dump, pg_restore turning an
 * archive into SQL, the SQLite inspection child). Written once, as execa's result object is:
 * - stdin fed from a Readable (`input`), never destroyed by the runner: when the tool exits before
 *   reading it all, `input` is unpiped and drained, so that a tee feeding it elsewhere is not
 *   stalled; a failing `input` (a corrupt gzip) closes the tool's stdin and is reported as
 *   `inputError`;
 * - EPIPE on stdin when the tool exits early is the tool's failure, judged by its exit, never ours;
 * - stderr kept bounded (its first or its last bytes), scrubbed of secrets (runtime/secrets.ts);
 * - aborting `signal` kills the tool (SIGKILL 5 s after SIGTERM) and rejects with ABORTED;
 * - a missing command rejects with TOOL_MISSING;
 * - the exit judged in one place: `judge` turns the exit into the error to reject with.
 */
import type { Readable } from 'node:stream'
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
  /** Scrubbed of secrets, trimmed, bounded (ToolOptions.stderr). */
  stderr: string
  /** The input stream failed (the backup could not be read or decompressed) before the tool read it all. */
  inputError?: Error | undefined
}

export interface ToolOptions {
  env: Record<string, string>
  signal?: AbortSignal | undefined
  /** Fed to the tool's stdin; absent: stdin is closed. */
  input?: Readable | undefined
  /** Which bytes of stderr to keep, and how many: the last (default) or the first. */
  stderr?: { keep: 'head' | 'tail'; bytes: number }
  /**
   * `runTool` only: the tool logs its errors to stdout (Litestream's logger), so its stdout is kept
   * with stderr, in the order it came, for `judge` and the message; otherwise stdout is discarded.
   */
  logsToStdout?: boolean
  /** The hint of TOOL_MISSING. */
  installHint?: string
  /** The message of ABORTED (default: "<command> was stopped: the run was aborted"). */
  abortedMessage?: string
  /**
   * Decides how the tool ended: undefined when it did its job, else the error to reject with.
   * Absent: the exit is returned as it is.
   */
  judge?(exit: ToolExit): DbkeeperError | undefined
  /** Runs after the process ended, whatever happened (e.g. deletes a credentials file). */
  cleanup?: () => Promise<void>
}

export interface RunningTool {
  /** The tool's stdout (`startTool`), to be read by the caller. */
  stdout: Readable
  /** Settles once the process exited (and `cleanup` ran): the exit, or the judged error. */
  exit: Promise<ToolExit>
}

/**
 * Starts a tool whose stdout the caller reads, whenever it starts to: the stream is paused, so the
 * tool waits on its pipe until then. Left unpaused, execa (`buffer: false`) resumes a stream nobody
 * reads by the next turn of the event loop and the output is thrown away: a consumer attached one
 * turn late would read a dump without its beginning. So the caller reads with `pipe`/`pipeline`,
 * `for await` or `resume()` (a bare 'data' listener does not start a paused stream), or aborts.
 */
export function startTool(command: string, args: string[], opts: ToolOptions): RunningTool {
  const tool = start(command, args, opts, 'pipe') as RunningTool
  tool.stdout.pause()
  return tool
}

/** Runs a tool whose stdout is not wanted (a client replaying a dump) and waits for its exit. */
export function runTool(command: string, args: string[], opts: ToolOptions): Promise<ToolExit> {
  return start(command, args, opts, opts.logsToStdout ? 'log' : 'ignore').exit
}

/** Runs a tool and collects its whole stdout (small answers: a version line, a child's JSON). */
export async function runToolForOutput(
  command: string,
  args: string[],
  opts: ToolOptions,
): Promise<ToolExit & { stdout: string }> {
  const running = start(command, args, opts, 'pipe') as RunningTool
  let stdout = ''
  running.stdout.setEncoding('utf8')
  running.stdout.on('data', (chunk: string) => {
    stdout += chunk
  })
  const exit = await running.exit
  return { ...exit, stdout }
}

function start(
  command: string,
  args: string[],
  opts: ToolOptions,
  stdout: 'pipe' | 'ignore' | 'log',
): { stdout: Readable | null; exit: Promise<ToolExit> } {
  const { input } = opts
  const child = execa(command, args, {
    buffer: false,
    stdin: input ? 'pipe' : 'ignore',
    stdout: stdout === 'ignore' ? 'ignore' : 'pipe',
    stderr: 'pipe',
    reject: false,
    extendEnv: false,
    env: opts.env,
    cancelSignal: opts.signal,
    forceKillAfterDelay: 5000,
  })
  const keep = opts.stderr ?? { keep: 'tail', bytes: STDERR_TAIL_BYTES }
  let stderr = ''
  const onOutput = (chunk: string) => {
    if (keep.keep === 'tail') stderr = (stderr + chunk).slice(-keep.bytes)
    else if (stderr.length < keep.bytes) stderr += chunk
  }
  child.stderr.setEncoding('utf8')
  child.stderr.on('data', onOutput)
  if (stdout === 'log') {
    child.stdout!.setEncoding('utf8')
    child.stdout!.on('data', onOutput)
  }

  let inputError: Error | undefined
  const onInputError = (error: Error) => {
    inputError = error
    child.stdin?.destroy()
  }
  if (input) {
    // EPIPE when the tool exits before reading everything: its exit status tells what happened.
    child.stdin!.on('error', () => {})
    input.on('error', onInputError)
    input.pipe(child.stdin!)
  }

  const exit = (async (): Promise<ToolExit> => {
    try {
      const result = await child
      const errno = (result.cause as NodeJS.ErrnoException | undefined)?.code
      if (errno === 'ENOENT') {
        throw new DbkeeperError('TOOL_MISSING', `${command} is not installed (not found on PATH)`, {
          hint:
            opts.installHint ??
            `install the database client tools that provide ${command} (Debian: mariadb-client or postgresql-client)`,
        })
      }
      if (result.isCanceled)
        throw new DbkeeperError('ABORTED', opts.abortedMessage ?? `${command} was stopped: the run was aborted`)
      const done: ToolExit = {
        exitCode: result.exitCode,
        signal: result.signal,
        stderr: scrubSecrets(stderr).trim(),
        inputError,
      }
      const verdict = opts.judge?.(done)
      if (verdict) throw verdict
      return done
    } finally {
      if (input) releaseInput(input, child.stdin!, onInputError)
      await opts.cleanup?.()
    }
  })()
  // The caller may await `exit` only after reading stdout; keep an early rejection from being "unhandled".
  exit.catch(() => {})
  return { stdout: stdout === 'log' ? null : child.stdout, exit }
}

/** The input is the caller's: unpiped, and drained when the tool left some, never destroyed. */
function releaseInput(input: Readable, stdin: NodeJS.WritableStream, onInputError: (error: Error) => void): void {
  input.off('error', onInputError)
  if (input.readableEnded) return
  input.unpipe(stdin)
  // Drained only to unblock others: a later error of ours to ignore, not to crash on.
  input.on('error', () => {})
  input.resume()
}

/**
 * Starts a dump tool and pairs its stdout with a `done` promise that settles only once the process
 * exited: a stream that ended says nothing about whether the dump is complete.
 */
export function spawnDump(
  command: string,
  args: string[],
  opts: Required<Pick<ToolOptions, 'env' | 'judge'>> &
    Pick<ToolOptions, 'cleanup'> & { signal: AbortSignal; options: string[] },
): DumpProcess {
  const judge = (exit: ToolExit) => {
    const verdict = opts.judge(exit)
    return verdict && withOutput(verdict, exit.stderr)
  }
  const tool = startTool(command, args, {
    env: opts.env,
    signal: opts.signal,
    judge,
    ...(opts.cleanup ? { cleanup: opts.cleanup } : {}),
  })
  const done = tool.exit.then((exit): DumpResult => ({ options: opts.options, stderrTail: lastLines(exit.stderr, 10) }))
  done.catch(() => {})
  return { stdout: tool.stdout, done }
}

/** A word as the shell reads it back, for a command the operator copies: bare when safe, else single-quoted. */
export function shellWord(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`
}

/**
 * The verdict names one line of stderr; the alert also shows the lines around it (what the tool
 * printed last), unless that one line is all there was.
 */
function withOutput(verdict: DbkeeperError, stderr: string): DbkeeperError {
  const tail = lastLines(stderr, 10).trim()
  if (tail === '' || verdict.output !== undefined || verdict.message.endsWith(tail)) return verdict
  return new DbkeeperError(verdict.code, verdict.message, {
    ...(verdict.hint ? { hint: verdict.hint } : {}),
    cause: verdict.cause,
    output: tail,
  })
}

export function lastLines(text: string, n: number): string {
  return text.split('\n').slice(-n).join('\n')
}

/** "exited 2" / "was killed by SIGKILL" */
export function describeExit(exit: ToolExit): string {
  if (exit.signal) return `was killed by ${exit.signal}`
  return `exited ${exit.exitCode ?? '?'}`
}
