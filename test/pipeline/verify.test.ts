import { createWriteStream } from 'node:fs'
import { mkdtemp, open, readFile, truncate, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Readable, Transform } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { gunzipSync } from 'node:zlib'
import { describe, expect, it } from 'vitest'
import { createCompression } from '../../src/pipeline/compression.js'
import { EDGE_BYTES, Meter } from '../../src/pipeline/meter.js'
import { followBackupFile, verifyBackupFile } from '../../src/pipeline/verify.js'
import { DbkeeperError } from '../../src/runtime/errors.js'
import { createHash, randomBytes } from 'node:crypto'

const marker = (_h: Buffer, t: Buffer) => (t.toString().trimEnd().endsWith('-- END') ? undefined : 'no end marker')

async function writeBackup(dir: string, content: Buffer) {
  const raw = new Meter(true)
  const comp = new Meter()
  const path = join(dir, 'b.sql.gz')
  await pipeline(
    Readable.from([content.subarray(0, 1000), content.subarray(1000)]),
    raw,
    createCompression('gzip', 6).compress(),
    comp,
    createWriteStream(path),
  )
  return { path, raw: raw.result(), compressed: comp.result(), head: raw.head(), tail: raw.tail() }
}

describe('Meter and verifyBackupFile', () => {
  const content = Buffer.from(`${'INSERT INTO t VALUES (1);\n'.repeat(20000)}-- END\n`)

  it('measures exactly what passed and keeps the first and last 64 KiB', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'dbk-verify-'))
    const b = await writeBackup(dir, content)
    expect(b.raw.size).toBe(content.length)
    expect(b.raw.sha256).toBe(createHash('sha256').update(content).digest('hex'))
    expect(b.compressed.size).toBe((await readFile(b.path)).length)
    expect(gunzipSync(await readFile(b.path)).equals(content)).toBe(true)
    expect(b.head.equals(content.subarray(0, EDGE_BYTES))).toBe(true)
    expect(b.tail.equals(content.subarray(content.length - EDGE_BYTES))).toBe(true)
  })

  it('accepts an intact file', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'dbk-verify-'))
    const b = await writeBackup(dir, content)
    await expect(
      verifyBackupFile(b.path, createCompression('gzip', 6), { ...b, checkContent: marker }),
    ).resolves.toBeUndefined()
  })

  it('refuses a flipped bit, a truncated file and a missing marker', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'dbk-verify-'))
    const gz = createCompression('gzip', 6)
    const b = await writeBackup(dir, content)
    const h = await open(b.path, 'r+')
    const buf = Buffer.alloc(1)
    await h.read(buf, 0, 1, 200)
    buf[0] = buf[0]! ^ 0x10
    await h.write(buf, 0, 1, 200)
    await h.close()
    const flipped = await verifyBackupFile(b.path, gz, b).catch((e: unknown) => e)
    expect(flipped).toBeInstanceOf(DbkeeperError)
    expect((flipped as DbkeeperError).code).toBe('VERIFY_FAILED')

    const t = await writeBackup(dir, content)
    await truncate(t.path, t.compressed.size - 10)
    await expect(verifyBackupFile(t.path, gz, t)).rejects.toThrow(/does not decompress|unexpected end/)

    const noMarker = Buffer.from('INSERT INTO t VALUES (1);\n'.repeat(100))
    const m = await writeBackup(dir, noMarker)
    await expect(verifyBackupFile(m.path, gz, { ...m, checkContent: marker })).rejects.toThrow(/no end marker/)
  })

  it('refuses a file replaced by another valid gzip of other content', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'dbk-verify-'))
    const b = await writeBackup(dir, content)
    const other = await writeBackup(await mkdtemp(join(tmpdir(), 'dbk-verify-')), Buffer.from('other\n-- END\n'))
    await writeFile(b.path, await readFile(other.path))
    await expect(verifyBackupFile(b.path, createCompression('gzip', 6), b)).rejects.toThrow(/does not match/)
  })
})

describe('followBackupFile: the read-back while the file is written', () => {
  // Hex text: ~2:1, so the file (~1 MB) spans several of the reader's 256 KiB chunks while it grows.
  const content = Buffer.from(`${randomBytes(1 << 20).toString('hex')}\n-- END\n`)
  const gz = createCompression('gzip', 6)

  /** Writes the gzip of `content` in 20 pieces, 10 ms apart, as a dump arrives; `alter` sits between the meter and the file. */
  function slowBackup(path: string, alter?: Transform) {
    const raw = new Meter(true)
    const comp = new Meter()
    const pieces = Array.from({ length: 20 }, (_, i) =>
      content.subarray((i * content.length) / 20, ((i + 1) * content.length) / 20),
    )
    async function* slowly() {
      for (const piece of pieces) {
        await new Promise((resolve) => setTimeout(resolve, 10))
        yield piece
      }
    }
    const written = pipeline([
      Readable.from(slowly()),
      raw,
      gz.compress(),
      comp,
      ...(alter ? [alter] : []),
      createWriteStream(path, { flags: 'wx' }),
    ])
    return {
      written,
      handed: () => comp.size,
      expected: () => ({ raw: raw.result(), compressed: comp.result(), checkContent: marker }),
    }
  }

  it('follows the file from before it exists to its end, and accepts it', async () => {
    const path = join(await mkdtemp(join(tmpdir(), 'dbk-follow-')), 'b.sql.gz')
    let writing!: (written: Promise<void>) => void
    const written = new Promise<void>((resolve) => (writing = (w) => resolve(w)))
    const following = followBackupFile(path, gz, written, new AbortController().signal)
    await new Promise((resolve) => setTimeout(resolve, 30)) // the reader starts first, the file comes later
    const w = slowBackup(path)
    writing(w.written)
    await w.written
    await expect(following.finish(w.expected())).resolves.toBeUndefined()
  })

  it('refuses a file whose bytes differ from what was measured on the way in', async () => {
    const path = join(await mkdtemp(join(tmpdir(), 'dbk-follow-')), 'b.sql.gz')
    let at = 0
    // One bit flipped past the meters, as a bad disk or a bug between them and the file would.
    const flip = new Transform({
      transform(chunk: Buffer, _enc, done) {
        const copy = Buffer.from(chunk)
        if (at <= 500 && 500 < at + copy.length) copy[500 - at]! ^= 0x01
        at += copy.length
        done(null, copy)
      },
    })
    const w = slowBackup(path, flip)
    const following = followBackupFile(path, gz, w.written, new AbortController().signal)
    await w.written
    const error = await following.finish(w.expected()).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(DbkeeperError)
    expect((error as DbkeeperError).code).toBe('VERIFY_FAILED')
  })

  /** Holds every chunk back 15 ms between the meter and the file: the writer's count runs ahead of the file. */
  function lagging(flipAt?: number): Transform {
    let at = 0
    return new Transform({
      transform(chunk: Buffer, _enc, done) {
        const copy = Buffer.from(chunk)
        if (flipAt !== undefined && at <= flipAt && flipAt < at + copy.length) copy[flipAt - at]! ^= 0x01
        at += copy.length
        setTimeout(() => done(null, copy), 15)
      },
    })
  }

  it("with the writer's byte count instead of the file's size: a count ahead of the file only means short reads, and the file is accepted", async () => {
    const path = join(await mkdtemp(join(tmpdir(), 'dbk-follow-')), 'b.sql.gz')
    const w = slowBackup(path, lagging())
    const following = followBackupFile(path, gz, w.written, new AbortController().signal, w.handed)
    await w.written
    await expect(following.finish(w.expected())).resolves.toBeUndefined()
  })

  it("with the writer's byte count: the bytes checked are still the file's (a bit flipped after the meter is found)", async () => {
    const path = join(await mkdtemp(join(tmpdir(), 'dbk-follow-')), 'b.sql.gz')
    const w = slowBackup(path, lagging(70_000))
    const following = followBackupFile(path, gz, w.written, new AbortController().signal, w.handed)
    await w.written
    const error = await following.finish(w.expected()).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(DbkeeperError)
    expect((error as DbkeeperError).code).toBe('VERIFY_FAILED')
  })

  it('stop() ends the read-back of a backup that failed', async () => {
    const path = join(await mkdtemp(join(tmpdir(), 'dbk-follow-')), 'b.sql.gz')
    const following = followBackupFile(path, gz, new Promise(() => {}), new AbortController().signal)
    following.stop()
    await expect(
      following.finish({ raw: { size: 0, sha256: '' }, compressed: { size: 0, sha256: '' } }),
    ).rejects.toThrow(/abort/i)
  })
})
