/**
 * Keeps one long-lived child running (an archiver: `litestream replicate`, later
 * `mariadb-binlog --stop-never`): its output goes line by line into our log, scrubbed of secrets;
 * when it dies it is started again after a backoff that doubles on each quick death (1 s, 2 s, 4 s
 * … up to `maxMs`) and starts over once a run lasted `resetAfterMs`. `stop()` sends SIGTERM
 * (Litestream syncs one last time on it), then SIGKILL after `killAfterMs`.
 *
 * Not subprocess.ts's runner: that one judges a tool that ends (its exit is the verdict, its
 * stderr a bounded tail); here the child is meant never to end, and every line matters as it comes.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { createInterface } from 'node:readline'
import { scrubSecrets } from '../runtime/secrets.js'

export interface ChildExit {
  code: number | null
  signal: NodeJS.Signals | null
  /** How long it ran. */
  ranMs: number
  /** Set when it could not be started at all (ENOENT: the binary is missing). */
  error?: NodeJS.ErrnoException
}

export interface SuperviseOptions {
  command: string
  args: readonly string[]
  env: Record<string, string>
  /** One line of its output, already scrubbed. */
  onLine(line: string, stream: 'stdout' | 'stderr'): void
  /** It ended while not being stopped; `restartInMs` is when it is started again. */
  onExit(exit: ChildExit, restartInMs: number): void
  onStart?(pid: number | undefined): void
  backoff?: { initialMs?: number; maxMs?: number; resetAfterMs?: number }
  killAfterMs?: number
}

export interface Supervised {
  /** The running child's pid; undefined between a death and its restart. */
  readonly pid: number | undefined
  /** Restarts after a death, since supervise(). */
  readonly restarts: number
  /** Stops it for good (idempotent); resolves once it exited. */
  stop(): Promise<void>
}

export function supervise(opts: SuperviseOptions): Supervised {
  const initialMs = opts.backoff?.initialMs ?? 1000
  const maxMs = opts.backoff?.maxMs ?? 60_000
  const resetAfterMs = opts.backoff?.resetAfterMs ?? 60_000
  let child: ChildProcess | undefined
  let exited: Promise<void> = Promise.resolve()
  let timer: NodeJS.Timeout | undefined
  let stopping = false
  let quickDeaths = 0
  let restarts = 0

  const start = () => {
    timer = undefined
    if (stopping) return
    const startedAt = Date.now()
    const c = spawn(opts.command, [...opts.args], { env: opts.env, stdio: ['ignore', 'pipe', 'pipe'] })
    child = c
    for (const stream of ['stdout', 'stderr'] as const) {
      createInterface({ input: c[stream] }).on('line', (line) => opts.onLine(scrubSecrets(line), stream))
    }
    let spawnError: Error | undefined
    c.on('error', (error) => (spawnError = error))
    exited = new Promise<void>((resolve) => {
      c.on('close', (code, signal) => {
        child = undefined
        resolve()
        if (stopping) return
        const ranMs = Date.now() - startedAt
        quickDeaths = ranMs >= resetAfterMs ? 0 : quickDeaths + 1
        const delay = Math.min(maxMs, initialMs * 2 ** Math.max(0, quickDeaths - 1))
        opts.onExit({ code, signal, ranMs, ...(spawnError ? { error: spawnError } : {}) }, delay)
        restarts++
        timer = setTimeout(start, delay)
      })
    })
    opts.onStart?.(c.pid)
  }
  start()

  return {
    get pid() {
      return child?.pid
    },
    get restarts() {
      return restarts
    },
    async stop() {
      stopping = true
      if (timer) clearTimeout(timer)
      const c = child
      if (c && c.exitCode === null && c.signalCode === null) {
        c.kill('SIGTERM')
        const kill = setTimeout(() => c.kill('SIGKILL'), opts.killAfterMs ?? 10_000)
        await exited
        clearTimeout(kill)
      }
    },
  }
}
