/**
 * A sectioned gzip file (gzip-parallel.ts `sections`, engines/mysql/sections.ts): one member per
 * section of a mysqldump — head, each table, tail — whose offsets and contents are recorded, and
 * which `gunzip -c` still reads as the one dump, byte for byte.
 */
import { createHash } from 'node:crypto'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { gunzipSync } from 'node:zlib'
import { execa } from 'execa'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { MysqldumpSections } from '../../src/engines/mysql/sections.js'
import { createCompression } from '../../src/pipeline/compression.js'
import { ParallelGzip } from '../../src/pipeline/gzip-parallel.js'
import { verifyBackupFile } from '../../src/pipeline/verify.js'

/** The shape of a mysqldump: head, tables with data and a trigger (whose body holds mysqldump's own titles, not cut), a view's stand-in, the tail. */
function dump(rows: number): Buffer {
  const head = `/*M!999999\\- enable the sandbox mode */ \n-- MariaDB dump 10.19\n--\n\n/*!40101 SET NAMES utf8mb4 */;\n/*!40014 SET @OLD_FOREIGN_KEY_CHECKS=@@FOREIGN_KEY_CHECKS, FOREIGN_KEY_CHECKS=0 */;\n\n`
  const table = (name: string, n: number) => {
    const values = Array.from({ length: n }, (_, i) => `(${i},'-- Table structure for table ${i}')`)
    return `--\n-- Table structure for table \`${name}\`\n--\n\nDROP TABLE IF EXISTS \`${name}\`;\nCREATE TABLE \`${name}\` (id int);\nINSERT INTO \`${name}\` VALUES ${values.join(',')};\nDELIMITER ;;\n/*!50003 CREATE TRIGGER t_${name} BEFORE INSERT ON ${name} FOR EACH ROW BEGIN\n\n--\n-- Table structure for table \`in_a_trigger\`\n--\n\n--\n-- Dumping routines for database 'in_a_trigger'\n--\n/*!40101 SET SQL_MODE=@OLD_SQL_MODE */;\nSET @x = 1; END */;;\nDELIMITER ;\n\n`
  }
  const view = `--\n-- Temporary table structure for view \`v\`\n--\n\n/*!50001 CREATE VIEW \`v\` AS SELECT 1 AS \`id\` */;\n\n`
  const tail = `--\n-- Dumping routines for database 'd'\n--\n\n--\n-- Table structure for table in a routine's comment\n--\n--\n-- Final view structure for view \`v\`\n--\n\n/*!40103 SET TIME_ZONE=@OLD_TIME_ZONE */;\n/*!40101 SET SQL_MODE=@OLD_SQL_MODE */;\n\n-- Dump completed on 2026-12-06 21:00:00\n`
  return Buffer.from(head + table('a', rows) + table('b', rows * 3) + view + table('c', 1) + tail)
}

/** `data` in pieces of `piece` bytes: where a chunk ends must not matter. */
function source(data: Buffer, piece: number): Readable {
  const chunks: Buffer[] = []
  for (let i = 0; i < data.length; i += piece) chunks.push(data.subarray(i, i + piece))
  return Readable.from(chunks)
}

async function sectioned(data: Buffer, piece: number) {
  const gz = new ParallelGzip({ level: 6, blockSize: 64 * 1024, maxInFlight: 3, sections: new MysqldumpSections() })
  const parts: Buffer[] = []
  gz.on('data', (c: Buffer) => parts.push(c))
  await pipeline(source(data, piece), gz)
  return { file: Buffer.concat(parts), members: gz.members! }
}

let dir: string
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'dbk-members-'))
})
afterAll(async () => {
  await rm(dir, { recursive: true, force: true })
})

describe('a sectioned gzip file: one member per section of the dump', () => {
  const data = dump(20_000)
  const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex')

  for (const piece of [1, 7, 40, 1000, 64 * 1024, data.length]) {
    it(`cuts at head, each table and the tail, whatever the chunking (${piece}-byte chunks)`, async () => {
      if (piece === 1) return expect((await sectioned(data.subarray(0, 5000), 1)).members.length).toBe(2)
      const { file, members } = await sectioned(data, piece)
      expect(gunzipSync(file).equals(data)).toBe(true)
      expect(members.map((m) => m.kind)).toEqual(['head', 'table', 'table', 'table', 'table', 'tail'])
      // The members tile the file and the content, and each is a gzip member of its own.
      let offset = 0
      let at = 0
      for (const m of members) {
        expect(m.offset).toBe(offset)
        const content = gunzipSync(file.subarray(m.offset, m.offset + m.size))
        expect(content.equals(data.subarray(at, at + m.raw.size))).toBe(true)
        expect(m.raw).toEqual({ size: content.length, sha256: sha(content) })
        offset += m.size
        at += m.raw.size
      }
      expect(offset).toBe(file.length)
      expect(at).toBe(data.length)
      const text = (i: number) => gunzipSync(file.subarray(members[i]!.offset, members[i]!.offset + members[i]!.size))
      expect(text(1).toString().startsWith('-- Table structure for table `a`')).toBe(true)
      expect(text(3).toString().startsWith('-- Temporary table structure for view')).toBe(true)
      expect(text(5).toString().startsWith("-- Dumping routines for database 'd'")).toBe(true)
    })
  }

  it('is read by the real `gunzip -c` as the one dump', async () => {
    const { file } = await sectioned(data, 64 * 1024)
    await writeFile(join(dir, 'd.sql.gz'), file)
    const r = await execa('gunzip', ['-c', join(dir, 'd.sql.gz')], { encoding: 'buffer', stripFinalNewline: false })
    expect(Buffer.from(r.stdout).equals(data)).toBe(true)
    await execa('gzip', ['-t', join(dir, 'd.sql.gz')])
  })

  it('verifies (the read-back of `dbkeeper verify`), and a flipped byte in one member fails it', async () => {
    const { file } = await sectioned(data, 64 * 1024)
    const path = join(dir, 'v.sql.gz')
    await writeFile(path, file)
    const expected = {
      raw: { size: data.length, sha256: sha(data) },
      compressed: { size: file.length, sha256: sha(file) },
    }
    await expect(verifyBackupFile(path, createCompression('gzip', 6), expected)).resolves.toBeUndefined()
    file[Math.floor(file.length / 2)]! ^= 0xff
    await writeFile(path, file)
    await expect(
      verifyBackupFile(path, createCompression('gzip', 6), {
        ...expected,
        compressed: { size: file.length, sha256: sha(file) },
      }),
    ).rejects.toThrow(/does not decompress/)
  })

  it('read by its member table (verify.ts `members`): verifies; a truncated file, bytes after the last member, or a member cut short are refused, the member named', async () => {
    const { file, members } = await sectioned(data, 64 * 1024)
    const path = join(dir, 'm.sql.gz')
    const gz = createCompression('gzip', 6)
    const expect_ = (f: Buffer) => ({
      raw: { size: data.length, sha256: sha(data) },
      compressed: { size: f.length, sha256: sha(f) },
      members,
    })
    await writeFile(path, file)
    await expect(verifyBackupFile(path, gz, expect_(file))).resolves.toBeUndefined()
    // The file ends inside the last member.
    const short = file.subarray(0, file.length - 4)
    await writeFile(path, short)
    await expect(verifyBackupFile(path, gz, expect_(short))).rejects.toThrow(
      /does not decompress: gzip member 6 of 6 \(tail\): the file ends 4 bytes before the member's end/,
    )
    // Bytes after the last member: the file is not the manifest's (its size).
    await writeFile(path, Buffer.concat([file, Buffer.from('junk')]))
    await expect(verifyBackupFile(path, gz, expect_(file))).rejects.toThrow(
      new RegExp(`file size ${file.length + 4} bytes, expected ${file.length}`),
    )
    // A member's deflate stream cut short, the file re-signed: named, as gunzip would refuse it.
    const b = members[2]!
    const cut = Buffer.concat([file.subarray(0, b.offset + 10 + 100), file.subarray(b.offset + b.size - 8)])
    await writeFile(path, cut)
    await expect(verifyBackupFile(path, gz, expect_(cut))).rejects.toThrow(/gzip member 3 of 6 \(table\)/)
  })

  it('a file without the sections is one member, and no members are listed', async () => {
    const gz = new ParallelGzip({ level: 6 })
    gz.resume()
    await pipeline(source(data, 64 * 1024), gz)
    expect(gz.members).toBeUndefined()
  })
})
