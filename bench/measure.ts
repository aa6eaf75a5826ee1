/**
 * Runs one command and measures it: wall time, CPU time of the whole process tree and the largest
 * resident set of any process in it (`/usr/bin/time`, when installed), and the peak RSS of the
 * command's own process (VmHWM from /proc, polled: a high-water mark only has to be read before
 * the process exits).
 */
import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

const TIME = '/usr/bin/time'
export const HAVE_TIME = existsSync(TIME)

export interface Sample {
  wallMs: number
  /** user + system of every process the command started and waited for; undefined without /usr/bin/time. */
  cpuMs: number | undefined
  /** The largest RSS of any single process of the command (KiB). */
  maxRssKb: number | undefined
  /** Peak RSS of the command's own (first) process, e.g. the dbkeeper node process (KiB). */
  mainRssKb: number | undefined
  /** CPU the database server spent meanwhile (ms), where the bench read it (processCpuMs). */
  serverCpuMs?: number
  stdout: string
}

export interface RunSpec {
  command: string
  args: string[]
  env?: Record<string, string>
  cwd?: string
}

async function vmHwmKb(pid: number): Promise<number | undefined> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '')
  const m = /^VmHWM:\s+(\d+) kB/m.exec(status)
  return m ? Number(m[1]) : undefined
}

/** The pid that /usr/bin/time started (its only child), once it exists. */
async function childOf(pid: number): Promise<number | undefined> {
  const text = await readFile(`/proc/${pid}/task/${pid}/children`, 'utf8').catch(() => '')
  const first = text.trim().split(/\s+/)[0]
  return first ? Number(first) : undefined
}

export async function measure(spec: RunSpec): Promise<Sample> {
  const dir = await mkdtemp(join(tmpdir(), 'dbk-bench-time-'))
  const timeFile = join(dir, 'time')
  const [command, args] = HAVE_TIME
    ? [TIME, ['-f', '%e %U %S %M', '-o', timeFile, spec.command, ...spec.args]]
    : [spec.command, spec.args]
  const started = process.hrtime.bigint()
  const child = spawn(command, args, { env: spec.env ?? process.env, cwd: spec.cwd, stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s))
  child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr = (stderr + s).slice(-4000)))
  let mainRssKb: number | undefined
  let mainPid = HAVE_TIME ? undefined : child.pid
  const poll = setInterval(() => {
    void (async () => {
      mainPid ??= await childOf(child.pid!)
      if (mainPid !== undefined) mainRssKb = Math.max(mainRssKb ?? 0, (await vmHwmKb(mainPid)) ?? 0) || mainRssKb
    })()
  }, 50)
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject)
    child.once('close', resolve)
  }).finally(() => clearInterval(poll))
  const wallMs = Number(process.hrtime.bigint() - started) / 1e6
  let cpuMs: number | undefined
  let maxRssKb: number | undefined
  if (HAVE_TIME) {
    const line = (await readFile(timeFile, 'utf8')).trim().split('\n').at(-1) ?? ''
    const [, user, sys, rss] = line.split(' ').map(Number)
    cpuMs = Math.round(((user ?? 0) + (sys ?? 0)) * 1000)
    maxRssKb = rss
  }
  await rm(dir, { recursive: true, force: true })
  if (code !== 0) throw new Error(`${spec.command} ${spec.args.join(' ')} exited ${code}:\n${stderr}`)
  return { wallMs, cpuMs, maxRssKb, mainRssKb, stdout }
}

/** utime + stime of a process so far, ms (/proc/PID/stat, clock ticks of 10 ms): the database server's. */
export async function processCpuMs(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8')
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return (Number(fields[11]) + Number(fields[12])) * 10
}

/** `measure`, with the CPU the process `serverPid` (the database server, if any) spent meanwhile. */
export async function measureWithServer(spec: RunSpec, serverPid: number | undefined): Promise<Sample> {
  if (serverPid === undefined) return measure(spec)
  const before = await processCpuMs(serverPid)
  const sample = await measure(spec)
  return { ...sample, serverCpuMs: (await processCpuMs(serverPid)) - before }
}

/** A shell pipeline with `pipefail`: a failing mysqldump fails the sample, as it would a backup. */
export function shell(script: string, env?: Record<string, string>): RunSpec {
  return { command: 'bash', args: ['-c', `set -euo pipefail; ${script}`], ...(env ? { env } : {}) }
}
