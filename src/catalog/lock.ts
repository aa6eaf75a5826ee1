/**
 * The run lock in the backup volume, shared by the daemon and manual `docker exec` runs, so two runs
 * never write at once. The lock file records pid, host, boot id and the process start time; a lock
 * whose process is gone (same host: no such pid, or a pid reused by another process; another host:
 * no heartbeat for STALE_MS) is taken over with a log line instead of blocking every run for days.
 */
import { readFileSync } from 'node:fs'
import { link, open, readdir, readFile, rename, rm, stat, utimes, writeFile } from 'node:fs/promises'
import { hostname } from 'node:os'
import { dirname, join } from 'node:path'
import { STATE_DIR } from './naming.js'
import { DbkeeperError, toDbkeeperError } from '../runtime/errors.js'
import { failpoint } from '../runtime/failpoint.js'
import type { Logger } from '../runtime/logger.js'
import { DIR_MODE, ensureDir, FILE_MODE } from '../runtime/durable.js'

export interface LockInfo {
  pid: number
  host: string
  bootId: string
  /** The process's start time in clock ticks since boot (/proc/<pid>/stat field 22): tells a reused pid apart. */
  procStart: string
  startedAt: string
  command: string
}

const HEARTBEAT_MS = 30_000
const STALE_MS = 5 * 60_000
const POLL_MS = 500
/** A waiting run refreshes `<lock>.waiting` at every poll: fresh means someone is still waiting. */
const WAITER_FRESH_MS = 4 * POLL_MS

export interface AcquireOptions {
  command: string
  /** Poll until the lock is free instead of throwing LOCKED. */
  wait?: boolean
  signal?: AbortSignal
  logger?: Logger
  /**
   * A scheduled run (the daemon's): while another run waits for the lock (an operator's
   * `backup --wait`), it lets that one go first. Without this, a daemon whose runs follow each
   * other (a run that outlasts the schedule's interval is followed at once by a catch-up run)
   * takes the lock again within milliseconds of releasing it, and a waiting run, polling every
   * POLL_MS, never gets it.
   */
  background?: boolean
}

export interface Lock {
  readonly info: LockInfo
  release(): Promise<void>
}

function bootId(): string {
  try {
    return readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim()
  } catch {
    return ''
  }
}

function procStart(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    // The command name (field 2) may hold spaces and parentheses: count fields after the last ')'.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]
  } catch {
    return undefined
  }
}

export function lockPath(backupDir: string): string {
  return join(backupDir, STATE_DIR, 'lock')
}

/** Why the holder of `info` is gone, or undefined when it may still be running. */
export async function staleReason(info: LockInfo, path: string): Promise<string | undefined> {
  if (info.host === hostname() && info.bootId === bootId()) {
    const start = procStart(info.pid)
    if (start === undefined) return `process ${info.pid} is not running`
    if (info.procStart && start !== info.procStart) return `pid ${info.pid} now belongs to another process`
    return undefined
  }
  if (info.host === hostname() && info.bootId !== bootId()) return 'the machine restarted since it was taken'
  const age = Date.now() - (await stat(path)).mtimeMs
  return age > STALE_MS
    ? `its holder on host ${info.host} has not renewed it for ${Math.round(age / 1000)} s`
    : undefined
}

/** The lock's content; 'missing' when there is no lock file, 'unreadable' when it is not a lock. */
async function readLock(path: string): Promise<LockInfo | 'missing' | 'unreadable'> {
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'missing' : 'unreadable'
  }
  try {
    return JSON.parse(text) as LockInfo
  } catch {
    return 'unreadable'
  }
}

/** `<path>.<pid>.tmp`: where this process writes a lock file in full before it is put in place. */
function privateName(path: string): string {
  return `${path}.${process.pid}.tmp`
}

/** Writes `info` to `tmp`, replacing a leftover of ours, and makes it durable. */
async function writeLockFile(tmp: string, info: LockInfo): Promise<void> {
  await rm(tmp, { force: true })
  const handle = await open(tmp, 'wx', FILE_MODE)
  try {
    await handle.writeFile(JSON.stringify(info))
    await handle.sync()
  } finally {
    await handle.close()
  }
}

/**
 * Creates `path` holding `info`, or returns false when it exists. The content is written in full
 * under a private name and then linked into place (`link` fails on an existing name, like
 * O_EXCL): nobody ever reads a lock file that is still empty. (Created empty and written after,
 * a live holder's lock looked unreadable, so stale, to a run starting in that instant, which took
 * it over: two runs at once.)
 */
async function tryCreate(path: string, info: LockInfo): Promise<boolean> {
  const tmp = privateName(path)
  try {
    await writeLockFile(tmp, info)
    failpoint('lock.written')
    await link(tmp, path)
    return true
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false
    throw toDbkeeperError(error, `creating the lock file ${path}`)
  } finally {
    await rm(tmp, { force: true })
  }
}

/**
 * Removes the private files (`lock.<pid>.tmp`, `lock.takeover.<pid>.tmp`) of runs killed while
 * taking the lock: those whose process is gone, judged like a stale lock. Called by the holder.
 */
async function removeLeftovers(path: string): Promise<void> {
  const dir = join(path, '..')
  const name = path.slice(dir.length + 1)
  const pattern = new RegExp(`^${name}(\\.takeover)?\\.(\\d+)\\.tmp$`)
  for (const file of await readdir(dir).catch(() => [] as string[])) {
    const m = pattern.exec(file)
    if (!m || Number(m[2]) === process.pid) continue
    const leftover = join(dir, file)
    const info = await readLock(leftover)
    if (info === 'missing') continue
    const gone =
      info === 'unreadable'
        ? await stat(leftover).then(
            (st) => Date.now() - st.mtimeMs > STALE_MS,
            () => false,
          )
        : (await staleReason(info, leftover).catch(() => undefined)) !== undefined
    if (gone) await rm(leftover, { force: true })
  }
}

/**
 * Takes the lock, or throws LOCKED naming the holder. With `wait`, polls until it is free (or
 * `signal` aborts). Taking over a stale lock is itself guarded by a second `wx` file, so two
 * processes that both find the same stale lock cannot both take it.
 */
export async function acquireLock(backupDir: string, opts: AcquireOptions): Promise<Lock> {
  const lock = await takeLock(backupDir, opts)
  const path = lockPath(backupDir)
  // Taken: no one is waiting for it now (a run still waiting says so again at its next poll).
  await rm(waitingPath(path), { force: true }).catch(() => undefined)
  await removeLeftovers(path).catch(() => undefined)
  return lock
}

function waitingPath(path: string): string {
  return `${path}.waiting`
}

/** Whether a run is waiting for the lock (it refreshed the marker within WAITER_FRESH_MS). */
async function someoneWaits(path: string): Promise<boolean> {
  return stat(waitingPath(path)).then(
    (s) => Date.now() - s.mtimeMs < WAITER_FRESH_MS,
    () => false,
  )
}

async function takeLock(backupDir: string, opts: AcquireOptions): Promise<Lock> {
  await ensureDir(join(backupDir, STATE_DIR), DIR_MODE, dirname(backupDir))
  const path = lockPath(backupDir)
  const info: LockInfo = {
    pid: process.pid,
    host: hostname(),
    bootId: bootId(),
    procStart: procStart(process.pid) ?? '',
    startedAt: new Date().toISOString(),
    command: opts.command,
  }
  for (;;) {
    const yielding = opts.background === true && opts.wait === true && (await someoneWaits(path))
    if (!yielding) {
      if (await tryCreate(path, info)) return held(path, info)
      const holder = await readLock(path)
      // Released in between: try again at once.
      if (holder === 'missing') continue
      const reason =
        holder === 'unreadable' ? 'the lock file is unreadable' : await staleReason(holder, path).catch(() => undefined)
      if (reason && (await takeOver(path, holder, info))) {
        opts.logger?.warn({ holder, reason }, `took over a stale lock: ${reason}`)
        return held(path, info)
      }
      if (!opts.wait) {
        const who =
          holder !== 'unreadable'
            ? `pid ${holder.pid} on ${holder.host} (${holder.command}, since ${holder.startedAt})`
            : 'another process'
        throw new DbkeeperError('LOCKED', `another dbkeeper run holds the lock: ${who}`, {
          hint: `wait for it to finish or run with --wait; if that process is surely gone, remove ${path}`,
        })
      }
    }
    if (opts.signal?.aborted) throw new DbkeeperError('ABORTED', 'stopped while waiting for the lock')
    // Say that we wait (a scheduled run lets us go first); best effort, e.g. on a full volume.
    if (opts.background !== true) await writeFile(waitingPath(path), '', { mode: FILE_MODE }).catch(() => undefined)
    await new Promise((r) => setTimeout(r, POLL_MS))
  }
}

async function takeOver(path: string, stale: LockInfo | 'unreadable', info: LockInfo): Promise<boolean> {
  const guard = `${path}.takeover`
  const guardAge = await stat(guard).then(
    (s) => Date.now() - s.mtimeMs,
    () => undefined,
  )
  if (guardAge !== undefined && guardAge > 60_000) await rm(guard, { force: true })
  if (!(await tryCreate(guard, info))) return false
  try {
    const current = await readLock(path)
    if (JSON.stringify(current) !== JSON.stringify(stale)) return false
    const tmp = privateName(path)
    try {
      await writeLockFile(tmp, info)
      await rename(tmp, path)
    } finally {
      await rm(tmp, { force: true })
    }
    return true
  } finally {
    await rm(guard, { force: true })
  }
}

function held(path: string, info: LockInfo): Lock {
  // Renew the mtime so that a holder on another host sharing the volume can tell we are alive.
  const timer = setInterval(() => {
    const now = new Date()
    utimes(path, now, now).catch(() => {})
  }, HEARTBEAT_MS)
  timer.unref()
  return {
    info,
    async release() {
      clearInterval(timer)
      const current = await readLock(path)
      if (typeof current === 'object' && current.pid === info.pid && current.startedAt === info.startedAt)
        await rm(path, { force: true })
    },
  }
}
