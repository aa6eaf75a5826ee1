/**
 * `npm run bench:stages -- [--size 128M] [--shape text|hex]`
 *
 * The CPU cost of each stage of a gzip backup on its own, in-process, on dump-like bytes held in
 * memory (the bench's generated rows written as mysqldump's extended INSERT lines): no database,
 * no disk, so the figures are CPU seconds per GB, which depend far less on other work on the host
 * than wall times do. Where a backup's CPU goes; `npm run bench -- --profile DIR` shows the same
 * inside a real run. CPU is the whole process's (main thread and the zlib thread pool).
 */
import { createHash } from 'node:crypto'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { cpus, loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { Readable, Writable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { crc32 } from 'node:zlib'
import { createParallelGzip } from '../src/pipeline/gzip-parallel.js'
import { Meter } from '../src/pipeline/meter.js'
import { verifyBackupFile } from '../src/pipeline/verify.js'
import { createCompression } from '../src/pipeline/compression.js'
import { parseArgs } from 'node:util'
import { parseShape, parseSize, SHAPES, tsvChunks } from './generate.js'

const { values: opts } = parseArgs({
  options: { size: { type: 'string', default: '128M' }, shape: { type: 'string', default: 'text' } },
})
const size = parseSize(opts.size)
const shape = parseShape(opts.shape)

/** The rows as mysqldump writes them: one extended INSERT per ~1 MB, values quoted. */
function dumpLike(): Buffer[] {
  const tables = SHAPES[shape]
  const parts: Buffer[] = []
  for (const table of tables) {
    for (const tsv of tsvChunks(table, size / tables.length, 1 << 20)) {
      const values = tsv
        .split('\n')
        .filter(Boolean)
        .map(
          (line) =>
            `(${line
              .split('\t')
              .map((v) => (/^-?\d+(\.\d+)?$/.test(v) ? v : `'${v}'`))
              .join(',')})`,
        )
      parts.push(Buffer.from(`INSERT INTO \`${table.name}\` VALUES ${values.join(',')};\n`))
    }
  }
  return parts
}

/** 64 KiB chunks, as a pipe from mysqldump delivers them. */
function* pieces(parts: Buffer[]): Generator<Buffer> {
  for (const p of parts) for (let i = 0; i < p.length; i += 65536) yield p.subarray(i, i + 65536)
}

async function timed(name: string, bytes: number, run: () => Promise<void> | void): Promise<void> {
  const cpu0 = process.cpuUsage()
  const t0 = performance.now()
  await run()
  const wall = (performance.now() - t0) / 1000
  const c = process.cpuUsage(cpu0)
  const cpu = (c.user + c.system) / 1e6
  const gb = bytes / 2 ** 30
  console.log(
    `| ${name} | ${(cpu / gb).toFixed(2)} | ${(wall / gb).toFixed(2)} | ${(bytes / 2 ** 20 / wall).toFixed(0)} |`,
  )
}

const parts = dumpLike()
const raw = parts.reduce((n, p) => n + p.length, 0)
const work = await mkdtemp(join(tmpdir(), 'dbk-bench-stages-'))
try {
  const file = join(work, 'dump.sql.gz')
  const gz: Buffer[] = []
  let compressed = 0
  const rawMeter = new Meter(true, true)
  const fileMeter = new Meter(false)
  console.log(
    `\nstages of a gzip backup, in-process: ${(raw / 2 ** 20).toFixed(0)} MB of dump-like text (shape ${shape}); ` +
      `${cpus().length} CPUs (${cpus()[0]?.model ?? '?'}), Node ${process.version}, load average ${loadavg()[0]!.toFixed(1)}\n`,
  )
  console.log('| stage (per GB of dump) | CPU s / GB | wall s / GB | MB/s |')
  console.log('|---|---:|---:|---:|')
  await timed('sha256 (the raw meter alone)', raw, () => {
    const h = createHash('sha256')
    for (const p of pieces(parts)) h.update(p)
    h.digest()
  })
  await timed('crc32 (the gzip trailer)', raw, () => {
    let c = 0
    for (const p of pieces(parts)) c = crc32(p, c)
  })
  await timed('parallel deflate, level 6 (all threads)', raw, () =>
    pipeline(
      Readable.from(pieces(parts)),
      createParallelGzip(6),
      new Writable({
        write: (chunk: Buffer, _e, done) => {
          gz.push(chunk)
          compressed += chunk.length
          done()
        },
      }),
    ),
  )
  await timed('the write side: raw meter + deflate + file meter', raw, () =>
    pipeline(
      Readable.from(pieces(parts)),
      rawMeter,
      createParallelGzip(6),
      fileMeter,
      new Writable({ write: (_c, _e, done) => done() }),
    ),
  )
  await writeFile(file, gz)
  await timed('read-back: verifyBackupFile (inflate, crc32, 2 × sha256)', raw, () =>
    verifyBackupFile(file, createCompression('gzip', 6), {
      raw: rawMeter.result(),
      compressed: fileMeter.result(),
    }),
  )
  console.log(`\ncompressed ${(compressed / 2 ** 20).toFixed(1)} MB: ${(raw / compressed).toFixed(2)}:1`)
} finally {
  await rm(work, { recursive: true, force: true })
}
