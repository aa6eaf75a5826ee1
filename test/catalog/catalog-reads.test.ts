/**
 * The volume's readers over both file reads (src/runtime/file-reads.ts): `asyncReads`
 * (fs/promises; the daemon and every command) and `syncReads` (node:fs's synchronous calls;
 * `dbkeeper status`, src/runtime/sync-reads.ts). Over one real volume, every reader `status` uses
 * (BACKUP_DIR's check, the catalog, the journal) gives the same answer, and the same errors, with
 * either; and that answer is the volume's, not an empty one twice.
 */
import { appendFile, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { listBackups, type CatalogEntry } from '../../src/catalog/catalog.js'
import { readRuns } from '../../src/catalog/journal.js'
import { CHECKSUM_SUFFIX, databaseDir, MANIFEST_SUFFIX } from '../../src/catalog/naming.js'
import { checkBackupDirPath } from '../../src/config/backup-dir.js'
import { asyncReads, type FileReads } from '../../src/runtime/file-reads.js'
import { syncReads } from '../../src/runtime/sync-reads.js'
import { fakeRun, writeFakeBackup } from '../support/backups.js'

const BOTH: [string, FileReads][] = [
  ['asyncReads', asyncReads],
  ['syncReads', syncReads],
]

let tmp: string
let volume: string
const written: string[] = []

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'dbk-catalog-reads-'))
  volume = join(tmp, 'backups')
  // Two sources, several backups each, and what a real volume also holds.
  const t0 = Date.parse('2026-12-01T00:00:00Z')
  for (const [source, database] of [
    ['app', 'main'],
    ['app', 'audit log'],
    ['shop', 'orders'],
  ] as const) {
    for (let i = 0; i < 3; i++) {
      const m = await writeFakeBackup(volume, source, database, new Date(t0 + i * 3_600_000), 100 + i)
      written.push(m.id)
      const dir = databaseDir(volume, source, database)
      // A sidecar on most: the right digest, and one that names another.
      if (i > 0)
        await writeFile(
          join(dir, `${m.file}${CHECKSUM_SUFFIX}`),
          `${i === 2 && source === 'shop' ? 'f'.repeat(64) : m.compressed.sha256}  ${m.file}\n`,
        )
    }
  }
  const main = databaseDir(volume, 'app', 'main')
  // Debris: a temporary file and a data file whose manifest was never written.
  await writeFile(join(main, '.main_20261201T050000Z.db.gz.dbk-tmp'), 'partial')
  await writeFile(join(main, 'main_20261201T060000Z.db.gz'), 'uncommitted')
  // A damaged manifest (told to onDamaged), a data file of the wrong size, one missing altogether.
  await writeFile(join(main, `main_20261201T070000Z.db.gz${MANIFEST_SUFFIX}`), '{ not json')
  const shop = databaseDir(volume, 'shop', 'orders')
  const short = await writeFakeBackup(volume, 'shop', 'orders', new Date(t0 + 8 * 3_600_000), 500)
  await writeFile(join(shop, short.file), 'too short')
  const gone = await writeFakeBackup(volume, 'shop', 'orders', new Date(t0 + 9 * 3_600_000), 500)
  await rm(join(shop, gone.file))
  written.push(short.id, gone.id)
  // Not ours: a README, a directory named like a manifest, a link to another directory.
  await writeFile(join(volume, 'README'), 'hello')
  await mkdir(join(shop, `orders_20261201T100000Z.db.gz${MANIFEST_SUFFIX}`))
  await mkdir(join(tmp, 'elsewhere'))
  await symlink(join(tmp, 'elsewhere'), join(volume, 'linked'))
  // The journal: a rotated file and the current one, a failed run, a torn last line.
  const state = join(volume, '.dbkeeper')
  await mkdir(state)
  const run = (h: number, ok: boolean) =>
    JSON.stringify(
      fakeRun(new Date(t0 + h * 3_600_000), [
        ok ? { source: 'app', database: 'main' } : { source: 'shop', database: 'orders', ok: false },
      ]),
    ) + '\n'
  await writeFile(join(state, 'runs.1.jsonl'), run(1, true) + run(2, true))
  await writeFile(join(state, 'runs.jsonl'), run(3, false) + run(4, true))
  await appendFile(join(state, 'runs.jsonl'), '{"runId": "torn')
})

afterAll(async () => {
  if (tmp) await rm(tmp, { recursive: true, force: true })
})

/** An entry as plain data: its target is compared by its root (the reads it holds differ). */
const plain = ({ target, ...rest }: CatalogEntry) => ({ root: target.root, ...rest })

async function listing(dir: string, reads: FileReads, filter: Parameters<typeof listBackups>[1] = {}) {
  const damaged: [string, string][] = []
  const entries = await listBackups(dir, { ...filter, onDamaged: (path, why) => damaged.push([path, why]) }, reads)
  return { entries: entries.map(plain), damaged }
}

/** What a read settles to: its value, or its error's code and message. */
async function settled<T>(p: Promise<T>): Promise<{ value: T } | { error: { code: unknown; message: string } }> {
  try {
    return { value: await p }
  } catch (error) {
    const e = error as { code?: unknown; message: string }
    return { error: { code: e.code, message: e.message } }
  }
}

describe('the catalog, the journal and BACKUP_DIR read through asyncReads and syncReads', () => {
  it('list the same backups, with the same problems and the same damaged manifests', async () => {
    const [a, s] = await Promise.all(BOTH.map(([, reads]) => listing(volume, reads)))
    expect(s).toEqual(a)
    // The volume's own answer, for both.
    for (const { entries, damaged } of [a!, s!]) {
      expect(entries.map((e) => e.manifest.id).sort()).toEqual([...written].sort())
      expect(entries.filter((e) => e.problem).map((e) => e.problem)).toEqual([
        expect.stringMatching(/data file is missing/),
        expect.stringMatching(/has 9 bytes, the manifest says 500/),
        expect.stringMatching(/\.sha256 names sha256 f{64}/),
      ])
      expect(entries.filter((e) => e.checksumSize !== undefined)).toHaveLength(6)
      expect(damaged).toEqual([[expect.stringMatching(/main_20261201T070000Z/), expect.any(String)]])
    }
  })

  it('list the same backups of one source', async () => {
    const [a, s] = await Promise.all(BOTH.map(([, reads]) => listing(volume, reads, { source: 'shop' })))
    expect(s).toEqual(a)
    expect(a!.entries).toHaveLength(5)
  })

  it('read the same runs from the rotated and the current journal file', async () => {
    const [a, s] = await Promise.all(BOTH.map(([, reads]) => readRuns(volume, 1000, reads)))
    expect(s).toEqual(a)
    expect(a!.map((r) => r.ok)).toEqual([true, true, false, true])
  })

  it('agree on a volume through a link, a missing one, one under a missing parent, and one that is a file', async () => {
    await writeFile(join(tmp, 'a-file'), 'x')
    // BACKUP_DIR a link to the disk (/backups -> /mnt/disk): followed, as the volume itself.
    const linked = join(tmp, 'linked-volume')
    await symlink(volume, linked)
    for (const dir of [
      linked,
      join(tmp, 'missing'),
      join(tmp, 'no', 'such'),
      join(tmp, 'a-file'),
      join(tmp, 'a-file', 'x'),
    ]) {
      const [a, s] = await Promise.all(
        BOTH.map(async ([, reads]) => ({
          check: await settled(checkBackupDirPath(dir, reads)),
          list: await settled(listing(dir, reads)),
          runs: await settled(readRuns(dir, 1000, reads)),
        })),
      )
      expect(s).toEqual(a)
    }
    // Not the same nothing: the link is the volume, the missing volume is empty, the others are refused.
    expect(await settled(checkBackupDirPath(linked, syncReads))).toEqual({ value: 'exists' })
    const manifests = async (dir: string) => (await listing(dir, syncReads)).entries.map((e) => e.manifest)
    expect(await manifests(linked)).toEqual(await manifests(volume))
    expect(await readRuns(linked, 1000, syncReads)).toHaveLength(4)
    const missing = await settled(listing(join(tmp, 'missing'), syncReads))
    expect(missing).toEqual({ value: { entries: [], damaged: [] } })
    expect(await settled(checkBackupDirPath(join(tmp, 'missing'), syncReads))).toEqual({ value: 'missing' })
    expect(await settled(checkBackupDirPath(join(tmp, 'no', 'such'), syncReads))).toMatchObject({
      error: { code: 'CONFIG' },
    })
    expect(await settled(listing(join(tmp, 'a-file'), syncReads))).toMatchObject({ error: { code: 'CONFIG' } })
  })
})
