import { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { Writable } from 'node:stream'
import { describe, expect, it } from 'vitest'
import { Meter } from '../../src/pipeline/meter.js'

async function longest(chunks: string[], measure = true): Promise<number> {
  const meter = new Meter(false, measure)
  await pipeline(Readable.from(chunks.map((c) => Buffer.from(c))), meter, new Writable({ write: (_c, _e, cb) => cb() }))
  return meter.longestStatement
}

describe('Meter: the longest statement (what max_allowed_packet must hold for a mysqldump)', () => {
  it("counts a statement's every line, up to and with the `;` that ends its last one", async () => {
    // MariaDB's mysqldump: one row a line, the statement ends in `);`.
    const insert = "INSERT INTO `t` VALUES\n(1,'a'),\n(2,'bb'),\n(3,'ccc');"
    expect(await longest(['SET x=1;\n', `${insert}\n`, 'UNLOCK TABLES;\n'])).toBe(insert.length)
    // The same rows in other chunks: the measure does not depend on where the pipe cut them.
    const dump = `SET x=1;\n${insert}\nUNLOCK TABLES;\n`
    for (const at of [1, 7, 8, 9, 20, insert.length + 8, insert.length + 9, insert.length + 10]) {
      expect(await longest([dump.slice(0, at), dump.slice(at)]), `cut at ${at}`).toBe(insert.length)
    }
    expect(await longest([...dump])).toBe(insert.length)
  })
  it('ends a statement only where `;` is the last byte of a line (a `;` inside a value does not)', async () => {
    const insert = "INSERT INTO `t` VALUES\n(1,'a;b'),\n(2,';'),\n(3,'c;\\nd');"
    expect(await longest([`${insert}\n`, 'x;\n'])).toBe(insert.length)
    // `;` then `\n` split across two chunks ends it; `;` then another byte does not.
    expect(await longest(['ab;', '\ncd;\n'])).toBe(3)
    expect(await longest(['ab;', 'x\ncd;\n'])).toBe(8)
  })
  it('counts what follows the last `;` as a statement, and an empty dump as 0', async () => {
    expect(await longest(['short;\n', 'a much longer unfinished tail'])).toBe(29)
    expect(await longest(['no end at all;'])).toBe(14)
    expect(await longest([])).toBe(0)
    expect(await longest([';\n;\n;\n'])).toBe(1)
  })
  it('measures nothing unless asked (the PostgreSQL and SQLite streams skip the scan)', async () => {
    expect(await longest(['abcdef;\n'], false)).toBe(0)
  })
})
