/**
 * The age stage against the age CLI, both ways: our header (age-encryption) and our payload
 * (node:crypto ChaCha20-Poly1305) must be the format `age -d` reads, and what `age -e` writes
 * must decrypt through our reader; with two recipients, each decrypts; damage is caught.
 */
import { execFileSync, spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Readable, Writable } from 'node:stream'
import { buffer } from 'node:stream/consumers'
import { pipeline } from 'node:stream/promises'
import { Decrypter, Encrypter } from 'age-encryption'
import { describe, expect, it } from 'vitest'
import { AgeDecryptStream, AgeKeyError, beginAgeFile, type AgeKeys } from '../../src/pipeline/age.js'
import { CHUNK } from '../../src/pipeline/age-stream.js'

const dir = mkdtempSync(join(tmpdir(), 'dbk-age-'))

function keygen(name: string): { path: string; recipient: string; identity: string } {
  const path = join(dir, name)
  execFileSync('age-keygen', ['-o', path], { stdio: 'ignore' })
  const text = readFileSync(path, 'utf8')
  return { path, identity: /^AGE-SECRET-KEY-1\S+$/m.exec(text)![0], recipient: /public key: (age1\S+)/.exec(text)![1]! }
}
const alice = keygen('alice.txt')
const bob = keygen('bob.txt')

async function encrypt(plain: Buffer, recipients: string[]): Promise<Buffer> {
  const file = await beginAgeFile({ recipients, passphrase: undefined })
  return buffer(Readable.from(chunks(plain)).pipe(file.encrypt()))
}

/** Uneven pieces, so chunk boundaries fall everywhere. */
function* chunks(data: Buffer): Generator<Buffer> {
  let at = 0
  let step = 1
  while (at < data.length) {
    yield data.subarray(at, at + step)
    at += step
    step = (step * 7 + 13) % 200_000 || 1
  }
}

async function decrypt(file: Buffer, keys: AgeKeys): Promise<Buffer> {
  const out: Buffer[] = []
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      out.push(chunk)
      done()
    },
  })
  await pipeline(Readable.from(chunks(file)), new AgeDecryptStream(keys), sink)
  return Buffer.concat(out)
}

function ageCli(args: string[], input: Buffer): Buffer {
  const r = spawnSync('age', args, { input, maxBuffer: 1 << 30 })
  if (r.status !== 0) throw new Error(`age ${args.join(' ')}: ${r.stderr.toString()}`)
  return r.stdout
}

// Empty, one byte, exactly one chunk, one chunk and a byte, several chunks and a bit.
const SIZES = [0, 1, CHUNK, CHUNK + 1, 3 * CHUNK, 5 * CHUNK + 777]

describe('age stage', () => {
  it.each(SIZES)('writes what `age -d` reads, for each recipient (%i bytes)', async (size) => {
    const plain = randomBytes(size)
    const file = await encrypt(plain, [alice.recipient, bob.recipient])
    expect(ageCli(['-d', '-i', alice.path], file).equals(plain)).toBe(true)
    expect(ageCli(['-d', '-i', bob.path], file).equals(plain)).toBe(true)
    // and the reference implementation reads it too
    const d = new Decrypter()
    d.addIdentity(bob.identity)
    expect(Buffer.from(await d.decrypt(new Uint8Array(file))).equals(plain)).toBe(true)
  })

  it.each(SIZES)('reads what `age -e` and age-encryption write (%i bytes)', async (size) => {
    const plain = randomBytes(size)
    const byCli = ageCli(['-e', '-r', alice.recipient], plain)
    expect((await decrypt(byCli, { identities: [alice.identity], passphrases: [] })).equals(plain)).toBe(true)
    const e = new Encrypter()
    e.addRecipient(bob.recipient)
    const byJs = Buffer.from(await e.encrypt(new Uint8Array(plain)))
    expect((await decrypt(byJs, { identities: [bob.identity], passphrases: [] })).equals(plain)).toBe(true)
  })

  it('reads back with the ephemeral identity only, which is none of the recipients', async () => {
    const file = await beginAgeFile({ recipients: [alice.recipient], passphrase: undefined })
    expect(file.readBack.identities).toHaveLength(1)
    expect(file.readBack.identities[0]).not.toBe(alice.identity)
    const plain = randomBytes(2 * CHUNK + 5)
    const encrypted = await buffer(Readable.from([plain]).pipe(file.encrypt()))
    expect((await decrypt(encrypted, file.readBack)).equals(plain)).toBe(true)
    // Two X25519 stanzas: alice's and the ephemeral one.
    expect(encrypted.toString('latin1').match(/\n-> X25519 /g)).toHaveLength(2)
  })

  it('encrypts with a passphrase (scrypt) that reads it back', async () => {
    const file = await beginAgeFile({ recipients: [], passphrase: 'correct horse battery staple' }, 10)
    const plain = randomBytes(CHUNK + 3)
    const encrypted = await buffer(Readable.from([plain]).pipe(file.encrypt()))
    const back = await decrypt(encrypted, { identities: [], passphrases: ['correct horse battery staple'] })
    expect(back.equals(plain)).toBe(true)
    await expect(decrypt(encrypted, { identities: [], passphrases: ['wrong'] })).rejects.toBeInstanceOf(AgeKeyError)
  })

  it('refuses a wrong identity as a key error, not as damage', async () => {
    const file = await encrypt(randomBytes(1000), [alice.recipient])
    await expect(decrypt(file, { identities: [bob.identity], passphrases: [] })).rejects.toBeInstanceOf(AgeKeyError)
  })

  it('fails on a flipped byte anywhere and on any truncation', async () => {
    const plain = randomBytes(3 * CHUNK + 100)
    const file = await encrypt(plain, [alice.recipient])
    const keys = { identities: [alice.identity], passphrases: [] }
    const header = file.indexOf('\n--- ')
    for (const at of [5, header - 3, header + 10, file.length - 3 * CHUNK, file.length - 1]) {
      const bad = Buffer.from(file)
      bad[at] = bad[at]! ^ 0x01
      await expect(decrypt(bad, keys), `flipped byte at ${at}`).rejects.toThrow()
    }
    for (const cut of [10, header + 20, file.length - CHUNK - 16, file.length - (CHUNK + 16) * 2, file.length - 1]) {
      await expect(decrypt(file.subarray(0, cut), keys), `cut at ${cut}`).rejects.toThrow()
    }
    expect(await decrypt(file, keys)).toEqual(plain)
  })

  it('keeps the file for the age CLI when written to disk', async () => {
    const path = join(dir, 'x.age')
    writeFileSync(path, await encrypt(Buffer.from('-- Dump completed\n'), [alice.recipient]))
    expect(execFileSync('age', ['-d', '-i', alice.path, path], { encoding: 'utf8' })).toBe('-- Dump completed\n')
  })

  it('keeps memory flat over 300 MB through encryption and decryption, and applies backpressure', async () => {
    const chunk = randomBytes(1 << 20)
    let left = 300
    const big = new Readable({
      read() {
        this.push(left-- > 0 ? chunk : null)
      },
    })
    const file = await beginAgeFile({ recipients: [alice.recipient], passphrase: undefined })
    const before = process.memoryUsage().rss
    let peak = before
    const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 50)
    let bytes = 0
    await pipeline(
      big,
      file.encrypt(),
      new AgeDecryptStream(file.readBack),
      new Writable({
        highWaterMark: 1 << 20,
        write: (c: Buffer, _e, done) => {
          bytes += c.length
          done()
        },
      }),
    )
    clearInterval(timer)
    expect(bytes).toBe(300 << 20)
    expect(peak - before).toBeLessThan(100 * 1024 * 1024)
    // A stalled reader (nobody reads the plaintext): the source stops after a few MiB, not at 300.
    let pulledStalled = 0
    const endless = new Readable({
      read() {
        pulledStalled++
        this.push(chunk)
      },
    })
    const stalled = endless.pipe(file.encrypt()).pipe(new AgeDecryptStream(file.readBack))
    await new Promise((r) => setTimeout(r, 500))
    expect(pulledStalled).toBeGreaterThan(0)
    expect(pulledStalled).toBeLessThan(16)
    stalled.destroy()
    endless.destroy()
  }, 120_000)
})
