/** File names on the volume (src/catalog/naming.ts) and the one "newest" rule (src/catalog/order.ts), pure. */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  MAX_PLAIN_ENCODED,
  decodeName,
  encodeName,
  isShortenedName,
  parseDataFileName,
} from '../../src/catalog/naming.js'
import { CLOCK_SKEW_TOLERANCE_MS, isFromTheFuture, newestFirst } from '../../src/catalog/order.js'

/** The longest name a backup of `name` puts on disk: the manifest's temporary file, with a `.age` to come. */
const longestFile = (name: string) => `.${encodeName(name)}_20260101T000000Z.dump.zst.age.manifest.json.dbk-tmp`
const bytes = (s: string) => Buffer.byteLength(s, 'utf8')
const cyrillic61 = 'База_данных_интернет_магазина_электроники_и_бытовой_техники_1'.padEnd(61, 'я')
const mariadbMax = 'б'.repeat(64)

describe('encodeName', () => {
  it('keeps the encoding of every name that fits (backward compatible), and round-trips it', () => {
    expect(encodeName('shop')).toBe('shop')
    expect(encodeName('../x y')).toBe('%2E%2E%2Fx%20y')
    expect(encodeName('ü')).toBe('%C3%BC')
    const fits = 'a'.repeat(MAX_PLAIN_ENCODED)
    expect(encodeName(fits)).toBe(fits)
    expect(decodeName(encodeName('магазин'))).toBe('магазин')
    expect(isShortenedName(encodeName('магазин'))).toBe(false)
  })

  it('shortens a long name to a stable, bounded, recognisable segment', () => {
    expect(cyrillic61).toHaveLength(61)
    for (const name of [cyrillic61, mariadbMax, 'x'.repeat(MAX_PLAIN_ENCODED + 1), '%'.repeat(67)]) {
      const enc = encodeName(name)
      expect(isShortenedName(enc)).toBe(true)
      expect(enc).toBe(encodeName(name)) // stable
      expect(enc).toMatch(/^[A-Za-z0-9_%-]+~[0-9a-f]{16}$/)
      expect(enc.length).toBeLessThanOrEqual(117)
      expect(bytes(longestFile(name))).toBeLessThan(200)
      // Whole characters: the start decodes to the start of the real name.
      expect(name.startsWith(decodeName(enc.slice(0, enc.indexOf('~'))))).toBe(true)
      expect(parseDataFileName(`${enc}_20260101T000000Z.sql.gz`)?.id).toBe(`${enc}_20260101T000000Z`)
    }
    // The start stays readable: an operator recognises the database in `ls`.
    expect(decodeName(encodeName(cyrillic61).split('~')[0]!)).toBe(cyrillic61.slice(0, 18)) // '_' is 1 byte, a Cyrillic letter 6 encoded
  })

  it('keeps every file of any name under NAME_MAX, and never gives two names one segment (500 random cases)', () => {
    const seen = new Map<string, string>()
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', minLength: 1, maxLength: 64 }), (name) => {
        expect(bytes(longestFile(name))).toBeLessThanOrEqual(255)
        const enc = encodeName(name)
        const other = seen.get(enc)
        if (other !== undefined) expect(other).toBe(name)
        seen.set(enc, name)
      }),
      { numRuns: 500 },
    )
  })

  it('gives long names that share their first 100 bytes different segments', () => {
    const base = 'д'.repeat(60)
    const names = ['а', 'б', 'в', '1', '2'].map((end) => `${base}${end}`)
    const encoded = names.map(encodeName)
    expect(new Set(encoded).size).toBe(names.length)
    expect(new Set(encoded.map((e) => e.split('~')[0])).size).toBe(1)
  })
})

describe('newestFirst and isFromTheFuture', () => {
  const m = (startedAt: string, id: string) => ({ startedAt, id })

  it('orders by start time as a time (not as a string), then by id, newest first', () => {
    const list = [
      m('2026-01-01T00:00:00Z', 'a_1'),
      m('2026-01-01T00:00:01.000Z', 'a_2'),
      m('2026-01-01T00:00:00.000Z', 'a_3'),
      m('not a time', 'a_0'),
    ]
    expect(list.sort(newestFirst).map((x) => x.id)).toEqual(['a_2', 'a_3', 'a_1', 'a_0'])
  })

  it('calls a backup from the future only beyond the tolerance', () => {
    const now = new Date('2026-01-01T00:00:00Z')
    expect(isFromTheFuture(m(new Date(now.getTime() + CLOCK_SKEW_TOLERANCE_MS).toISOString(), 'x'), now)).toBe(false)
    expect(isFromTheFuture(m(new Date(now.getTime() + CLOCK_SKEW_TOLERANCE_MS + 1000).toISOString(), 'x'), now)).toBe(
      true,
    )
    expect(isFromTheFuture(m('not a time', 'x'), now)).toBe(false)
  })
})
