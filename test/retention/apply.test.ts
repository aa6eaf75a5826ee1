/**
 * applyRetention on real directories: what is deleted, in which order, and everything that must
 * survive every prune (other jobs' files, a README, `.partial` files, look-alike names, sibling
 * databases, other sources).
 */
import fc from 'fast-check'
import { mkdir, rm, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { listDatabaseDir } from '../../src/catalog/catalog.js'
import { databaseDir } from '../../src/catalog/naming.js'
import { applyRetention, type ApplyRetentionArgs } from '../../src/retention/apply.js'
import { NEWEST_PROVEN, PRE_RESTORE } from '../../src/retention/safety.js'
import { NUM_RUNS_ON_DISK, distinctSecondsArb, policyArb } from './arbitraries.js'
import { exists, makeTempDir, snapshotTree, timesEvery, writeBackup } from './helpers.js'

const NOW = new Date('2026-02-01T00:00:00Z')
const DAYS = timesEvery(24, 10, new Date('2026-01-10T12:00:00Z')) // Jan 1 … Jan 10, 12:00Z

let volume: { path: string; remove(): Promise<void> }
let dir: string
const args = (extra: Partial<ApplyRetentionArgs>): ApplyRetentionArgs => ({
  backupDir: volume.path,
  source: 'app',
  database: 'shop',
  policy: { keepLast: 3 },
  tz: 'UTC',
  now: NOW,
  dryRun: false,
  ...extra,
})

/** Files that are not ours to delete, next to and around the backups. */
async function writeForeignFiles(): Promise<string[]> {
  const foreign = [
    'README.md',
    'shop_20260101T120000Z.db.gz.partial',
    'shop_20260101T120000Z.db.gz.bak',
    'shop_20260101T120000Z.db.gz.sha256.old',
    'other_20260101T000000Z.sql.gz', // another job's dump, no manifest
    'notes.manifest.json', // not a manifest of ours
    '.shop_20260102T120000Z.db.gz.dbk-tmp', // a temp file: debris cleanup's business, not retention's
  ]
  for (const name of foreign) await writeFile(join(dir, name), `not yours: ${name}\n`)
  await mkdir(join(dir, 'nested'), { recursive: true })
  await writeFile(join(dir, 'nested', 'shop_20260101T120000Z.db.gz'), 'nested\n')
  return foreign
}

beforeEach(async () => {
  volume = await makeTempDir()
  dir = databaseDir(volume.path, 'app', 'shop')
  for (const t of DAYS) await writeBackup(volume.path, 'app', 'shop', t)
  // A sibling database and another source, both with old backups the policy would drop.
  for (const t of DAYS) await writeBackup(volume.path, 'app', 'shop-archive', t)
  for (const t of DAYS) await writeBackup(volume.path, 'web', 'shop', t)
})
afterEach(() => volume.remove())

describe('applyRetention', () => {
  it('removes exactly the manifest, data and .sha256 of each dropped backup, and nothing else', async () => {
    await writeForeignFiles()
    const before = await snapshotTree(volume.path)
    const report = await applyRetention(args({}))

    const removedIds = report.backups.filter((b) => b.action === 'remove').map((b) => b.file)
    expect(removedIds).toHaveLength(7)
    expect(report.deleted).toEqual(removedIds.flatMap((f) => [`${f}.manifest.json`, f, `${f}.sha256`]))
    const after = await snapshotTree(volume.path)
    const gone = [...before.keys()].filter((k) => !after.has(k))
    expect(gone.sort()).toEqual(report.deleted.map((n) => `app/shop/${n}`).sort())
    for (const [path, hash] of after) expect(before.get(path)).toBe(hash)

    expect((await listDatabaseDir(dir)).map((e) => e.manifest.startedAt)).toEqual(
      DAYS.slice(-3)
        .reverse()
        .map((d) => d.toISOString()),
    )
    expect(report.backups[0]!.reasons).toEqual(['last snapshot', NEWEST_PROVEN])
  })

  it('deletes nothing more when run again', async () => {
    await applyRetention(args({}))
    const before = await snapshotTree(volume.path)
    const again = await applyRetention(args({}))
    expect(again.deleted).toEqual([])
    expect(again.backups.every((b) => b.action === 'keep')).toBe(true)
    expect(await snapshotTree(volume.path)).toEqual(before)
  })

  it('changes nothing on a dry run, and reports the same plan', async () => {
    await writeForeignFiles()
    const before = await snapshotTree(volume.path)
    const mtime = (await stat(dir)).mtimeMs
    const dry = await applyRetention(args({ dryRun: true }))
    expect(dry.deleted).toEqual([])
    expect(await snapshotTree(volume.path)).toEqual(before)
    expect((await stat(dir)).mtimeMs).toBe(mtime)
    const real = await applyRetention(args({}))
    expect(real.backups).toEqual(dry.backups)
  })

  it('refuses a policy that would delete everything, with a clear message, and deletes nothing', async () => {
    const before = await snapshotTree(volume.path)
    await expect(applyRetention(args({ policy: {} }))).rejects.toMatchObject({
      code: 'RETENTION',
      message:
        'retention for app/shop refused: the policy (no rule) keeps nothing and would remove all 10 backups; nothing was deleted',
    })
    expect(await snapshotTree(volume.path)).toEqual(before)
  })

  it('leaves pre-restore safety backups and damaged backups alone and does not count them', async () => {
    const preRestore = await writeBackup(volume.path, 'app', 'shop', new Date('2025-12-01T00:00:00Z'), {
      kind: 'pre-restore',
    })
    const damaged = await writeBackup(volume.path, 'app', 'shop', new Date('2026-01-11T00:00:00Z'), {
      withoutData: true,
    })
    const report = await applyRetention(args({ policy: { keepLast: 1 } }))
    const byFile = new Map(report.backups.map((b) => [b.file, b]))
    expect(byFile.get(preRestore.file)).toMatchObject({ action: 'keep', reasons: [PRE_RESTORE] })
    expect(byFile.get(damaged.file)).toMatchObject({ action: 'keep', problem: 'the data file is missing' })
    // The damaged entry is the newest; the newest *proven* one is Jan 10.
    expect(byFile.get('shop_20260110T120000Z.db.gz')).toMatchObject({
      action: 'keep',
      reasons: ['last snapshot', NEWEST_PROVEN],
    })
    expect(await exists(join(dir, `${preRestore.file}.manifest.json`))).toBe(true)
    expect(await exists(join(dir, `${damaged.file}.manifest.json`))).toBe(true)
    expect(report.deleted).toHaveLength(27)
  })

  it('deletes the manifest first: a data file that cannot be deleted leaves an unlisted file, never a listed backup without data', async () => {
    // A directory in place of the oldest backup's .sha256: unlink fails on it (EISDIR), after the
    // manifest went. (Not in place of the data file: the volume lists only files, so a directory
    // there is a missing data file, a damaged backup that retention leaves alone.)
    const oldest = 'shop_20260101T120000Z.db.gz'
    await rm(join(dir, `${oldest}.sha256`))
    await mkdir(join(dir, `${oldest}.sha256`))
    expect((await listDatabaseDir(dir)).find((e) => e.manifest.file === oldest)?.problem).toBeUndefined()

    await expect(applyRetention(args({ policy: { keepLast: 9 } }))).rejects.toMatchObject({ code: 'IO' })
    expect(await exists(join(dir, `${oldest}.manifest.json`))).toBe(false)
    expect(await exists(join(dir, `${oldest}.sha256`))).toBe(true)
    expect((await listDatabaseDir(dir)).map((e) => e.manifest.file)).not.toContain(oldest)
  })

  it('deletes the .sha256 sidecar last, and copes with a backup that has none', async () => {
    const noSidecar = await writeBackup(volume.path, 'app', 'shop', new Date('2025-12-15T00:00:00Z'), {
      checksum: false,
    })
    const report = await applyRetention(args({}))
    const i = report.deleted.indexOf(`${noSidecar.file}.manifest.json`)
    expect(report.deleted.slice(i, i + 2)).toEqual([`${noSidecar.file}.manifest.json`, noSidecar.file])
    expect(report.deleted.slice(i + 2)).toEqual([])
  })

  it(`keeps the newest proven backup and every foreign file on random sets and policies (${NUM_RUNS_ON_DISK} random cases on disk)`, async () => {
    await writeForeignFiles()
    // Everything written so far lives outside the random databases' directories and must survive.
    const before = await snapshotTree(volume.path)
    let round = 0
    await fc.assert(
      fc.asyncProperty(distinctSecondsArb(15), policyArb, async (times, policy) => {
        round += 1
        const database = `db${round}`
        for (const t of times) await writeBackup(volume.path, 'app', database, t)
        const report = await applyRetention(args({ database, policy }))
        const left = await listDatabaseDir(databaseDir(volume.path, 'app', database))
        expect(left.map((e) => e.manifest.file)).toEqual(
          report.backups.filter((b) => b.action === 'keep').map((b) => b.file),
        )
        if (times.length > 0)
          expect(left[0]?.manifest.startedAt).toBe(new Date(Math.max(...times.map((t) => t.getTime()))).toISOString())
        expect(left.every((e) => e.problem === undefined)).toBe(true)
        const again = await applyRetention(args({ database, policy }))
        expect(again.deleted).toEqual([])
      }),
      { numRuns: NUM_RUNS_ON_DISK },
    )
    const tree = await snapshotTree(volume.path)
    for (const [path, hash] of before) expect(tree.get(path)).toBe(hash)
  })
})
