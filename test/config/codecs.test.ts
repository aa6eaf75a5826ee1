/**
 * COMPRESSION and COMPRESSION_LEVEL are read from the codec table (src/config/codecs.ts): every
 * row's aliases, level range and default reach the configuration without a second list.
 */
import { describe, expect, it } from 'vitest'
import { CODECS, COMPRESSION_KINDS, DEFAULT_COMPRESSION, readCommand } from '../../src/config/codecs.js'
import { configError, parse, SQLITE } from './support.js'

describe('the configuration asks the codec table', () => {
  it('reading a file by hand undoes its stages in reverse order', () => {
    expect(readCommand('gzip', undefined, 'FILE')).toBe('gzip -dc FILE')
    expect(readCommand('zstd', undefined, 'b.sql.zst')).toBe('zstd -dc b.sql.zst')
    expect(readCommand('zstd', 'age', 'b.sql.zst.age')).toBe('age -d -i KEY_FILE b.sql.zst.age | zstd -dc')
    expect(readCommand('none', undefined, 'b.db')).toBe('cat b.db')
    // A kind of a newer dbkeeper: no command (reading it is refused, naming the kind), never a crash.
    expect(readCommand('brotli', undefined, 'b.sql.br')).toBeUndefined()
    expect(readCommand('gzip', 'rot13', 'b.sql.gz.x')).toBeUndefined()
  })

  it("offers exactly the table's kinds, and defaults to its default", () => {
    expect(parse(SQLITE).compression.kind).toBe(DEFAULT_COMPRESSION)
    const problem = configError({ ...SQLITE, COMPRESSION: 'lz4' }).problems[0]!
    expect(problem.expected).toBe(`one of ${COMPRESSION_KINDS.join(', ')}`)
  })

  for (const kind of COMPRESSION_KINDS) {
    const row = CODECS[kind]
    it(`${kind}: its aliases, its level range and its default level`, () => {
      for (const spelling of [kind, kind.toUpperCase(), ...row.aliases]) {
        expect(parse({ ...SQLITE, COMPRESSION: spelling }).compression.kind).toBe(kind)
      }
      const levels = row.levels
      if (!levels) {
        // A codec without levels does not read COMPRESSION_LEVEL, and records 0 as its manifest does.
        expect(parse({ ...SQLITE, COMPRESSION: kind, COMPRESSION_LEVEL: '42' }).compression).toEqual({ kind, level: 0 })
        return
      }
      expect(parse({ ...SQLITE, COMPRESSION: kind }).compression).toEqual({ kind, level: levels.default })
      expect(parse({ ...SQLITE, COMPRESSION: kind, COMPRESSION_LEVEL: String(levels.min) }).compression.level).toBe(
        levels.min,
      )
      expect(parse({ ...SQLITE, COMPRESSION: kind, COMPRESSION_LEVEL: String(levels.max) }).compression.level).toBe(
        levels.max,
      )
      for (const bad of [levels.min - 1, levels.max + 1]) {
        const problems = configError({ ...SQLITE, COMPRESSION: kind, COMPRESSION_LEVEL: String(bad) }).problems
        expect(problems).toEqual([{ variable: 'COMPRESSION_LEVEL', value: String(bad), expected: levels.expected }])
      }
    })
  }
})
