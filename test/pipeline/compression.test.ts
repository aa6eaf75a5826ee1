import { randomBytes } from 'node:crypto'
import { createWriteStream } from 'node:fs'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Readable, Writable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { crc32, deflateRawSync, gunzipSync } from 'node:zlib'
import { execa } from 'execa'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { compressionForFile, createCompression } from '../../src/pipeline/compression.js'
import { ParallelGzip } from '../../src/pipeline/gzip-parallel.js'
import { Meter } from '../../src/pipeline/meter.js'
import { verifyBackupFile } from '../../src/pipeline/verify.js'

const BLOCK = 64 * 1024 // small blocks: many boundaries in little data

/** Text that compresses like a dump: repeated statements with varying numbers. */
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

/** `data` in pieces of `piece` bytes: the compressor must not care how its input is cut. */
function source(data: Buffer, piece: number): Readable {
  const chunks: Buffer[] = []
  for (let i = 0; i < data.length; i += piece) chunks.push(data.subarray(i, i + piece))
  return Readable.from(chunks)
}

async function collect(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const parts: Buffer[] = []
  for await (const chunk of stream) parts.push(chunk as Buffer)
  return Buffer.concat(parts)
}

async function gzipParallel(data: Buffer, piece: number, blockSize = BLOCK, level = 6): Promise<Buffer> {
  const gz = new ParallelGzip({ level, blockSize, maxInFlight: 3 })
  const [out] = await Promise.all([collect(gz), pipeline(source(data, piece), gz)])
  return out
}

let dir: string
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'dbk-compress-'))
})
afterAll(async () => {
  await rm(dir, { recursive: true, force: true })
})

describe('ParallelGzip: one standard gzip stream from blocks deflated in parallel', () => {
  const sizes = [0, 1, BLOCK - 1, BLOCK, BLOCK + 1, 3 * BLOCK + 17, 5 * 1024 * 1024 + 3]
  for (const size of sizes) {
    it(`round-trips ${size} bytes of random and of repetitive data, whatever the input chunking`, async () => {
      for (const data of [randomBytes(size), dumpLike(size)]) {
        for (const piece of [1000, 64 * 1024, Math.max(1, size)]) {
          if (piece === 1000 && size > 1_000_000) continue // 5000 tiny chunks add time, not coverage
          const gz = await gzipParallel(data, piece)
          expect(gunzipSync(gz).equals(data)).toBe(true)
          // Header: magic, deflate, no flags; trailer: CRC32 and ISIZE of the raw bytes.
          expect([...gz.subarray(0, 4)]).toEqual([0x1f, 0x8b, 8, 0])
          expect(gz.readUInt32LE(gz.length - 8)).toBe(crc32(data))
          expect(gz.readUInt32LE(gz.length - 4)).toBe(data.length % 2 ** 32)
        }
      }
    })
  }

  it('passes the real `gzip -t`, and `gunzip -c` gives back the exact bytes', async () => {
    const data = Buffer.concat([dumpLike(3 << 20), randomBytes(300_000), dumpLike(2 << 20)])
    const file = join(dir, 'real.gz')
    await writeFile(file, await gzipParallel(data, 65536, 256 * 1024))
    await execa('gzip', ['-t', file])
    const back = await execa('gunzip', ['-c', file], { encoding: 'buffer', stripFinalNewline: false })
    expect(Buffer.from(back.stdout).equals(data)).toBe(true)
  })

  it('costs almost nothing in size against one serial deflate stream (the dictionary carries matches across blocks)', async () => {
    const data = dumpLike(4 << 20)
    const serial = deflateRawSync(data, { level: 6 }).length
    const parallel = (await gzipParallel(data, 65536, 256 * 1024)).length
    expect(parallel / serial).toBeLessThan(1.01)
  })

  it('round-trips when a block compresses far worse than the one before (its output outgrows the guessed buffer)', async () => {
    // Block buffers are reused and each output buffer is sized from the previous block's output:
    // alternate compressible and incompressible blocks, with every number of blocks in flight.
    const parts: Buffer[] = []
    for (let i = 0; i < 12; i++) parts.push(i % 3 === 2 ? randomBytes(BLOCK) : dumpLike(BLOCK))
    const data = Buffer.concat(parts)
    for (const maxInFlight of [1, 2, 4]) {
      const gz = new ParallelGzip({ level: 6, blockSize: BLOCK, maxInFlight })
      const [out] = await Promise.all([collect(gz), pipeline(source(data, 10_000), gz)])
      expect(gunzipSync(out).equals(data)).toBe(true)
    }
  })

  it('fails with the source error when the source stream fails', async () => {
    const failing = new Readable({
      read() {
        this.push(dumpLike(200_000))
        this.destroy(new Error('server went away'))
      },
    })
    const sink = new Writable({ write: (_c, _e, done) => done() })
    await expect(pipeline(failing, new ParallelGzip({ level: 6, blockSize: BLOCK }), sink)).rejects.toThrow(
      'server went away',
    )
  })

  it('applies backpressure: a stalled reader stops the source after a few blocks', async () => {
    // Incompressible input: the output buffer fills as fast as the input is taken.
    const noise = randomBytes(65536)
    let produced = 0
    const endless = new Readable({
      read() {
        produced += noise.length
        this.push(noise)
      },
    })
    const gz = new ParallelGzip({ level: 1, blockSize: BLOCK, maxInFlight: 2 })
    endless.pipe(gz) // nobody reads gz
    await new Promise((r) => setTimeout(r, 1500))
    // Stream buffers (16 KiB) plus at most two blocks in flight and the output waiting: well under 2 MB.
    expect(produced).toBeLessThan(2 * 1024 * 1024)
    endless.destroy()
    gz.destroy()
  })

  it('keeps memory flat over 300 MB of input', async () => {
    const chunk = dumpLike(1 << 20)
    let left = 300
    const big = new Readable({
      read() {
        this.push(left-- > 0 ? Buffer.from(chunk) : null)
      },
    })
    const before = process.memoryUsage().rss
    let peak = before
    const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 50)
    await pipeline(big, new ParallelGzip({ level: 1 }), new Writable({ write: (_c, _e, done) => done() }))
    clearInterval(timer)
    // Garbage waits for V8's collector (up to ~64 MB of buffers): the bound is generous but far below 300 MB.
    expect(peak - before).toBeLessThan(100 * 1024 * 1024)
  }, 120_000)
})

describe('the Compression stage', () => {
  it('names files and picks the decompressor from the name', () => {
    expect(createCompression('gzip', 6).ext).toBe('.gz')
    expect(createCompression('zstd', 3).ext).toBe('.zst')
    expect(createCompression('none', 0).ext).toBe('')
    expect(compressionForFile('db_20260101T000000Z.sql.gz').kind).toBe('gzip')
    expect(compressionForFile('db_20260101T000000Z.sql.zst').kind).toBe('zstd')
    expect(compressionForFile('db_20260101T000000Z.db').kind).toBe('none')
  })

  async function writeBackup(kind: 'gzip' | 'zstd', data: Buffer, name: string) {
    const compression = createCompression(kind, kind === 'gzip' ? 6 : 3)
    const raw = new Meter(true)
    const compressed = new Meter(false)
    const path = join(dir, name)
    await pipeline(source(data, 65536), raw, compression.compress(), compressed, createWriteStream(path))
    return { path, compression, raw: raw.result(), compressed: compressed.result() }
  }

  it('zstd: round trip through the real binary, `zstd -t` passes, and the file verifies', async () => {
    const data = Buffer.concat([dumpLike(3 << 20), randomBytes(200_000)])
    const b = await writeBackup('zstd', data, 'x.sql.zst')
    await execa('zstd', ['-t', '-q', b.path])
    const back = await execa('zstd', ['-d', '-c', '-q', b.path], { encoding: 'buffer', stripFinalNewline: false })
    expect(Buffer.from(back.stdout).equals(data)).toBe(true)
    // One frame per MiB of input, each with its checksum (`zstd -lv` reads them all).
    const list = await execa('zstd', ['-lv', b.path])
    expect(list.stdout).toMatch(/# Zstandard Frames: 4\b/)
    expect(list.stdout).toMatch(/Check: XXH64/)
    await expect(verifyBackupFile(b.path, compressionForFile(b.path), b)).resolves.toBeUndefined()
  })

  it('zstd: each frame is one write that ends it, so every header carries its size (`zstd -l` prints the dump size)', async () => {
    // libzstd writes a frame's size into its header only when the whole block came with the
    // ZSTD_e_end that starts the frame: one write, one trip to the pool (zstd.ts, FrameCompressor).
    // A block written and then flushed is a frame whose header says "size unknown", which
    // `zstd -lv` then cannot add up.
    const data = Buffer.concat([dumpLike(3 << 20), randomBytes(200_000)])
    const b = await writeBackup('zstd', data, 'sized.sql.zst')
    const list = await execa('zstd', ['-lv', b.path])
    expect(list.stdout).toMatch(/# Zstandard Frames: 4\b/)
    expect(list.stdout).toContain(`Decompressed Size: ${(data.length / 2 ** 20).toFixed(2)} MiB (${data.length} B)`)
  })

  it('zstd: the file is as small as `zstd -<level> -T2` makes it, and the level is honoured', async () => {
    const data = dumpLike(4 << 20)
    const input = join(dir, 'plain.sql')
    await writeFile(input, data)
    for (const level of [1, 3, 9]) {
      const ours = await collect(source(data, 65536).pipe(createCompression('zstd', level).compress()))
      const theirs = await execa('zstd', ['-q', '-c', `-${level}`, '-T2', input], { encoding: 'buffer' })
      expect(ours.length, `level ${level}`).toBeLessThanOrEqual(Math.ceil(theirs.stdout.length * 1.02))
    }
    const fast = await collect(source(data, 65536).pipe(createCompression('zstd', 1).compress()))
    const small = await collect(source(data, 65536).pipe(createCompression('zstd', 9).compress()))
    expect(small.length).toBeLessThan(fast.length)
  })

  it('zstd: an empty input is one empty frame that `zstd -d` reads', async () => {
    const b = await writeBackup('zstd', Buffer.alloc(0), 'empty.sql.zst')
    const back = await execa('zstd', ['-d', '-c', '-q', b.path], { encoding: 'buffer', stripFinalNewline: false })
    expect(back.stdout.length).toBe(0)
    await expect(verifyBackupFile(b.path, compressionForFile(b.path), b)).resolves.toBeUndefined()
  })

  it('zstd: a truncated file fails verification', async () => {
    const b = await writeBackup('zstd', dumpLike(1 << 20), 'damaged.sql.zst')
    const bytes = await readFile(b.path)
    await writeFile(b.path, bytes.subarray(0, bytes.length - 100))
    await expect(verifyBackupFile(b.path, compressionForFile(b.path), b)).rejects.toThrow(
      /does not decompress: unexpected end of file/,
    )
  })

  it("zstd: a flipped byte inside a frame fails the frame's own check, not only the sha256", async () => {
    const data = Buffer.concat([dumpLike(2 << 20), randomBytes(100_000)])
    const b = await writeBackup('zstd', data, 'flipped.sql.zst')
    const bytes = await readFile(b.path)
    bytes[bytes.length >> 1]! ^= 0x01
    await writeFile(b.path, bytes)
    await expect(collect(source(bytes, 65536).pipe(createCompression('zstd', 3).decompress()))).rejects.toThrow()
    await expect(verifyBackupFile(b.path, compressionForFile(b.path), b)).rejects.toThrow(/does not decompress/)
  })

  it('zstd: bytes that are no frame between frames fail the read, as they fail `zstd -t`', async () => {
    const first = await collect(source(dumpLike(1 << 20), 65536).pipe(createCompression('zstd', 3).compress()))
    const second = await collect(source(dumpLike(1000), 1000).pipe(createCompression('zstd', 3).compress()))
    const path = join(dir, 'junk.sql.zst')
    await writeFile(path, Buffer.concat([first, Buffer.from('not a frame'), second]))
    await expect(execa('zstd', ['-t', '-q', path])).rejects.toThrow()
    // zlib's decoder alone stops at the junk and reports success with 1 MiB of output.
    await expect(
      collect(source(await readFile(path), 65536).pipe(createCompression('zstd', 3).decompress())),
    ).rejects.toThrow(/bytes after the last complete frame at offset \d+ are not zstd data/)
    await expect(
      collect(
        source(Buffer.concat([first, second, Buffer.from('trailing')]), 65536).pipe(
          createCompression('zstd', 3).decompress(),
        ),
      ),
    ).rejects.toThrow(/are not zstd data/)
  })

  it('zstd: written without the `zstd` binary (only reading by hand needs it)', async () => {
    const saved = process.env.PATH
    process.env.PATH = dir // holds no zstd
    const data = dumpLike(1 << 20)
    try {
      const b = await writeBackup('zstd', data, 'nobinary.sql.zst')
      await expect(verifyBackupFile(b.path, compressionForFile(b.path), b)).resolves.toBeUndefined()
    } finally {
      process.env.PATH = saved
    }
  })

  it('gzip: the default stage writes files that verify and that plain gunzip reads', async () => {
    const data = Buffer.concat([dumpLike(2 << 20), randomBytes(100_000)])
    const b = await writeBackup('gzip', data, 'x.sql.gz')
    await expect(verifyBackupFile(b.path, compressionForFile(b.path), b)).resolves.toBeUndefined()
    expect(gunzipSync(await readFile(b.path)).equals(data)).toBe(true)
  })
})
