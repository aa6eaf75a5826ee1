/**
 * `npm run bench:s3 -- [--size 100M] [--runs 5]`
 *
 * The cost of the off-site copy: the same `dbkeeper backup` of the same SQLite database, with
 * S3 off and with S3 on (s3rver in its own process on loopback, as a store on the LAN would be),
 * rounds alternating and the order flipped every round, medians compared. The goal (issue 20;
 * issue 5 asked 1.1): S3-on ≤ 1.05 × S3-off, and peak RSS ≤ 150 MB. Results: a table on stdout
 * and JSON in bench/results/.
 */
import type { ChildProcess } from 'node:child_process'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { availableParallelism, tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { buildCli } from './build.js'
import { s3rverEnv, startS3rver } from './s3rver.js'
import { createSqlite, sqliteRunEnv } from './databases.js'
import { parseSize } from './generate.js'
import { measureWithServer, type Sample } from './measure.js'
import { median } from './report.js'

const ROOT = new URL('..', import.meta.url).pathname
const GOAL = 1.05
const { values: opts } = parseArgs({
  options: { size: { type: 'string', default: '100M' }, runs: { type: 'string', default: '5' } },
})
const size = parseSize(opts.size)
const runs = Math.max(1, Number(opts.runs) || 5)
const log = (line: string) => process.stderr.write(`${line}\n`)

const work = await mkdtemp(join(tmpdir(), 'dbk-bench-s3-'))
let server: ChildProcess | undefined
try {
  log(`building the CLI; generating ${opts.size} of SQLite rows`)
  const cli = await buildCli(ROOT, join(work, 'cli'))
  const dbPath = join(work, 'bench.db')
  createSqlite(dbPath, size)
  const s3 = await startS3rver(join(work, 's3'))
  server = s3.child
  const base = sqliteRunEnv(dbPath)
  const s3Env = s3rverEnv(s3.port)
  const samples: Record<'off' | 'on', Sample[]> = { off: [], on: [] }
  let raw = 0
  let compressed = 0
  for (let round = 0; round < runs; round++) {
    const order: ('off' | 'on')[] = round % 2 === 0 ? ['off', 'on'] : ['on', 'off']
    for (const mode of order) {
      const dir = join(work, `backups-${round}-${mode}`)
      // A prefix per run: every run uploads a new backup, none is a catch-up or a retention pass.
      const env = { ...base, BACKUP_DIR: dir, ...(mode === 'on' ? { ...s3Env, S3_PREFIX: `run-${round}` } : {}) }
      // The store runs on the same cores: its CPU during an S3-on run (serverCpuMs) is work a
      // remote store would do on its own machine, and the backup's wall time pays for it here.
      const sample = await measureWithServer(
        { command: process.execPath, args: [cli, 'backup', '--json'], cwd: ROOT, env },
        mode === 'on' ? server.pid : undefined,
      )
      const result = (
        JSON.parse(sample.stdout) as {
          results: { ok: boolean; size: number; rawSize: number; offsite?: { ok: boolean } }[]
        }
      ).results[0]
      if (!result?.ok || (mode === 'on' && !result.offsite?.ok))
        throw new Error(`backup with S3 ${mode} failed: ${sample.stdout}`)
      raw = result.rawSize
      compressed = result.size
      samples[mode].push(sample)
      log(`  round ${round + 1}/${runs} S3 ${mode.padEnd(3)} ${(sample.wallMs / 1000).toFixed(2)} s`)
      await rm(dir, { recursive: true, force: true })
    }
  }
  const stat = (mode: 'off' | 'on', key: 'wallMs' | 'cpuMs' | 'mainRssKb' | 'serverCpuMs') =>
    median(samples[mode].map((s) => s[key]).filter((v): v is number => v !== undefined))
  const off = stat('off', 'wallMs')!
  const on = stat('on', 'wallMs')!
  const ratio = on / off
  // Each round's pair ran back to back: their ratio is less disturbed by a machine whose load drifts.
  const paired = median(samples.on.map((s, i) => s.wallMs / samples.off[i]!.wallMs))!
  const mb = (n: number) => `${(n / 2 ** 20).toFixed(1)} MB`
  console.log(`dbkeeper backup of ${mb(raw)} SQLite (${mb(compressed)} gzip), ${runs} rounds, medians:`)
  console.log(
    `  S3 off  wall ${(off / 1000).toFixed(2)} s  cpu ${((stat('off', 'cpuMs') ?? 0) / 1000).toFixed(2)} s  peak RSS ${((stat('off', 'mainRssKb') ?? 0) / 1024).toFixed(0)} MB`,
  )
  console.log(
    `  S3 on   wall ${(on / 1000).toFixed(2)} s  cpu ${((stat('on', 'cpuMs') ?? 0) / 1000).toFixed(2)} s  peak RSS ${((stat('on', 'mainRssKb') ?? 0) / 1024).toFixed(0)} MB`,
  )
  const store = stat('on', 'serverCpuMs')!
  const cores = availableParallelism()
  console.log(
    `  the store (s3rver, on the same ${cores} cores) during an S3-on run: cpu ${(store / 1000).toFixed(2)} s; ` +
      `S3 on less that CPU spread over the cores (an estimate of a remote store): ${((on - store / cores) / off).toFixed(3)} × S3 off`,
  )
  console.log(
    `  S3-on / S3-off = ${ratio.toFixed(3)} (medians), ${paired.toFixed(3)} (median of the rounds' pairs); goal ≤ ${GOAL}: ${Math.max(ratio, paired) <= GOAL ? 'met' : 'NOT met'}`,
  )
  await mkdir(join(ROOT, 'bench/results'), { recursive: true })
  const file = join(ROOT, 'bench/results', `${new Date().toISOString().replace(/[:.]/g, '-')}-s3-${opts.size}.json`)
  await writeFile(
    file,
    `${JSON.stringify({ size: opts.size, raw, compressed, runs, ratio, paired, samples: { off: samples.off.map((s) => ({ ...s, stdout: undefined })), on: samples.on.map((s) => ({ ...s, stdout: undefined })) } }, null, 2)}\n`,
  )
  log(`results: ${file}`)
} finally {
  server?.kill()
  await rm(work, { recursive: true, force: true })
}
