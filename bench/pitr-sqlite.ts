/**
 * `node --import tsx bench/pitr-sqlite.ts [--rate 500] [--seconds 60] [--sync 1s]`
 *
 * Litestream's RPO and restore-to-a-time on this machine: a writer (test/fixtures/pitr-writer.mjs, its own
 * process) commits RATE transactions a second into an SQLite file in WAL mode, one row each
 * carrying its commit time; `litestream replicate` ships it to a file replica. Every second a
 * sampler restores the replica's newest state and takes the age of its newest row at the moment
 * the restore finished (an upper bound of the true RPO: the restore's own time is counted).
 * Afterwards `litestream restore -timestamp T` (T mid-run) must hold every row committed up to
 * T − 5 s, none after T, without holes; and a restore after the writer stopped must equal the source.
 */
import { execFileSync, spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import Database from 'better-sqlite3'

const LITESTREAM = new URL('../node_modules/@flydotio/litestream-linux-x64/litestream', import.meta.url).pathname
const WRITER = new URL('../test/fixtures/pitr-writer.mjs', import.meta.url).pathname
const { values: opts } = parseArgs({
  options: {
    rate: { type: 'string', default: '500' },
    seconds: { type: 'string', default: '60' },
    sync: { type: 'string', default: '1s' },
  },
})
const dir = await mkdtemp(join(tmpdir(), 'dbk-pitr-bench-'))
const db = join(dir, 'app.db')
const replica = join(dir, 'replica')
const config = join(dir, 'litestream.yml')
await writeFile(
  config,
  `dbs:\n  - path: ${db}\n    replicas:\n      - type: file\n        path: ${replica}\n        sync-interval: ${opts.sync}\n`,
)
const seed = new Database(db)
seed.pragma('journal_mode = WAL')
seed.exec('CREATE TABLE rows (id INTEGER PRIMARY KEY, committed_at INTEGER NOT NULL, pad TEXT)')
seed.close()

const archiver = spawn(LITESTREAM, ['replicate', '-config', config], { stdio: 'ignore' })
/** Litestream's CPU seconds (user + system) and RSS, from /proc. */
function usage(): { cpuS: number; rssMiB: number } {
  const stat = readFileSync(`/proc/${archiver.pid}/stat`, 'utf8').split(') ')[1]!.split(' ')
  const status = readFileSync(`/proc/${archiver.pid}/status`, 'utf8')
  const rssKiB = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0)
  return { cpuS: (Number(stat[11]) + Number(stat[12])) / 100, rssMiB: rssKiB / 1024 }
}
await new Promise((r) => setTimeout(r, 1500))
const idle0 = usage()
await new Promise((r) => setTimeout(r, 10_000))
const idle1 = usage()
console.log(
  `litestream idle: ${(((idle1.cpuS - idle0.cpuS) / 10) * 100).toFixed(1)} % of a core, RSS ${idle1.rssMiB.toFixed(0)} MiB`,
)
const load0 = usage()
const load0At = Date.now()
const writerStart = Date.now()
const writer = spawn(process.execPath, [WRITER, db, opts.rate, opts.seconds], { stdio: ['ignore', 'pipe', 'inherit'] })
let writerOut = ''
writer.stdout.on('data', (d: Buffer) => (writerOut += d.toString()))
const writerDone = new Promise((r) => writer.on('exit', r))

function restore(out: string, timestamp?: string): void {
  execFileSync(
    LITESTREAM,
    ['restore', ...(timestamp ? ['-timestamp', timestamp] : []), '-o', out, `file://${replica}`],
    {
      stdio: 'ignore',
    },
  )
}
function read(file: string): { max: number; count: number; maxId: number; ids: number[]; times: number[] } {
  const d = new Database(file, { readonly: true })
  const rows = d.prepare('SELECT id, committed_at FROM rows ORDER BY id').all() as {
    id: number
    committed_at: number
  }[]
  d.close()
  return {
    max: rows.reduce((m, r) => Math.max(m, r.committed_at), 0),
    count: rows.length,
    maxId: rows.at(-1)?.id ?? 0,
    ids: rows.map((r) => r.id),
    times: rows.map((r) => r.committed_at),
  }
}

const ages: number[] = []
let n = 0
let writing = true
void writerDone.then(() => (writing = false))
await new Promise((r) => setTimeout(r, 3000))
while (writing) {
  const out = join(dir, `sample-${n++}.db`)
  restore(out)
  const end = Date.now()
  if (writing) ages.push(end - read(out).max)
  await rm(out, { force: true })
  await new Promise((r) => setTimeout(r, 1000))
}
const load1 = usage()
console.log(
  `litestream under the writer: ${(((load1.cpuS - load0.cpuS) / ((Date.now() - load0At) / 1000)) * 100).toFixed(1)} % of a core, RSS ${load1.rssMiB.toFixed(0)} MiB`,
)
const pct = (p: number) =>
  [...ages].sort((a, b) => a - b)[Math.min(ages.length - 1, Math.floor((p / 100) * ages.length))]!
console.log(`writer: ${writerOut.trim()}`)
console.log(
  `RPO (age of newest archived row when a restore of the replica finished), ${ages.length} samples: p50 ${pct(50)} ms, p99 ${pct(99)} ms, max ${Math.max(...ages)} ms`,
)

// Restore to a time, mid-run.
await new Promise((r) => setTimeout(r, 3000))
const T = writerStart + (Number(opts.seconds) * 1000) / 2
const atFile = join(dir, 'at.db')
const t0 = Date.now()
restore(atFile, new Date(T).toISOString())
const restoreMs = Date.now() - t0
const at = read(atFile)
const source = read(db)
const expected = source.times.filter((t) => t <= T - 5000).length
const after = at.times.filter((t) => t > T).length
const holes = at.ids.some((id, i) => id !== i + 1)
const missingBeforeTminus5 = Math.max(0, expected - at.times.filter((t) => t <= T - 5000).length)
console.log(
  `restore -timestamp ${new Date(T).toISOString()} in ${restoreMs} ms: ${at.count} rows, newest ${T - at.max} ms before T; missing rows committed ≤ T−5s: ${missingBeforeTminus5}; rows after T: ${after}; holes: ${holes}`,
)
const finalFile = join(dir, 'final.db')
restore(finalFile)
const final = read(finalFile)
console.log(
  `restore after the writer stopped: ${final.count} rows vs source ${source.count} (equal: ${final.count === source.count && final.maxId === source.maxId})`,
)
archiver.kill('SIGTERM')
await rm(dir, { recursive: true, force: true })
const ok = missingBeforeTminus5 === 0 && after === 0 && !holes && final.count === source.count && pct(99) <= 5000
console.log(ok ? 'PASS: within the issue targets (p99 ≤ 5 s)' : 'FAIL')
process.exitCode = ok ? 0 : 1
