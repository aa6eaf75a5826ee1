/**
 * Every row of the codec table works end to end: its encoder's output goes back through its
 * decoder to the same bytes (the real gzip code and zstd binary), a file named with its extension
 * is a backup file name, and a reader follows the manifest: the file name plays no part, and a
 * kind the table lacks is refused with the kind and the next step named.
 */
import { randomBytes } from 'node:crypto'
import { Readable, Writable, type Duplex } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { describe, expect, it } from 'vitest'
import type { Manifest } from '../../src/catalog/manifest.js'
import { dataFileName, parseDataFileName } from '../../src/catalog/naming.js'
import { CODECS, COMPRESSION_KINDS, type CompressionKind } from '../../src/config/codecs.js'
import { compressionForFile, compressionOf, createCompression } from '../../src/pipeline/compression.js'
import { DbkeeperError } from '../../src/runtime/errors.js'

/** `input` (in two chunks) through one stage, collected. */
async function through(input: Buffer, stage: Duplex): Promise<Buffer> {
  const parts: Buffer[] = []
  const sink = new Writable({
    write: (chunk: Buffer, _enc, done) => {
      parts.push(chunk)
      done()
    },
  })
  await pipeline(Readable.from([input.subarray(0, 1000), input.subarray(1000)]), stage, sink)
  return Buffer.concat(parts)
}

type ManifestCodec = Pick<Manifest, 'id' | 'file' | 'compression' | 'engine'>
const manifest = (kind: string, file: string): ManifestCodec => ({
  id: 'db_20260101T000000Z',
  file,
  engine: 'sqlite',
  compression: { kind: kind as CompressionKind, level: 3 },
})

describe('every row of the codec table', () => {
  const data = Buffer.concat([randomBytes(50_000), Buffer.from('INSERT INTO t VALUES (1);\n'.repeat(5000))])
  for (const kind of COMPRESSION_KINDS) {
    const row = CODECS[kind]
    it(`${kind}: round trip, its extension, the level it records`, async () => {
      const level = row.levels?.default ?? 0
      const c = createCompression(kind, level)
      expect(c.ext).toBe(row.ext)
      expect(c.level).toBe(level)
      const packed = await through(data, c.compress())
      expect((await through(packed, c.decompress())).equals(data)).toBe(true)
      if (kind !== 'none') expect(packed.equals(data)).toBe(false)

      const name = dataFileName('db', new Date('2026-01-01T00:00:00Z'), 'sql', row.ext)
      expect(parseDataFileName(name)).toMatchObject({ contentExt: 'sql', compressionExt: row.ext })
      // The one use of a name: a bare file with no manifest.
      expect(compressionForFile(name).kind).toBe(kind)
    })
  }

  it("extensions are unique: a bare file's name never names two codecs", () => {
    const exts = COMPRESSION_KINDS.map((k) => CODECS[k].ext)
    expect(new Set(exts).size).toBe(exts.length)
  })
})

describe('readers follow the manifest', () => {
  it("the manifest's kind wins over the file name", () => {
    expect(compressionOf(manifest('zstd', 'db_20260101T000000Z.sql.gz')).kind).toBe('zstd')
    expect(compressionOf(manifest('gzip', 'db_20260101T000000Z.sql')).kind).toBe('gzip')
    expect(compressionOf(manifest('none', 'db_20260101T000000Z.sql.zst')).kind).toBe('none')
  })

  it('an unknown kind: VERSION, naming the kind, the kinds known, and the next step', () => {
    const error = (() => {
      try {
        compressionOf(manifest('brotli', 'db_20260101T000000Z.sql.br'))
      } catch (e) {
        return e
      }
    })()
    expect(error).toBeInstanceOf(DbkeeperError)
    expect((error as DbkeeperError).code).toBe('VERSION')
    expect((error as DbkeeperError).message).toBe(
      'backup db_20260101T000000Z is compressed with "brotli", which this dbkeeper cannot read (it reads gzip, zstd, none); nothing was changed',
    )
    expect((error as DbkeeperError).hint).toContain(
      'decompress db_20260101T000000Z.sql.br by hand and restore it with scripts/restore-sqlite.sh',
    )
  })
})
