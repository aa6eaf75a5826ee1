/**
 * The pure parts of reading Litestream's position: an LZ4 frame's decompressed size (the replica's
 * newest segment) and SQLite's WAL checksum. The rule itself runs against the real Litestream in
 * archiver.test.ts.
 */
import { describe, expect, it } from 'vitest'
import { lz4ContentSize, walChecksum } from '../../../src/engines/sqlite/wal-position.js'

function frame(...blocks: Buffer[]): Buffer {
  // Magic, FLG (version 01, independent blocks), BD (4 MB blocks), header checksum (not read).
  const head = Buffer.from([0x04, 0x22, 0x4d, 0x18, 0x60, 0x70, 0x00])
  const parts = blocks.flatMap((b) => {
    const size = Buffer.alloc(4)
    size.writeUInt32LE(b.length)
    return [size, b]
  })
  return Buffer.concat([head, ...parts, Buffer.alloc(4)])
}

describe('lz4ContentSize', () => {
  it('adds literals and matches of compressed blocks, and the size of stored ones', () => {
    // 4 literals + a 5-byte match, then 5 literals: 14 bytes.
    const compressed = Buffer.from([0x41, 97, 98, 99, 100, 0x04, 0x00, 0x50, 101, 102, 103, 104, 105])
    expect(lz4ContentSize(frame(compressed))).toBe(14)
    const stored = Buffer.from('abcdefg')
    const storedBlock = Buffer.concat([stored])
    const f = frame(storedBlock)
    f.writeUInt32LE((0x80000000 | stored.length) >>> 0, 7)
    expect(lz4ContentSize(f)).toBe(7)
    // Extended lengths: 15 + 255 + 3 literals.
    const long = Buffer.concat([Buffer.from([0xf0, 255, 3]), Buffer.alloc(273)])
    expect(lz4ContentSize(frame(long))).toBe(273)
  })

  it('is undefined for what is not an LZ4 frame or is cut short', () => {
    expect(lz4ContentSize(Buffer.from('age-encryption.org/v1\n'))).toBeUndefined()
    const whole = frame(Buffer.from([0x50, 1, 2, 3, 4, 5]))
    expect(lz4ContentSize(whole.subarray(0, whole.length - 4))).toBeUndefined()
  })
})

describe('walChecksum', () => {
  it("is SQLite's: s1 += x0 + s2, s2 += x1 + s1, modulo 2^32, in the WAL's byte order", () => {
    const data = Buffer.from([0, 0, 0, 1, 0, 0, 0, 2, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0])
    // (1, 3), then s1 = 1 + 0xffffffff + 3 = 3 (mod 2^32), s2 = 3 + 0 + 3 = 6.
    expect(walChecksum(true, data, 0, 0)).toEqual([3, 6])
    expect(walChecksum(false, data.subarray(0, 8), 0, 0)).toEqual([0x01000000, 0x03000000])
  })
})
