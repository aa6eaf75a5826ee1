/**
 * Self-contained segments: ParallelGzip records where they start, and SegmentInflate reads them
 * back in parallel to exactly the bytes a sequential gunzip gives — or refuses, so that
 * verification falls back to the sequential read (which then gives the verdict).
 */
import { randomBytes } from 'node:crypto'
import { createWriteStream } from 'node:fs'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { constants, deflateRawSync, gunzipSync } from 'node:zlib'
import { execa } from 'execa'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createCompression } from '../../src/pipeline/compression.js'
import { ParallelGzip, SEGMENT_BLOCKS, gzipSegmentsOf } from '../../src/pipeline/gzip-parallel.js'
import { SegmentInflate } from '../../src/pipeline/gzip-segments.js'
import { Meter } from '../../src/pipeline/meter.js'
import { verifyBackupFile } from '../../src/pipeline/verify.js'

const BLOCK = 64 * 1024

function dumpLike(size: number): Buffer {
  const lines: string[] = []
  let n = 0
  for (let i = 0; n < size; i++) {
    const line = `INSERT INTO t VALUES (${i},'name ${i % 977}','${(i * 7919) % 100003}');\n`
    lines.push(line)
    n += line.length
  }
  return Buffer.from(lines.join('')).subarray(0, size)
}

async function collect(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const parts: Buffer[] = []
  for await (const chunk of stream) parts.push(chunk as Buffer)
  return Buffer.concat(parts)
}

/** Compresses `data` in 100 KB pieces; returns the file's bytes and the segment offsets it recorded. */
async function gzipWithSegments(data: Buffer, blockSize = BLOCK): Promise<{ file: Buffer; segments: number[] }> {
  const gz = new ParallelGzip({ level: 6, blockSize, maxInFlight: 3 })
  const pieces = Array.from({ length: Math.ceil(data.length / 100_000) }, (_, i) => data.subarray(i * 100_000, (i + 1) * 100_000))
  const [file] = await Promise.all([collect(gz), pipeline(Readable.from(pieces), gz)])
  return { file, segments: gz.segments() }
}

/** The deflate body of a gzip file we wrote (10-byte header, 8-byte trailer). */
const body = (file: Buffer) => file.subarray(10, file.length - 8)

async function inflateSegments(deflate: Buffer, boundaries: number[]): Promise<Buffer> {
  const pieces = Array.from({ length: Math.ceil(deflate.length / 70_000) }, (_, i) => deflate.subarray(i * 70_000, (i + 1) * 70_000))
  const inflate = new SegmentInflate(boundaries, 3)
  const [out] = await Promise.all([collect(inflate), pipeline(Readable.from(pieces), inflate)])
  return out
}

let dir: string
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'dbk-segments-'))
})
afterAll(async () => {
  await rm(dir, { recursive: true, force: true })
})

describe('gzip segments', () => {
  const data = Buffer.concat([dumpLike(3 << 20), randomBytes(200_000), dumpLike((2 << 20) + 12345)])

  it('ParallelGzip records one segment every SEGMENT_BLOCKS blocks, and the file stays one plain gzip stream', async () => {
    const { file, segments } = await gzipWithSegments(data)
    const blocks = Math.ceil(data.length / BLOCK)
    expect(segments.length).toBe(Math.floor((blocks - 1) / SEGMENT_BLOCKS))
    expect(segments.every((s, i) => s > (segments[i - 1] ?? 0))).toBe(true)
    // Each boundary follows a sync flush: the empty stored block that ends the segment before it.
    for (const s of segments) expect(body(file).subarray(s - 4, s).toString('hex')).toBe('0000ffff')
    const path = join(dir, 'plain.gz')
    await writeFile(path, file)
    await execa('gzip', ['-t', path])
    expect(gunzipSync(file).equals(data)).toBe(true)
  })

  it('inflates the segments in parallel to exactly the bytes gunzip gives', async () => {
    const { file, segments } = await gzipWithSegments(data)
    expect(segments.length).toBeGreaterThan(2)
    expect((await inflateSegments(body(file), segments)).equals(data)).toBe(true)
    // Fewer boundaries (two segments read as one) describe the same stream just as truly.
    expect((await inflateSegments(body(file), segments.filter((_, i) => i % 2 === 0))).equals(data)).toBe(true)
  })

  it('refuses offsets that are not segment boundaries', async () => {
    const { file, segments } = await gzipWithSegments(data)
    await expect(inflateSegments(body(file), segments.map((s, i) => (i === 1 ? s + 1 : s)))).rejects.toThrow(/segment/)
    await expect(inflateSegments(body(file), segments.map((s, i) => (i === 1 ? s - 3 : s)))).rejects.toThrow(/segment/)
    await expect(inflateSegments(body(file), [...segments, body(file).length + 10])).rejects.toThrow(/before segment/)
    expect(() => new SegmentInflate([5, 5])).toThrow(/increasing/)
  })

  it('refuses a segment that ends the deflate stream early, even when it ends like a sync flush', async () => {
    const a = dumpLike(300_000)
    const b = dumpLike(200_000)
    // Segment 1 holds a final block followed by the sync-flush bytes: a sequential inflate stops at
    // that final block and never reads segment 2, so reading segment 2 as content would be a lie.
    const first = Buffer.concat([deflateRawSync(a), Buffer.from([0x00, 0x00, 0x00, 0xff, 0xff])])
    const second = deflateRawSync(b)
    await expect(inflateSegments(Buffer.concat([first, second]), [first.length])).rejects.toThrow(/ends its deflate stream after/)
    // The same two pieces as a true chain (sync flush, no final block) are accepted.
    const chained = Buffer.concat([deflateRawSync(a, { finishFlush: constants.Z_SYNC_FLUSH }), second])
    const boundary = deflateRawSync(a, { finishFlush: constants.Z_SYNC_FLUSH }).length
    expect((await inflateSegments(chained, [boundary])).equals(Buffer.concat([a, b]))).toBe(true)
  })

  it('verifyBackupFile takes the segments from the writer: accepts the file, refuses a flipped bit, and survives wrong offsets', async () => {
    const raw = new Meter(true)
    const comp = new Meter()
    const path = join(dir, 'b.sql.gz')
    const gzip = createCompression('gzip', 6)
    const compressor = gzip.compress()
    const pieces = Array.from({ length: Math.ceil(data.length / 100_000) }, (_, i) => data.subarray(i * 100_000, (i + 1) * 100_000))
    await pipeline(Readable.from(pieces), raw, compressor, comp, createWriteStream(path))
    const segments = gzipSegmentsOf(compressor)!
    // The default block size: 256 KiB blocks, a segment every 4 MiB.
    expect(segments.length).toBe(1)
    const expected = { raw: raw.result(), compressed: comp.result(), gzipSegments: segments }
    await expect(verifyBackupFile(path, gzip, expected)).resolves.toBeUndefined()
    // Wrong offsets only cost the parallel path: the sequential read still proves the file.
    await expect(verifyBackupFile(path, gzip, { ...expected, gzipSegments: [segments[0]! + 7] })).resolves.toBeUndefined()
    const bytes = await readFile(path)
    const at = Math.floor(bytes.length * 0.75)
    bytes[at] = bytes[at]! ^ 0x10
    await writeFile(path, bytes)
    await expect(verifyBackupFile(path, gzip, expected)).rejects.toMatchObject({ code: 'VERIFY_FAILED' })
  })
})
