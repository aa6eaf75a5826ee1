import { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { Writable } from 'node:stream'
import { describe, expect, it } from 'vitest'
import { Meter } from '../../src/pipeline/meter.js'

async function longest(chunks: string[], measure = true): Promise<number> {
  const meter = new Meter(false, measure)
  await pipeline(Readable.from(chunks.map((c) => Buffer.from(c))), meter, new Writable({ write: (_c, _e, cb) => cb() }))
  return meter.longestLine
}

describe('Meter: the longest line (what max_allowed_packet must hold for a mysqldump)', () => {
  it('measures lines that span chunks, without their newline', async () => {
    expect(await longest(['ab', 'cdef\nxy', 'z\n', '1234567890', '12\nq'])).toBe(12)
  })
  it('counts a last line without a newline, and an empty dump as 0', async () => {
    expect(await longest(['short\n', 'a much longer last line'])).toBe(23)
    expect(await longest([])).toBe(0)
    expect(await longest(['\n\n\n'])).toBe(0)
  })
  it('measures nothing unless asked (the PostgreSQL and SQLite streams skip the scan)', async () => {
    expect(await longest(['abcdef\n'], false)).toBe(0)
  })
})
