import { createHash, randomBytes } from 'node:crypto'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { gzipSync } from 'node:zlib'
import { execa } from 'execa'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createCompression } from '../../src/pipeline/compression.js'
import { readGzipLayout } from '../../src/pipeline/gzip-reader.js'
import { verifyBackupFile } from '../../src/pipeline/verify.js'

const gzip = createCompression('gzip', 6)
const text = (n: number) => Buffer.from(Array.from({ length: n }, (_, i) => `row ${i} ${i % 97}\n`).join(''))
const measure = (b: Buffer) => ({ size: b.length, sha256: createHash('sha256').update(b).digest('hex') })

let dir: string
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'dbk-gzread-'))
})
afterAll(async () => {
  await rm(dir, { recursive: true, force: true })
})

async function file(name: string, bytes: Buffer): Promise<string> {
  const path = join(dir, name)
  await writeFile(path, bytes)
  return path
}

/** The verifier's answer for a gzip file whose raw content should be `raw`. */
function verify(path: string, bytes: Buffer, raw: Buffer) {
  return verifyBackupFile(path, gzip, { compressed: measure(bytes), raw: measure(raw) })
}

describe('reading gzip back: the fast path and its fallback', () => {
  it('finds the body behind optional header fields (a name written by gzip itself)', async () => {
    const raw = text(50_000)
    const plain = await file('plain.sql', raw)
    await execa('gzip', ['-k', '-6', plain]) // gzip records the file name (FNAME)
    const layout = await readGzipLayout(`${plain}.gz`)
    expect(layout?.bodyStart).toBe(10 + 'plain.sql'.length + 1)
    await expect(verify(`${plain}.gz`, await readFile(`${plain}.gz`), raw)).resolves.toBeUndefined()
  })

  it('verifies a file of several members (other tools write them) through the fallback', async () => {
    const a = text(30_000)
    const b = randomBytes(70_000)
    const bytes = Buffer.concat([gzipSync(a), gzipSync(b)])
    await expect(verify(await file('multi.gz', bytes), bytes, Buffer.concat([a, b]))).resolves.toBeUndefined()
  })

  it('refuses a wrong CRC32 in the trailer, as gunzip would', async () => {
    const raw = text(20_000)
    const bytes = gzipSync(raw)
    bytes.writeUInt32LE((bytes.readUInt32LE(bytes.length - 8) ^ 1) >>> 0, bytes.length - 8)
    await expect(verify(await file('crc.gz', bytes), bytes, raw)).rejects.toThrow(/does not decompress/)
  })

  it('refuses a wrong ISIZE and trailing garbage', async () => {
    const raw = text(20_000)
    const size = gzipSync(raw)
    size.writeUInt32LE(raw.length + 1, size.length - 4)
    await expect(verify(await file('isize.gz', size), size, raw)).rejects.toThrow(/does not decompress/)
    const garbage = Buffer.concat([gzipSync(raw), Buffer.from('garbage!')])
    await expect(verify(await file('garbage.gz', garbage), garbage, raw)).rejects.toThrow(/does not decompress/)
  })

  it('refuses a truncated file and a file that is not gzip', async () => {
    const raw = text(20_000)
    const bytes = gzipSync(raw)
    const cut = bytes.subarray(0, bytes.length - 20)
    await expect(verify(await file('cut.gz', cut), cut, raw)).rejects.toThrow(/does not decompress/)
    await expect(verify(await file('not.gz', raw), raw, raw)).rejects.toThrow(/does not decompress/)
    expect(await readGzipLayout(await file('tiny.gz', Buffer.from([0x1f, 0x8b])))).toBeUndefined()
  })
})
