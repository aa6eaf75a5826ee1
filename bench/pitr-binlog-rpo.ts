/**
 * `node --import tsx bench/pitr-binlog-rpo.ts [--rate 500] [--seconds 30]`
 *
 * The binlog archiver's RPO on this machine, measured on the tool itself: a private mariadbd with
 * `--log-bin --binlog-format=ROW`, `mariadb-binlog --read-from-remote-server --raw --stop-never`
 * writing its file, and a writer committing RATE transactions a second (one row each, carrying its
 * commit time). Every 100 ms a sampler reads the server's position (SHOW MASTER STATUS) and the
 * archived file's size. What would be lost at that moment is everything committed after the
 * server last stood at or below the archived size: the age of the oldest change not yet archived
 * (0 when the file holds everything). An upper bound by up to one sampling interval. At the end
 * the archived file is decoded: it must hold every committed row.
 */
import { execFileSync, spawn } from 'node:child_process'
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import mysql from 'mysql2/promise'
import { startMariadb } from '../test/support/mariadb-server.js'

const { values: opts } = parseArgs({
  options: { rate: { type: 'string', default: '500' }, seconds: { type: 'string', default: '30' } },
})
const rate = Number(opts.rate)
const seconds = Number(opts.seconds)
const server = await startMariadb({ binlog: {} })
const dir = await mkdtemp(join(tmpdir(), 'dbk-binlog-bench-'))
const { host, port, user } = server.info
const connect = () => mysql.createConnection({ host, port, user, password: '' })
const admin = await connect()
await admin.query('CREATE DATABASE app')
await admin.query('CREATE TABLE app.t (id BIGINT AUTO_INCREMENT PRIMARY KEY, committed_at BIGINT NOT NULL)')
const master = async () => {
  const [rows] = await admin.query('SHOW MASTER STATUS')
  const r = (rows as { File: string; Position: number }[])[0]!
  return { file: r.File, position: Number(r.Position) }
}
const start = await master()
const cnf = join(dir, 'client.cnf')
await writeFile(cnf, `[client]\nuser=${user}\npassword=""\nhost=${host}\nport=${port}\nprotocol=TCP\n`, {
  mode: 0o600,
})
const archiver = spawn(
  'mariadb-binlog',
  [
    `--defaults-extra-file=${cnf}`,
    '--read-from-remote-server',
    '--raw',
    '--stop-never',
    `--result-file=${dir}/`,
    start.file,
  ],
  { stdio: ['ignore', 'ignore', 'inherit'] },
)

// The writer: RATE commits a second, paced against the clock, over 4 connections.
const writers = await Promise.all([1, 2, 3, 4].map(connect))
let committed = 0
let writing = true
const began = Date.now()
const writerLoops = writers.map(async (conn, i) => {
  for (let n = i; writing; n += writers.length) {
    const due = began + (n * 1000) / rate
    const wait = due - Date.now()
    if (wait > 0) await new Promise((r) => setTimeout(r, wait))
    await conn.query('INSERT INTO app.t (committed_at) VALUES (?)', [Date.now()])
    committed++
  }
})

const history: { t: number; position: number }[] = []
const ages: number[] = []
const sampleUntil = Date.now() + seconds * 1000
while (Date.now() < sampleUntil) {
  const t = Date.now()
  const server = await master()
  const local = (await stat(join(dir, server.file)).catch(() => undefined))?.size ?? 0
  history.push({ t, position: server.position })
  if (server.file !== start.file) throw new Error(`the binlog rotated (${server.file}): shorten --seconds`)
  let lastAtOrBelow = history[0]!.t
  for (const h of history) if (h.position <= local) lastAtOrBelow = h.t
  ages.push(local >= server.position ? 0 : t - lastAtOrBelow)
  await new Promise((r) => setTimeout(r, Math.max(0, t + 100 - Date.now())))
}
writing = false
await Promise.all(writerLoops)
const elapsed = (Date.now() - began) / 1000
// The file holds every committed row: decoded, its row events count the writer's commits.
const end = await master()
while (((await stat(join(dir, end.file)).catch(() => undefined))?.size ?? 0) < end.position) {
  await new Promise((r) => setTimeout(r, 50))
}
const decoded = execFileSync('mariadb-binlog', ['--base64-output=decode-rows', '-v', join(dir, end.file)], {
  maxBuffer: 1 << 30,
}).toString()
const rowsInArchive = decoded.split('\n').filter((l) => l.startsWith('### INSERT INTO `app`.`t`')).length
if (rowsInArchive !== committed)
  throw new Error(`the archive holds ${rowsInArchive} rows, the writer committed ${committed}`)
ages.sort((a, b) => a - b)
const q = (p: number) => ages[Math.min(ages.length - 1, Math.floor(p * ages.length))]!
const zero = ages.filter((a) => a === 0).length
console.log(
  JSON.stringify({
    rateAsked: rate,
    rateDone: Math.round(committed / elapsed),
    samples: ages.length,
    rowsInArchive,
    caughtUpShare: Number((zero / ages.length).toFixed(3)),
    rpoMs: { p50: q(0.5), p99: q(0.99), max: ages.at(-1) },
  }),
)
archiver.kill('SIGTERM')
await Promise.all(writers.map((w) => w.end()))
await admin.end()
await server.stop()
await rm(dir, { recursive: true, force: true })
