/**
 * `node --import tsx bench/gc-flags.ts mariadb|sqlite text|hex RUNS gzip|zstd VARIANT...`
 *
 * One backup of the bench's 100M data with this checkout's built CLI, once per VARIANT per round
 * (the order rotated each round), each VARIANT being V8 flags put on node's command line before
 * the CLI (`-` for none; several flags joined with `,`), e.g. `- --heap-growing-percent=300`.
 * `--trace-gc` is added to count the full collections (Mark-Compact lines) and sum their pauses on
 * the main thread (concurrent marking on V8's helper threads is not in them). Prints, per variant,
 * the medians of the full GCs, their pause, CPU of the process tree, wall and peak RSS. For the old
 * generation's headroom (docs/PERFORMANCE.md, "The old generation's headroom").
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { buildCli } from './build.js'
import { createMariadb, createSqlite, mariadbRunEnv, sqliteRunEnv } from './databases.js'
import { parseShape, parseSize } from './generate.js'
import { measure } from './measure.js'
import { median } from './report.js'

const ROOT = new URL('..', import.meta.url).pathname
const [engine = 'mariadb', shapeArg = 'text', runsArg = '5', compression = 'gzip', ...variants] = process.argv.slice(2)
const shape = parseShape(shapeArg)
const runs = Number(runsArg)
if (!['mariadb', 'sqlite'].includes(engine) || !['gzip', 'zstd'].includes(compression) || variants.length === 0)
  throw new Error('usage: bench/gc-flags.ts mariadb|sqlite text|hex RUNS gzip|zstd VARIANT... (`-` for no flags)')
const work = await mkdtemp(join(tmpdir(), 'dbk-gc-flags-'))
const log = (l: string) => process.stderr.write(l + '\n')
let stop = async () => {}
let baseEnv: (backupDir: string) => Record<string, string>
if (engine === 'mariadb') {
  const db = await createMariadb(parseSize('100M'), log, shape)
  stop = () => db.server.stop()
  baseEnv = (dir) => mariadbRunEnv(db.server, db.database, dir)
} else {
  const path = join(work, 'bench.db')
  createSqlite(path, parseSize('100M'), shape)
  baseEnv = (dir) => ({ ...sqliteRunEnv(path), BACKUP_DIR: dir })
}
try {
  const cli = await buildCli(ROOT, join(work, 'cli'))
  const out = new Map<string, { gcs: number; pause: number; cpu: number; wall: number; rss: number }[]>(
    variants.map((v) => [v, []]),
  )
  for (let r = 0; r < runs; r++) {
    const order = variants.map((_, i) => variants[(i + r) % variants.length]!)
    for (const variant of order) {
      const flags = variant === '-' ? [] : variant.split(',')
      const backupDir = join(work, `bk-${r}`)
      const s = await measure({
        command: process.execPath,
        args: ['--trace-gc', ...flags, cli, 'backup', '--json'],
        cwd: ROOT,
        env: { ...baseEnv(backupDir), COMPRESSION: compression },
      })
      if (!/"ok":\s*true/.test(s.stdout)) throw new Error(`dbkeeper backup failed: ${s.stdout.slice(-2000)}`)
      const fulls = s.stdout.split('\n').filter((l) => l.includes('Mark-Compact'))
      const gcs = fulls.length
      // "Mark-Compact 12.1 (14.5) -> 10.9 (15.0) MB, pooled: 0 MB, 5.12 / 0.00 ms  (…"
      const pause = fulls.reduce((sum, l) => sum + Number(/, ([\d.]+) \/ [\d.]+ ms/.exec(l)?.[1] ?? 0), 0)
      const row = { gcs, pause, cpu: (s.cpuMs ?? NaN) / 1000, wall: s.wallMs / 1000, rss: (s.mainRssKb ?? 0) / 1024 }
      out.get(variant)!.push(row)
      log(
        `${variant} ${r}: full GCs ${gcs} (${pause.toFixed(0)} ms) cpu ${row.cpu.toFixed(2)} s wall ${row.wall.toFixed(2)} s rss ${row.rss.toFixed(0)} MB load ${loadavg()[0]!.toFixed(1)}`,
      )
      await rm(backupDir, { recursive: true, force: true })
    }
  }
  for (const [variant, rows] of out) {
    const col = (k: 'gcs' | 'pause' | 'cpu' | 'wall' | 'rss', d: number) =>
      `${median(rows.map((x) => x[k]))!.toFixed(d)} (${rows.map((x) => x[k].toFixed(d)).join(' / ')})`
    console.log(
      `${engine} ${shape} ${compression} ${variant}: full GCs ${col('gcs', 0)}, their pause ${col('pause', 0)} ms, cpu ${col('cpu', 2)} s, wall ${col('wall', 2)} s, rss ${col('rss', 0)} MB`,
    )
  }
} finally {
  await stop()
  await rm(work, { recursive: true, force: true })
}
