/**
 * Shared by the fault-injection tests (issue 10): what a backup volume holds before and after a
 * fault (through the real CLI: `list --json`, `verify ID`), the debris a killed run may leave on
 * disk, and the processes of a run (/proc): stopped at a failpoint, their children, their I/O.
 */
import { readdirSync, readFileSync } from 'node:fs'
import { readdir, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { runCli } from '../cli.js'
import { until } from '../daemon.js'

export interface Listed {
  id: string
  source: string
  database: string
  engine: string
  time: string
  path: string
  size: number
  sha256: string
  location: 'local' | 's3' | 'both'
  problem?: string
}

export const keyOf = (b: Pick<Listed, 'source' | 'id'>): string => `${b.source}/${b.id}`

/** `dbkeeper list --json`, which must succeed. */
export async function listJson(env: Record<string, string>): Promise<Listed[]> {
  const r = await runCli(['list', '--json'], env)
  if (r.exitCode !== 0) throw new Error(`dbkeeper list failed (exit ${r.exitCode}):\n${r.all.slice(-2000)}`)
  return JSON.parse(r.stdout) as Listed[]
}

/** Runs `fn` over `items`, at most `limit` at once. */
export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array<R>(items.length)
  let next = 0
  const worker = async () => {
    while (next < items.length) {
      const i = next++
      out[i] = await fn(items[i]!)
    }
  }
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker))
  return out
}

/**
 * `dbkeeper verify ID --source S` for each backup (the full read-back); returns the keys of
 * those that did not verify, each with the CLI's last words.
 */
export async function verifyEach(env: Record<string, string>, backups: readonly Listed[]): Promise<Map<string, string>> {
  const failed = new Map<string, string>()
  await mapLimit(backups, 3, async (b) => {
    const r = await runCli(['verify', b.id, '--source', b.source], env)
    if (r.exitCode !== 0) failed.set(keyOf(b), `exit ${r.exitCode}: ${r.all.trim().split('\n').slice(-3).join(' | ')}`)
  })
  return failed
}

export interface LossReport {
  /** Proven backups (local, or their off-site copy) lost to the fault. */
  lost: number
  details: string[]
}

/**
 * Counts what the fault cost: every backup proven before it (listed, no problem) must still be
 * listed with the same sha256, still verify, and keep its off-site copy — unless `mayGo` says the
 * retention policy was entitled to remove it in that run. Also throws when anything listed after
 * the fault does not verify or carries a problem: a listed backup that is not proven is debris
 * that got listed, which is a failure even when nothing was lost.
 */
export async function assessLoss(env: Record<string, string>, before: readonly Listed[], after: readonly Listed[], mayGo: (b: Listed) => boolean = () => false): Promise<LossReport> {
  const details: string[] = []
  const damaged = after.filter((a) => a.problem !== undefined || a.location === 's3')
  const failed = await verifyEach(env, after.filter((a) => a.location !== 's3'))
  const byKey = new Map(after.map((a) => [keyOf(a), a]))
  const proven = before.filter((b) => b.problem === undefined)
  let lost = 0
  for (const b of proven) {
    const a = byKey.get(keyOf(b))
    const why = !a
      ? (mayGo(b) ? undefined : 'no longer listed')
      : a.sha256 !== b.sha256 ? `sha256 changed (${b.sha256} → ${a.sha256})`
        : a.problem !== undefined ? `now damaged: ${a.problem}`
          : a.location === 's3' ? 'the local copy is gone'
            : failed.has(keyOf(a)) ? `does not verify: ${failed.get(keyOf(a))}`
              : b.location === 'both' && a.location === 'local' && !mayGo(b) ? 'its off-site copy is gone'
                : undefined
    if (why) {
      lost += 1
      details.push(`${keyOf(b)}: ${why}`)
    }
  }
  const beforeKeys = new Set(proven.map(keyOf))
  const listedUnproven = [
    ...damaged.filter((a) => !beforeKeys.has(keyOf(a))).map((a) => `${keyOf(a)} listed with problem ${a.problem ?? a.location}`),
    ...[...failed].filter(([k]) => !beforeKeys.has(k)).map(([k, why]) => `${k} listed but ${why}`),
  ]
  if (listedUnproven.length > 0) throw new Error(`debris is listed as a backup:\n${listedUnproven.join('\n')}`)
  return { lost, details }
}

/**
 * What a killed run may leave on disk and the next run must remove: temporary files, data files
 * and checksums without a manifest, per-run work directories. Relative paths.
 */
export async function debrisOnDisk(backupDir: string): Promise<string[]> {
  const found: string[] = []
  const walk = async (dir: string, rel: string): Promise<void> => {
    const entries = await readdir(dir, { withFileTypes: true }).catch(() => [])
    const names = new Set(entries.map((e) => e.name))
    for (const e of entries) {
      const path = rel ? `${rel}/${e.name}` : e.name
      if (path.startsWith('.dbkeeper/lock')) {
        // The run lock's private files (lock.<pid>.tmp) of a run killed while taking it.
        if (path !== '.dbkeeper/lock') found.push(path)
      } else if (e.isDirectory()) {
        if (path === '.dbkeeper/tmp') {
          for (const w of await readdir(join(dir, e.name)).catch(() => [] as string[])) found.push(`${path}/${w}`)
        } else await walk(join(dir, e.name), path)
      } else if (e.name.endsWith('.dbk-tmp')) found.push(path)
      else if (/_\d{8}T\d{6}Z\.(sql|db|dump)(\.gz|\.zst)?$/.test(e.name) && !names.has(`${e.name}.manifest.json`)) found.push(path)
      else if (e.name.endsWith('.sha256') && !names.has(e.name.slice(0, -'.sha256'.length))) found.push(path)
    }
  }
  await walk(backupDir, '')
  return found.sort()
}

/** The temporary files (`.NAME.dbk-tmp`) under `dir`, recursively, with their sizes. */
export async function tempFiles(dir: string): Promise<{ path: string; size: number }[]> {
  const out: { path: string; size: number }[] = []
  const walk = async (d: string): Promise<void> => {
    for (const e of await readdir(d, { withFileTypes: true }).catch(() => [])) {
      const p = join(d, e.name)
      if (e.isDirectory()) await walk(p)
      else if (e.name.endsWith('.dbk-tmp')) out.push({ path: p, size: await stat(p).then((s) => s.size, () => 0) })
    }
  }
  await walk(dir)
  return out
}

// ---------------------------------------------------------------- processes (/proc)

/** State letter (R, S, D, T, Z…) and parent of a process, or undefined when it is gone. */
export function procStat(pid: number): { state: string; ppid: number } | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8')
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' ')
    return { state: fields[0]!, ppid: Number(fields[1]) }
  } catch {
    return undefined
  }
}

export function cmdline(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim()
  } catch {
    return ''
  }
}

/** Every live descendant of `pid` (children, their children…). */
export function descendants(pid: number): number[] {
  const parent = new Map<number, number>()
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue
    const s = procStat(Number(name))
    if (s) parent.set(Number(name), s.ppid)
  }
  const out: number[] = []
  const queue = [pid]
  while (queue.length > 0) {
    const p = queue.shift()!
    for (const [child, pp] of parent) {
      if (pp === p) {
        out.push(child)
        queue.push(child)
      }
    }
  }
  return out
}

/** Bytes the process has read and written so far (/proc/PID/io: rchar, wchar). */
export function procIo(pid: number): { rchar: number; wchar: number } | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/io`, 'utf8')
    const get = (k: string) => Number(new RegExp(`^${k}: (\\d+)$`, 'm').exec(text)?.[1] ?? NaN)
    return { rchar: get('rchar'), wchar: get('wchar') }
  } catch {
    return undefined
  }
}

/** Polls `probe` (an observation of a running process) every 5 ms; fails when the process ends first. */
export async function whileRunning<T>(ended: () => boolean, probe: () => T | undefined | false | Promise<T | undefined | false>, what: string, timeoutMs = 90_000): Promise<T> {
  return until(async () => {
    if (ended()) throw new Error(`the run ended before ${what}`)
    return probe()
  }, what, { timeoutMs, intervalMs: 5 })
}

/** Waits until `pid` stopped itself (SIGSTOP at a failpoint: state T). */
export async function waitStopped(pid: number, ended: () => boolean, failpoint: string, timeoutMs = 90_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const s = procStat(pid)
    if (s?.state === 'T' || s?.state === 't') return
    if (ended() || s === undefined) throw new Error(`the run ended without reaching the failpoint ${failpoint}`)
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs / 1000} s waiting for the failpoint ${failpoint}`)
    await new Promise((r) => setTimeout(r, 10))
  }
}

/** Waits until every pid in `pids` is gone (orphans of a killed run dying of EPIPE/EOF). */
export async function waitGone(pids: readonly number[], timeoutMs = 60_000): Promise<void> {
  await until(() => pids.every((p) => {
    const s = procStat(p)
    return s === undefined || s.state === 'Z'
  }), `the killed run's child processes (${pids.map((p) => `${p} ${cmdline(p)}`).join('; ')}) to end`, { timeoutMs, intervalMs: 50 })
}
