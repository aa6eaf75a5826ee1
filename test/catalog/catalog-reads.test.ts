/**
 * The volume's readers over both file reads (src/runtime/file-reads.ts): `asyncReads`
 * (fs/promises; the daemon and every command) and `syncReads` (node:fs's synchronous calls;
 * `dbkeeper status`, src/runtime/sync-reads.ts). Over one real volume, every reader `status` uses
 * (BACKUP_DIR's check, the catalog, the journal, a DBnn_PITR source's archive) gives the same
 * answer, and the same errors, with either; and that answer is the volume's, not an empty one twice.
 */
import { appendFile, mkdir, mkdtemp, rm, symlink, utimes, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { listBackups, type CatalogEntry } from '../../src/catalog/catalog.js'
import { readRuns } from '../../src/catalog/journal.js'
import { CHECKSUM_SUFFIX, databaseDir, MANIFEST_SUFFIX } from '../../src/catalog/naming.js'
import { checkBackupDirPath } from '../../src/config/backup-dir.js'
import type { SourceConfig } from '../../src/config/types.js'
import { createArchive } from '../../src/engines/index.js'
import { HEARTBEAT_FILE, INDEX_FILE, readBinlogArchive } from '../../src/engines/mysql/binlog-archive.js'
import { asyncReads, type FileReads } from '../../src/runtime/file-reads.js'
import { syncReads } from '../../src/runtime/sync-reads.js'
import { fakeRun, writeFakeBackup } from '../support/backups.js'

/**
 * `read` through asyncReads and through syncReads, in turn: the same answer (or the same error)
 * from both, and syncReads' own calls among them (`uses`), so that a reader that dropped the reads
 * it was given, and read through fs/promises both times, fails here. Resolves to the answer.
 */
async function both<T>(read: (reads: FileReads) => Promise<T>, uses: (keyof FileReads)[]): Promise<T> {
  const calls = new Set<string>()
  const tallied = Object.fromEntries(
    Object.entries(syncReads).map(([name, f]: [string, (...a: unknown[]) => unknown]) => [
      name,
      (...a: unknown[]) => (calls.add(name), f(...a)),
    ]),
  ) as unknown as FileReads
  const a = await settled(read(asyncReads))
  const s = await settled(read(tallied))
  expect(s).toEqual(a)
  expect([...calls].sort()).toEqual(expect.arrayContaining(uses))
  if ('error' in a) throw Object.assign(new Error(a.error.message), { code: a.error.code })
  return a.value
}

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
    const a = await both((reads) => listing(volume, reads), ['readdir', 'readdirEntries', 'stat', 'readFile'])
    // The volume's own answer.
    {
      const { entries, damaged } = a
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
    const a = await both((reads) => listing(volume, reads, { source: 'shop' }), ['readdirEntries', 'readFile'])
    expect(a.entries).toHaveLength(5)
  })

  it('read the same runs from the rotated and the current journal file', async () => {
    const a = await both((reads) => readRuns(volume, 1000, reads), ['readdir', 'open'])
    expect(a.map((r) => r.ok)).toEqual([true, true, false, true])
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
      await both(
        async (reads) => ({
          check: await settled(checkBackupDirPath(dir, reads)),
          list: await settled(listing(dir, reads)),
          runs: await settled(readRuns(dir, 1000, reads)),
        }),
        ['readdir', 'stat'],
      )
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

describe('the point-in-time archives status reads, through asyncReads and syncReads', () => {
  it("read the same SQLite archive state: generations' snapshots and newest WAL segment, the live file's WAL", async () => {
    const dir = join(tmp, 'sqlite-archive')
    const live = join(tmp, 'live.db')
    await writeFile(live, 'db')
    await writeFile(`${live}-wal`, 'wal')
    const at = (h: number) => new Date(Date.parse('2026-12-01T00:00:00Z') + h * 3_600_000)
    for (const [base, hours] of [
      ['0000000000000001', [1, 2]],
      ['0000000000000002', [5]],
      ['0000000000000003', []], // no snapshot: nothing of it can be restored
    ] as const) {
      await mkdir(join(dir, 'generations', base, 'snapshots'), { recursive: true })
      await mkdir(join(dir, 'generations', base, 'wal'), { recursive: true })
      for (const h of hours) {
        const snapshot = join(dir, 'generations', base, 'snapshots', `${h}.snapshot.lz4`)
        await writeFile(snapshot, 's')
        await utimes(snapshot, at(h), at(h))
        const segment = join(dir, 'generations', base, 'wal', `${String(h).padStart(8, '0')}_00000000.wal.lz4`)
        await writeFile(segment, 'w')
        await utimes(segment, at(h + 0.5), at(h + 0.5))
      }
    }
    const now = at(6)
    const source = { engine: 'sqlite', path: live } as SourceConfig
    const a = await both(
      async (reads) => (await createArchive(source, dir, undefined, reads)).state(now),
      ['readdir', 'stat'],
    )
    expect(a.ranges.map((r) => [r.base, r.from, r.to])).toEqual([
      ['0000000000000001', at(1), at(2.5)],
      ['0000000000000002', at(5), at(5.5)],
    ])
    expect(a.lagMs).toBe(now.getTime() - at(5.5).getTime()) // the live WAL changed since
  })

  it('read the same binlog archive: files, index and heartbeat', async () => {
    const dir = join(tmp, 'binlog-archive')
    await mkdir(dir)
    const at = (m: number) => new Date(Date.parse('2026-12-01T00:00:00Z') + m * 60_000)
    for (const n of [1, 2, 5]) {
      await writeFile(join(dir, `binlog.00000${n}`), 'x'.repeat(n))
      await utimes(join(dir, `binlog.00000${n}`), at(n), at(n))
    }
    await writeFile(join(dir, '.binlog.000006.tmp'), 'not one')
    await writeFile(
      join(dir, INDEX_FILE),
      JSON.stringify({ kind: 'gap', after: 'binlog.000002', resumedAt: 'binlog.000005', detectedAt: at(5) }) +
        '\n{"torn',
    )
    await writeFile(join(dir, HEARTBEAT_FILE), JSON.stringify({ caughtUpAt: at(6).toISOString() }))
    const a = await both((reads) => readBinlogArchive(dir, at(7), reads), ['readdir', 'stat', 'readFile'])
    expect(a.runs.map((r) => r.files)).toEqual([['binlog.000001', 'binlog.000002'], ['binlog.000005']])
    expect(a.gaps).toHaveLength(1)
    expect(a.lagMs).toBe(60_000)
  })
})
