/**
 * `node --import tsx bench/pitr-archiver-cost.ts [--idle 30] [--seconds 30] [--rate 500]`
 *
 * What the MariaDB binlog archiver costs while the daemon runs it: CPU and RSS, idle and under a
 * writer, against the plain shell tool a user could run instead (`mariadb-binlog
 * --read-from-remote-server --raw --stop-never`, which proves nothing), both streaming from the
 * same private mariadbd (`--log-bin --binlog-format=ROW`) at the same time.
 *
 * dbkeeper's archiver (bench/pitr-archiver-child.ts) is a Node process holding the supervised
 * `mariadb-binlog` and the poller (SHOW MASTER STATUS every second, heartbeat, proof of closed
 * files); its cost is that process plus its child, read from /proc (utime+stime; VmRSS sampled
 * every 200 ms). Phases: IDLE seconds with no writes, then SECONDS under RATE commits a second
 * (one row each, over 4 connections). The binlog rotates (FLUSH BINARY LOGS) once in the middle
 * of the load, so that a closed file is proven inside the measured time.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { readFileSync, readdirSync } from 'node:fs'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import mysql from 'mysql2/promise'
import { startMariadb } from '../test/support/mariadb-server.js'

const { values: opts } = parseArgs({
  options: {
    idle: { type: 'string', default: '30' },
    seconds: { type: 'string', default: '30' },
    rate: { type: 'string', default: '500' },
  },
})
const idleSeconds = Number(opts.idle)
const loadSeconds = Number(opts.seconds)
const rate = Number(opts.rate)
const TICK_MS = 1000 / 100 // USER_HZ
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/** A process and every descendant, by pid, from /proc. */
function tree(pid: number): number[] {
  const out = [pid]
  for (let i = 0; i < out.length; i++) {
    for (const task of safe(() => readdirSync(`/proc/${out[i]}/task`), [])) {
      const kids = safe(() => readFileSync(`/proc/${out[i]}/task/${task}/children`, 'utf8'), '')
      for (const k of kids.trim().split(/\s+/).filter(Boolean)) out.push(Number(k))
    }
  }
  return out
}
function safe<T>(f: () => T, fallback: T): T {
  try {
    return f()
  } catch {
    return fallback
  }
}
/** CPU ms (user + system) of a process tree so far. */
function cpuMs(pid: number): number {
  let ticks = 0
  for (const p of tree(pid)) {
    const stat = safe(() => readFileSync(`/proc/${p}/stat`, 'utf8'), '')
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    if (fields.length > 13) ticks += Number(fields[11]) + Number(fields[12])
  }
  return ticks * TICK_MS
}
/** Resident set of a process tree now, in MiB. */
function rssMb(pid: number): number {
  let kb = 0
  for (const p of tree(pid)) {
    const m = /VmRSS:\s+(\d+)/.exec(safe(() => readFileSync(`/proc/${p}/status`, 'utf8'), ''))
    if (m) kb += Number(m[1])
  }
  return kb / 1024
}

interface Reading {
  cpuMs: number
  rss: number[]
}
async function measure(
  pids: Record<string, number>,
  ms: number,
  during?: Promise<void>,
): Promise<Record<string, Reading>> {
  const before = Object.fromEntries(Object.entries(pids).map(([k, p]) => [k, cpuMs(p)]))
  const rss: Record<string, number[]> = Object.fromEntries(Object.keys(pids).map((k) => [k, []]))
  const until = Date.now() + ms
  while (Date.now() < until) {
    for (const [k, p] of Object.entries(pids)) rss[k]!.push(rssMb(p))
    await sleep(200)
  }
  await during
  return Object.fromEntries(Object.entries(pids).map(([k, p]) => [k, { cpuMs: cpuMs(p) - before[k]!, rss: rss[k]! }]))
}

const server = await startMariadb({ binlog: {} })
const work = await mkdtemp(join(tmpdir(), 'dbk-archiver-cost-'))
const children: ChildProcess[] = []
try {
  const { host, port, user } = server.info
  const connect = () => mysql.createConnection({ host, port, user, password: '' })
  const admin = await connect()
  await admin.query('CREATE DATABASE app')
  await admin.query('CREATE TABLE app.t (id BIGINT AUTO_INCREMENT PRIMARY KEY, committed_at BIGINT NOT NULL)')
  const [status] = await admin.query('SHOW MASTER STATUS')
  const startFile = (status as { File: string }[])[0]!.File

  // The plain tool, as a user would script it.
  const plainDir = join(work, 'plain')
  const cnf = join(work, 'client.cnf')
  await writeFile(cnf, `[client]\nuser=${user}\npassword=""\nhost=${host}\nport=${port}\nprotocol=TCP\n`, {
    mode: 0o600,
  })
  await rm(plainDir, { recursive: true, force: true })
  await import('node:fs/promises').then((f) => f.mkdir(plainDir))
  const plain = spawn(
    'mariadb-binlog',
    [
      `--defaults-extra-file=${cnf}`,
      '--stop-never-slave-server-id=4242', // not 0: the server drops one of two readers with the same id
      '--read-from-remote-server',
      '--raw',
      '--stop-never',
      `--result-file=${plainDir}/`,
      startFile,
    ],
    { stdio: ['ignore', 'ignore', 'inherit'] },
  )
  children.push(plain)
  // dbkeeper's archiver, in a process of its own.
  const ours = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      join(import.meta.dirname, 'pitr-archiver-child.ts'),
      host,
      String(port),
      user,
      join(work, 'ours'),
    ],
    { stdio: ['ignore', 'ignore', 'inherit'] },
  )
  children.push(ours)
  await sleep(5000) // start-up (tsx's compile) is not the archiver's running cost
  const tool = tree(ours.pid!).find((p) =>
    safe(() => readFileSync(`/proc/${p}/comm`, 'utf8'), '').startsWith('mariadb-binlog'),
  )
  if (tool === undefined) throw new Error("dbkeeper's archiver has no mariadb-binlog child after 5 s")
  const pids = { plain: plain.pid!, dbkeeper: ours.pid!, tool }

  const idle = await measure(pids, idleSeconds * 1000)

  const writers = await Promise.all([1, 2, 3, 4].map(connect))
  let committed = 0
  let writing = true
  const began = Date.now()
  const writerLoops = writers.map(async (conn, i) => {
    for (let n = i; writing; n += writers.length) {
      const wait = began + (n * 1000) / rate - Date.now()
      if (wait > 0) await sleep(wait)
      await conn.query('INSERT INTO app.t (committed_at) VALUES (?)', [Date.now()])
      committed++
    }
  })
  const rotate = sleep((loadSeconds * 1000) / 2)
    .then(() => admin.query('FLUSH BINARY LOGS'))
    .then(() => undefined)
  const load = await measure(pids, loadSeconds * 1000, rotate)
  writing = false
  await Promise.all(writerLoops)
  const done = Math.round(committed / ((Date.now() - began) / 1000))
  await Promise.all(writers.map((w) => w.end()))
  await admin.end()

  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0
  const row = (phase: string, seconds: number, r: Record<string, Reading>) => {
    const cpu = (k: string) => (r[k]!.cpuMs / seconds / 10).toFixed(2) // % of one core
    const ratio = r.plain!.cpuMs > 0 ? `${(r.dbkeeper!.cpuMs / r.plain!.cpuMs).toFixed(2)}×` : '–'
    const rss = (k: string) => `${median(r[k]!.rss).toFixed(1)} / ${Math.max(...r[k]!.rss).toFixed(1)}`
    return `| ${phase} | ${cpu('plain')} % | ${cpu('dbkeeper')} % (tool ${cpu('tool')} %) | ${ratio} | ${rss('plain')} | ${rss('dbkeeper')} (tool ${rss('tool')}) |`
  }
  console.log(
    `\nbinlog archiver cost, ${idleSeconds} s idle then ${loadSeconds} s at ${done} commits/s (asked ${rate}); Node ${process.version}`,
  )
  // dbkeeper's figures are its whole process tree: a Node runtime (with tsx here) and the tool. In
  // the daemon that runtime is already paid for; what the archiver adds there is the tool and the
  // poller's CPU.
  console.log(
    '| phase | CPU % of a core: plain mariadb-binlog | dbkeeper archiver (its tool) | × plain | RSS MiB plain (median / max) | dbkeeper archiver (its tool) |',
  )
  console.log('|---|---:|---:|---:|---:|---:|')
  console.log(row('idle', idleSeconds, idle))
  console.log(row(`${done} commits/s`, loadSeconds, load))
} finally {
  for (const c of children) c.kill('SIGTERM')
  await sleep(500)
  await server.stop()
  await rm(work, { recursive: true, force: true })
}
