import { appendFileSync, createWriteStream } from 'node:fs'
import { mkdtemp, open, readFile, truncate, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { PassThrough, Readable, Transform } from 'node:stream'
import { buffer } from 'node:stream/consumers'
import { pipeline } from 'node:stream/promises'
import { gunzipSync } from 'node:zlib'
import { describe, expect, it } from 'vitest'
import { AgeDecryptStream, beginAgeFile } from '../../src/pipeline/age.js'
import { CHUNK, PAYLOAD_NONCE_BYTES } from '../../src/pipeline/age-stream.js'
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

describe('followBackupFile with ENCRYPTION=age: decrypted on the way, the end waited for', () => {
  // Hex text, ~2:1: the gzip stream (~1 MB) is ~16 age chunks of 64 KiB.
  const content = Buffer.from(`${randomBytes(1 << 20).toString('hex')}\n-- END\n`)
  const gz = createCompression('gzip', 6)
  const HEADER_END = (file: Buffer) => file.indexOf('\n--- ') + 1

  /** The encrypted backup as the pipeline writes it, in memory, with what its meters measured. */
  async function encryptedBackup() {
    const ageFile = await beginAgeFile({ recipients: [], passphrase: undefined })
    const raw = new Meter(true)
    const plaintext = new Meter()
    const compressed = new Meter()
    const out = new PassThrough()
    const [file] = await Promise.all([
      buffer(out),
      pipeline([Readable.from([content]), raw, gz.compress(), plaintext, ageFile.encrypt(), compressed, out]),
    ])
    const payload = file.indexOf('\n', HEADER_END(file)) + 1 + PAYLOAD_NONCE_BYTES
    return {
      file,
      /** Where the n-th sealed chunk (0-based) of the payload starts. */
      chunkAt: (n: number) => payload + n * (CHUNK + 16),
      decrypt: () => new AgeDecryptStream(ageFile.readBack),
      expected: {
        raw: raw.result(),
        compressed: compressed.result(),
        plaintext: plaintext.result(),
        checkContent: marker,
      },
    }
  }

  /**
   * Watches the follower's reads of the file (FileHandle.read; the writer below writes with
   * appendFileSync): how many bytes it has read, and `atEnd`, run when a read comes back empty.
   */
  async function watchReads(path: string) {
    const probe = await open(path, 'r')
    const proto = Object.getPrototypeOf(probe) as { read: (...args: unknown[]) => Promise<{ bytesRead: number }> }
    await probe.close()
    const original = proto.read
    const seen = { bytes: 0, atEnd: undefined as (() => Promise<void>) | undefined }
    proto.read = async function (this: unknown, ...args: unknown[]) {
      const result = await original.apply(this, args)
      seen.bytes += result.bytesRead
      const atEnd = seen.atEnd
      if (result.bytesRead === 0 && atEnd) {
        seen.atEnd = undefined
        await atEnd()
      }
      return result
    }
    return { seen, restore: () => (proto.read = original) }
  }

  /** Until the follower has read `n` bytes (every read of it passes the watch). */
  async function readTo(seen: { bytes: number }, n: number): Promise<void> {
    for (let waited = 0; seen.bytes < n; waited += 5) {
      if (waited > 5000) throw new Error(`the follower read ${seen.bytes} bytes, not ${n}`)
      await new Promise((resolve) => setTimeout(resolve, 5))
    }
    expect(seen.bytes).toBe(n)
  }

  it('a file that ends, for now, inside the header, inside a chunk, or after a whole chunk is waited for, not taken as the end', async () => {
    const b = await encryptedBackup()
    const path = join(await mkdtemp(join(tmpdir(), 'dbk-follow-age-')), 'b.sql.gz.age')
    await writeFile(path, '', { flag: 'wx' })
    const watch = await watchReads(path)
    try {
      let done!: () => void
      const written = new Promise<void>((resolve) => (done = resolve))
      // The count says "read what is there": every read reaches the file's current end.
      const following = followBackupFile(path, gz, written, new AbortController().signal, () => 1 << 30, b.decrypt)
      let at = 0
      // Inside the header; inside the 2nd chunk; after the 3rd whole chunk (not the last: more
      // follow); inside the last chunk.
      for (const cut of [20, b.chunkAt(1) + 1000, b.chunkAt(3), b.file.length - 5]) {
        appendFileSync(path, b.file.subarray(at, cut))
        at = cut
        await readTo(watch.seen, cut)
      }
      appendFileSync(path, b.file.subarray(at))
      done()
      await expect(following.finish(b.expected)).resolves.toBeUndefined()
      expect(watch.seen.bytes).toBe(b.file.length) // every byte read, once
    } finally {
      watch.restore()
    }
  })

  it('the writer finishing between a read that found no more and the look at whether it is done: the rest is still read', async () => {
    const b = await encryptedBackup()
    const path = join(await mkdtemp(join(tmpdir(), 'dbk-follow-age-')), 'b.sql.gz.age')
    const cut = b.chunkAt(5) + 123
    await writeFile(path, b.file.subarray(0, cut), { flag: 'wx' })
    const watch = await watchReads(path)
    try {
      let done!: () => void
      const written = new Promise<void>((resolve) => (done = resolve))
      const following = followBackupFile(path, gz, written, new AbortController().signal, () => 1 << 30, b.decrypt)
      await readTo(watch.seen, cut)
      // The next read finds the end for now; before it returns, the writer writes the rest and
      // says it is done. A reader that asked "is the writer done?" only after that read would end
      // here, 5 chunks in.
      watch.seen.atEnd = async () => {
        appendFileSync(path, b.file.subarray(cut))
        done()
        await new Promise((resolve) => setImmediate(resolve))
      }
      await expect(following.finish(b.expected)).resolves.toBeUndefined()
      expect(watch.seen.atEnd).toBeUndefined() // the race was staged
      expect(watch.seen.bytes).toBe(b.file.length)
    } finally {
      watch.restore()
    }
  })

  /** The file written in 20 pieces, 10 ms apart; `alter` makes what reaches the disk from what was measured. */
  async function writeSlowly(path: string, file: Buffer, alter: (piece: Buffer, at: number) => Buffer | undefined) {
    const pieces = 20
    await writeFile(path, '', { flag: 'wx' })
    for (let i = 0; i < pieces; i++) {
      await new Promise((resolve) => setTimeout(resolve, 10))
      const from = Math.floor((i * file.length) / pieces)
      const piece = alter(Buffer.from(file.subarray(from, Math.floor(((i + 1) * file.length) / pieces))), from)
      if (piece) appendFileSync(path, piece)
    }
  }

  async function followWhileWriting(
    b: Awaited<ReturnType<typeof encryptedBackup>>,
    alter: (piece: Buffer, at: number) => Buffer | undefined,
  ) {
    const path = join(await mkdtemp(join(tmpdir(), 'dbk-follow-age-')), 'b.sql.gz.age')
    const written = writeSlowly(path, b.file, alter)
    const following = followBackupFile(path, gz, written, new AbortController().signal, undefined, b.decrypt)
    await written
    return following.finish(b.expected).catch((e: unknown) => e)
  }

  it('accepts the intact file, followed as it is written', async () => {
    expect(await followWhileWriting(await encryptedBackup(), (piece) => piece)).toBeUndefined()
  })

  it('refuses a file with a changed byte on disk: its chunk does not authenticate', async () => {
    const b = await encryptedBackup()
    const flipAt = b.chunkAt(3) + 100
    const error = await followWhileWriting(b, (piece, at) => {
      if (at <= flipAt && flipAt < at + piece.length) piece[flipAt - at]! ^= 0x01
      return piece
    })
    expect(error).toBeInstanceOf(DbkeeperError)
    expect((error as DbkeeperError).code).toBe('VERIFY_FAILED')
    expect((error as Error).message).toMatch(
      /does not decrypt and decompress: chunk 4 of the encrypted payload does not authenticate/,
    )
  })

  it('refuses a file truncated on disk, inside a chunk or after a whole chunk', async () => {
    const b = await encryptedBackup()
    for (const length of [b.file.length - 1000, b.chunkAt(8)]) {
      const error = await followWhileWriting(b, (piece, at) =>
        at >= length ? undefined : piece.subarray(0, Math.min(piece.length, length - at)),
      )
      expect(error, `the file cut to ${length} bytes`).toBeInstanceOf(DbkeeperError)
      expect((error as DbkeeperError).code).toBe('VERIFY_FAILED')
      expect((error as Error).message).toMatch(/does not decrypt and decompress: .*(truncated|does not authenticate)/)
    }
  })
})
