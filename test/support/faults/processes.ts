/**
 * The processes of a run, read from /proc (fault-injection suite, issue 10): their state (stopped
 * at a failpoint, gone), their children, their command lines and their I/O so far.
 */
import { readdirSync, readFileSync } from 'node:fs'
import { until } from '../daemon.js'

/** State letter and parent from the text of /proc/PID/stat (the command in parentheses may hold spaces); undefined for no text. */
export function parseProcStat(text: string): { state: string; ppid: number } | undefined {
  if (!text.includes(')')) return undefined
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ')
  return { state: fields[0]!, ppid: Number(fields[1]) }
}

/** /proc/PID/cmdline (arguments separated by NUL) as `ps` shows it. */
export function cmdlineText(raw: string): string {
  return raw.split('\0').join(' ').trim()
}

/** State letter (R, S, D, T, Z…) and parent of a process, or undefined when it is gone. */
export function procStat(pid: number): { state: string; ppid: number } | undefined {
  try {
    return parseProcStat(readFileSync(`/proc/${pid}/stat`, 'utf8'))
  } catch {
    return undefined
  }
}

export function cmdline(pid: number): string {
  try {
    return cmdlineText(readFileSync(`/proc/${pid}/cmdline`, 'utf8'))
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
export async function whileRunning<T>(
  ended: () => boolean,
  probe: () => T | undefined | false | Promise<T | undefined | false>,
  what: string,
  timeoutMs = 90_000,
): Promise<T> {
  return until(
    async () => {
      if (ended()) throw new Error(`the run ended before ${what}`)
      return probe()
    },
    what,
    { timeoutMs, intervalMs: 5 },
  )
}

/** Waits until `pid` stopped itself (SIGSTOP at a failpoint: state T). */
export async function waitStopped(
  pid: number,
  ended: () => boolean,
  failpoint: string,
  timeoutMs = 90_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const s = procStat(pid)
    if (s?.state === 'T' || s?.state === 't') return
    if (ended() || s === undefined) throw new Error(`the run ended without reaching the failpoint ${failpoint}`)
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs / 1000} s waiting for the failpoint ${failpoint}`)
    await new Promise((r) => setTimeout(r, 10))
  }
}

/** Waits until every pid in `pids` is gone (orphans of a killed run dying of EPIPE/EOF). */
export async function waitGone(pids: readonly number[], timeoutMs = 60_000): Promise<void> {
  await until(
    () =>
      pids.every((p) => {
        const s = procStat(p)
        return s === undefined || s.state === 'Z'
      }),
    `the killed run's child processes (${pids.map((p) => `${p} ${cmdline(p)}`).join('; ')}) to end`,
    { timeoutMs, intervalMs: 50 },
  )
}
