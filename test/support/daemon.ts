/**
 * `dbkeeper daemon` as a separate process for end-to-end tests: its JSON log lines as they come,
 * signals, the exit, and bounded polling that fails with the daemon's log tail. Every daemon
 * started here is SIGKILLed by `killDaemons()` (call it in afterEach) if a test left it running.
 */
import Database from 'better-sqlite3'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach } from 'vitest'
import { startCli } from './cli.js'
import { freePort } from './servers.js'

export const EVERY_SECOND = '* * * * * *'
/** Once a year (1 January): never fires during a test. */
export const FAR_AWAY = '0 0 1 1 *'
/**
 * Per daemon test. A test takes 2–7 s on an idle machine; on a loaded 2-core CI runner a daemon's
 * start and one run can take 10 s each, and each wait (`until`, 45 s) must fail first, with its message.
 */
export const LOADED_MACHINE_TIMEOUT_MS = 150_000

export interface LogLine {
  level: number
  /** Epoch ms, parsed from the line's ISO 8601 `time` so that tests compare it with Date.now(). */
  time: number
  msg: string
  [key: string]: unknown
}

export interface DaemonProcess {
  readonly pid: number
  /** stdout and stderr so far (stdout is the JSON log). */
  output(): string
  /** The JSON log lines so far. */
  logs(): LogLine[]
  /** The first log line that matches, waiting for it up to `timeoutMs`. */
  waitForLog(match: (line: LogLine) => boolean, what: string, timeoutMs?: number): Promise<LogLine>
  signal(sig: NodeJS.Signals): void
  running(): boolean
  /** Settles when the process has ended. */
  readonly exited: Promise<{ exitCode: number | undefined; signal: string | undefined }>
}

const started = new Set<{ kill: (sig: NodeJS.Signals) => boolean; done: Promise<unknown> }>()

export function startDaemon(env: Record<string, string>): DaemonProcess {
  const child = startCli(['daemon'], env)
  let out = ''
  let ended = false
  child.stdout?.on('data', (chunk: Buffer) => (out += chunk.toString()))
  child.stderr?.on('data', (chunk: Buffer) => (out += chunk.toString()))
  const exited = child.then((r) => {
    ended = true
    return { exitCode: r.exitCode, signal: r.signal }
  })
  const entry = { kill: (sig: NodeJS.Signals) => child.kill(sig), done: exited }
  started.add(entry)
  void exited.then(() => started.delete(entry))
  const logs = (): LogLine[] =>
    out.split('\n').flatMap((l) => {
      if (!l.startsWith('{')) return []
      try {
        const line = JSON.parse(l) as LogLine
        line.time = Date.parse(String(line.time)) // written as ISO 8601
        return [line]
      } catch {
        return [] // a line still being written
      }
    })
  const daemon: DaemonProcess = {
    pid: child.pid ?? -1,
    output: () => out,
    logs,
    waitForLog: (match, what, timeoutMs = 45_000) =>
      until(() => logs().find(match), what, { timeoutMs, context: () => out }),
    signal: (sig) => {
      // Not child.kill(): execa follows it with SIGKILL after 5 s (forceKillAfterDelay), which
      // would cut short exactly the graceful shutdown these tests watch.
      if (!ended && child.pid !== undefined) process.kill(child.pid, sig)
    },
    running: () => !ended,
    exited,
  }
  return daemon
}

/** SIGKILLs every daemon still running and waits for it to end. */
export async function killDaemons(): Promise<void> {
  const all = [...started]
  for (const d of all) d.kill('SIGKILL')
  await Promise.all(all.map((d) => d.done))
}

/**
 * Polls `probe` every `intervalMs` until it returns something other than undefined/false/null,
 * and returns that; fails after `timeoutMs` naming `what`, with the tail of `context()` (the
 * daemon's log) to show what happened instead. A probe that throws counts as "not yet".
 */
export async function until<T>(
  probe: () => T | undefined | null | false | Promise<T | undefined | null | false>,
  what: string,
  opts: { timeoutMs?: number; intervalMs?: number; context?: () => string } = {},
): Promise<T> {
  const timeoutMs = opts.timeoutMs ?? 45_000
  const deadline = Date.now() + timeoutMs
  let lastError: unknown
  for (;;) {
    try {
      const value = await probe()
      if (value !== undefined && value !== null && value !== false) return value
    } catch (error) {
      lastError = error
    }
    if (Date.now() > deadline) {
      const tail = opts.context
        ? `\n--- daemon output (tail) ---\n${opts.context().split('\n').slice(-25).join('\n')}`
        : ''
      const last = lastError ? `\nlast error: ${(lastError as Error).message}` : ''
      throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}${last}${tail}`)
    }
    await new Promise((r) => setTimeout(r, opts.intervalMs ?? 150))
  }
}

/** GET on the daemon's health server. */
export async function httpGet(port: number, path: string): Promise<{ status: number; body: string }> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`, { signal: AbortSignal.timeout(10_000) })
  return { status: res.status, body: await res.text() }
}

/** The value of one Prometheus series (`name` or `name{a="b",…}` exactly), or undefined. */
export function metricValue(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `))
  return line === undefined ? undefined : Number(line.slice(series.length + 1))
}

/** The run lock the daemon and manual runs share, parsed; undefined while nobody holds it. */
export async function readLockFile(backupDir: string): Promise<{ pid: number; command: string } | undefined> {
  try {
    return JSON.parse(await readFile(join(backupDir, '.dbkeeper', 'lock'), 'utf8')) as { pid: number; command: string }
  } catch {
    return undefined
  }
}

/**
 * Holds an EXCLUSIVE lock on a rollback-journal SQLite database: every reader, the backup's
 * snapshot included, waits (busy) until `release()`. This makes "a run is in progress" a state
 * the test controls instead of a race against the size of the database.
 */
export function holdSqliteLock(path: string): { release(): void } {
  const db = new Database(path)
  db.pragma('journal_mode = DELETE')
  db.exec('BEGIN EXCLUSIVE')
  let held = true
  return {
    release() {
      if (!held) return
      held = false
      db.exec('COMMIT')
      db.close()
    },
  }
}

export interface DaemonTestContext {
  /** A fresh temporary directory per test, removed after it. */
  readonly dir: string
  readonly backupDir: string
  /** Where the test puts DB01's SQLite file (not created). */
  readonly dbPath: string
  /** A free port for HEALTH_PORT. */
  readonly healthPort: number
  /** The environment of a daemon with DB01 = the SQLite file at dbPath, labelled `app`. */
  env(extra?: Record<string, string>): Record<string, string>
  /** Runs after the test, after its daemons were killed (newest first). */
  defer(cleanup: () => Promise<void> | void): void
}

/**
 * Registers beforeEach/afterEach for daemon tests: a fresh directory and health port per test;
 * afterwards every daemon still running is killed, then deferred cleanups run, then the directory goes.
 */
export function daemonTestContext(prefix: string): DaemonTestContext {
  const cleanups: (() => Promise<void> | void)[] = []
  const ctx = {
    dir: '',
    backupDir: '',
    dbPath: '',
    healthPort: 0,
    env(extra: Record<string, string> = {}): Record<string, string> {
      return {
        BACKUP_DIR: ctx.backupDir,
        DB01_TYPE: 'sqlite',
        DB01_PATH: ctx.dbPath,
        DB01_LABEL: 'app',
        HEALTH_PORT: String(ctx.healthPort),
        TZ: 'UTC',
        ...extra,
      }
    },
    defer(cleanup: () => Promise<void> | void): void {
      cleanups.push(cleanup)
    },
  }
  beforeEach(async () => {
    ctx.dir = await mkdtemp(join(tmpdir(), prefix))
    ctx.backupDir = join(ctx.dir, 'backups')
    ctx.dbPath = join(ctx.dir, 'app.db')
    ctx.healthPort = await freePort()
  })
  afterEach(async () => {
    await killDaemons()
    for (const c of cleanups.splice(0).reverse()) await c()
    await rm(ctx.dir, { recursive: true, force: true })
  })
  return ctx
}
