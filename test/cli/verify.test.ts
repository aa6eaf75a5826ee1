/**
 * `dbkeeper verify` of a sectioned MySQL gzip backup (one member per section of the dump, the
 * manifest's `members`; pipeline/gzip-member-reader.ts), on a volume written by hand from a real
 * sectioned compression of a mysqldump-shaped text: a good file verifies; a damaged member is
 * refused naming the member, whether the file's own sha256 gives it away or was re-signed; a member
 * table that does not describe a good file passes, as it did before verify read the members (a
 * restore loads such a file on one connection).
 */
import { createHash } from 'node:crypto'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { gunzipSync, gzipSync } from 'node:zlib'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { encodeManifest, type Manifest, type ManifestMember } from '../../src/catalog/manifest.js'
import { CHECKSUM_SUFFIX, databaseDir, MANIFEST_SUFFIX } from '../../src/catalog/naming.js'
import { MysqldumpSections } from '../../src/engines/mysql/sections.js'
import { ParallelGzip } from '../../src/pipeline/gzip-parallel.js'
import { fakeManifest } from '../support/backups.js'
import { runCli } from '../support/cli.js'

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex')

/** A mysqldump's shape: the head, three tables of varied rows, the tail with its end marker. */
function dump(): Buffer {
  const head = `-- MariaDB dump 10.19\n--\n\n/*!40101 SET NAMES utf8mb4 */;\n/*!40014 SET @OLD_FOREIGN_KEY_CHECKS=@@FOREIGN_KEY_CHECKS, FOREIGN_KEY_CHECKS=0 */;\n\n`
  const table = (name: string, rows: number) => {
    const values = Array.from(
      { length: rows },
      (_, i) => `(${i},'${name} ${(i * 7919) % 104729} ${sha256(Buffer.from(String(i))).slice(0, 12)}')`,
    )
    return `--\n-- Table structure for table \`${name}\`\n--\n\nDROP TABLE IF EXISTS \`${name}\`;\nCREATE TABLE \`${name}\` (id int, v text);\nINSERT INTO \`${name}\` VALUES ${values.join(',')};\n\n`
  }
  const tail = `/*!40103 SET TIME_ZONE=@OLD_TIME_ZONE */;\n/*!40101 SET SQL_MODE=@OLD_SQL_MODE */;\n\n-- Dump completed on 2026-12-07  1:00:00\n`
  return Buffer.from(head + table('a', 20_000) + table('b', 60_000) + table('c', 5_000) + tail)
}

let tmp: string
let dir: string
let env: Record<string, string>
let content: Buffer
let file: Buffer
let members: ManifestMember[]
let manifest: Manifest

/** Writes the backup's three files: `data` as the data file, `m` as its manifest, the sidecar from it. */
async function put(data: Buffer, m: Manifest): Promise<void> {
  await writeFile(join(dir, m.file), data)
  await writeFile(join(dir, `${m.file}${CHECKSUM_SUFFIX}`), `${m.compressed.sha256}  ${m.file}\n`)
  await writeFile(join(dir, `${m.file}${MANIFEST_SUFFIX}`), encodeManifest(m))
}

const verify = () => runCli(['verify', '--source', 'maria'], env)
/** The largest table member: where the damage goes. */
const biggest = () => members.reduce((a, b) => (b.kind === 'table' && b.size > a.size ? b : a))
const nameOf = (m: ManifestMember) => `gzip member ${members.indexOf(m) + 1} of ${members.length} \\(table\\)`

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'dbk-verify-members-'))
  content = dump()
  const gz = new ParallelGzip({ level: 6, blockSize: 64 * 1024, maxInFlight: 2, sections: new MysqldumpSections() })
  const parts: Buffer[] = []
  gz.on('data', (c: Buffer) => parts.push(c))
  await pipeline(Readable.from([content]), gz)
  file = Buffer.concat(parts)
  members = gz.members!.map((m) => ({ ...m }))
  const base = fakeManifest('maria', 'shop', new Date('2026-12-07T01:00:00Z'))
  manifest = {
    ...base,
    engine: 'mysql',
    file: base.file.replace('.db.gz', '.sql.gz'),
    tool: { name: 'mysqldump', version: '10.19', options: [] },
    raw: { size: content.length, sha256: sha256(content) },
    compressed: { size: file.length, sha256: sha256(file) },
    members,
  }
  env = {
    BACKUP_DIR: join(tmp, 'backups'),
    DB01_TYPE: 'mariadb',
    DB01_HOST: '127.0.0.1',
    DB01_USER: 'backup',
    DB01_NAME: 'shop',
    DB01_LABEL: 'maria',
  }
  dir = databaseDir(env.BACKUP_DIR!, 'maria', 'shop')
  await mkdir(dir, { recursive: true })
})
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true })
})

describe('dbkeeper verify: a sectioned MySQL gzip backup', () => {
  it('is several members (the shape under test), and verifies', async () => {
    expect(members.map((m) => m.kind)).toEqual(['head', 'table', 'table', 'table', 'tail'])
    await put(file, manifest)
    const r = await verify()
    expect(r.exitCode, r.all).toBe(0)
    expect(r.stdout).toMatch(/^ok {5}maria\/shop .*verified/)
  })

  it('a flipped byte inside a member: refused, naming the member', async () => {
    const big = biggest()
    const damaged = Buffer.from(file)
    damaged[big.offset + Math.floor(big.size / 2)]! ^= 0xff
    await put(damaged, manifest)
    const r = await verify()
    expect(r.exitCode, r.all).toBe(1)
    expect(r.stdout).toMatch(new RegExp(`FAILED maria/shop .*does not decompress: ${nameOf(big)}: `))
    expect(r.stdout).toContain('restore an older backup instead')
  })

  it('a flipped byte in a file re-signed to match (manifest and sidecar): refused, naming the member', async () => {
    const big = biggest()
    const damaged = Buffer.from(file)
    damaged[big.offset + Math.floor(big.size / 3)]! ^= 0x01
    await put(damaged, { ...manifest, compressed: { size: damaged.length, sha256: sha256(damaged) } })
    const r = await verify()
    expect(r.exitCode, r.all).toBe(1)
    expect(r.stdout).toMatch(new RegExp(`FAILED maria/shop .*${nameOf(big)}`))
  })

  it('a member replaced by another whole gzip member of other content, the file re-signed: refused, naming the member', async () => {
    // Every member a valid one, CRC and size consistent: only the content's sha256 finds it, and
    // the members' own sha256 say which one it is.
    const big = biggest()
    const i = members.indexOf(big)
    const other = gzipSync(
      Buffer.from(
        gunzipSync(file.subarray(big.offset, big.offset + big.size))
          .toString()
          .replace(/'b /g, "'B "),
      ),
    )
    const swapped = Buffer.concat([file.subarray(0, big.offset), other, file.subarray(big.offset + big.size)])
    const shifted = members.map((m, j) =>
      j > i ? { ...m, offset: m.offset + other.length - big.size } : j === i ? { ...m, size: other.length } : m,
    )
    await put(swapped, { ...manifest, compressed: { size: swapped.length, sha256: sha256(swapped) }, members: shifted })
    const r = await verify()
    expect(r.exitCode, r.all).toBe(1)
    expect(r.stdout).toMatch(/decompressed sha256 [0-9a-f]{64}, expected/)
    expect(r.stdout).toMatch(
      new RegExp(
        `its ${nameOf(big)} decompressed to \\d+ bytes with sha256 [0-9a-f]{64}, expected ${big.raw.size} \\(${big.raw.sha256}\\)`,
      ),
    )
    // The others are what the table says, and are not named.
    expect(r.stdout.match(/its gzip member/g)).toHaveLength(1)
  })

  it('a member table that does not describe a good file (a wrong sha256; a boundary moved): passes, with a warning naming why', async () => {
    const doubted =
      /warning: its manifest's table of gzip members does not describe the file \((.*)\); the file itself is proven, but a restore loads it on one connection/
    const wrongHash = members.map((m, j) => (j === 2 ? { ...m, raw: { ...m.raw, sha256: '0'.repeat(64) } } : m))
    await put(file, { ...manifest, members: wrongHash })
    let r = await verify()
    expect(r.exitCode, r.all).toBe(0)
    // Every member whole and sound, the file good: only the member's content sha256 gives the table away.
    expect(doubted.exec(r.stdout)?.[1]).toMatch(
      new RegExp(
        `^${nameOf(members[2]!)}: it decompressed to ${members[2]!.raw.size} bytes with sha256 ${members[2]!.raw.sha256}, the table says ${members[2]!.raw.size} \\(0{64}\\)$`,
      ),
    )
    // Members 2 and 3 still tile the file, but their boundary is not a member's.
    const moved = members.map((m, j) =>
      j === 1 ? { ...m, size: m.size + 5 } : j === 2 ? { ...m, offset: m.offset + 5, size: m.size - 5 } : m,
    )
    await put(file, { ...manifest, members: moved })
    r = await verify()
    expect(r.exitCode, r.all).toBe(0)
    expect(r.stdout).toMatch(doubted)
  })
})
