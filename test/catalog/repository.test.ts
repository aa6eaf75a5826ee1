/**
 * catalog/repository.ts on real files: a committed backup is listed as its commit returned it; a
 * pending backup that fails anywhere (before its commit, or at any step of it) leaves nothing of
 * itself, and never removes a file it did not place.
 */
import { createHash, randomBytes } from 'node:crypto'
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { listDatabaseDir, listEntries, writtenEntry } from '../../src/catalog/catalog.js'
import type { Manifest } from '../../src/catalog/manifest.js'
import { databaseDir } from '../../src/catalog/naming.js'
import { remoteDataKey } from '../../src/catalog/remote.js'
import { commitOnTarget, reserveBackup, reserveNewBackup, type PendingBackup } from '../../src/catalog/repository.js'
import { LocalTarget } from '../../src/storage/local/target.js'
import { fakeManifest } from '../support/backups.js'

let root: string
const data = randomBytes(256 * 1024)
const sha256 = createHash('sha256').update(data).digest('hex')

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'dbk-repository-'))
})
afterEach(async () => {
  await rm(root, { recursive: true, force: true })
})

function manifestOf(p: PendingBackup): Manifest {
  return {
    ...fakeManifest('app', 'shop', new Date()),
    file: p.file,
    compressed: { size: data.length, sha256 },
    locations: { local: p.dataPath },
  }
}

const names = async () => (await readdir(databaseDir(root, 'app', 'shop'))).sort()

describe('repository: the commit protocol', () => {
  it('commits data, sidecar and manifest, and returns the entry the catalog lists', async () => {
    const { pending } = await reserveNewBackup(root, 'app', 'shop', { content: 'db', compression: '.gz' })
    await pending.write([Readable.from([data])])
    const entry = await pending.commit(sha256, () => manifestOf(pending))
    expect(await names()).toEqual([pending.file, `${pending.file}.manifest.json`, `${pending.file}.sha256`].sort())
    expect(await readFile(pending.sidecarPath, 'utf8')).toBe(`${sha256}  ${pending.file}\n`)
    expect(await listDatabaseDir(databaseDir(root, 'app', 'shop'))).toEqual([entry])
  })

  it('a commit on a target (off-site) leaves the entry writtenEntry says, the sidecar counted', async () => {
    // A retention in the same run removes a just-published backup from writtenEntry: every key the
    // listing would have seen must be there for its report (apply.ts removeBackup).
    const target = new LocalTarget(root)
    const m: Manifest = { ...fakeManifest('app', 'shop', new Date()), compressed: { size: data.length, sha256 } }
    await target.put(remoteDataKey(m), data)
    await commitOnTarget(target, remoteDataKey(m), m, {})
    const [listed, ...rest] = await listEntries(target)
    expect(rest).toEqual([])
    const written = writtenEntry(target, m)
    expect(written.checksumSize).toBeGreaterThan(0)
    expect({ ...listed!, manifest: undefined }).toEqual({ ...written, manifest: undefined })
  })

  it('leaving its scope without a commit removes the temporary file', async () => {
    const { pending } = await reserveNewBackup(root, 'app', 'shop', { content: 'db', compression: '.gz' })
    await expect(
      (async () => {
        await using p = pending
        await p.write([Readable.from([data])])
        expect(await names()).toEqual([`.${p.file}.dbk-tmp`])
        throw new Error('the proof failed')
      })(),
    ).rejects.toThrow('the proof failed')
    expect(await names()).toEqual([])
  })

  it('a commit failing after the data was linked into place removes data, sidecar and temporary files', async () => {
    const { pending } = await reserveNewBackup(root, 'app', 'shop', { content: 'db', compression: '.gz' })
    await pending.write([Readable.from([data])])
    // The manifest does not describe the file: refused after the sidecar and the data were placed.
    await expect(
      pending.commit(sha256, () => ({ ...manifestOf(pending), compressed: { size: 1, sha256: '0'.repeat(64) } })),
    ).rejects.toMatchObject({ code: 'INTERNAL' })
    expect(await names()).toEqual([])
  })

  it('the data fsync started before the commit (syncData) failing fails the commit, leaving nothing', async () => {
    const { pending } = await reserveNewBackup(root, 'app', 'shop', { content: 'db', compression: '.gz' })
    await pending.write([Readable.from([data])])
    // The temporary file turned into a Unix socket: opening it for the fsync fails (ENXIO), while
    // chmod and link would still place it: only the fsync's failure stops the commit.
    await rm(pending.tempPath)
    const socket = createServer()
    await new Promise<void>((resolve) => socket.listen(pending.tempPath, resolve))
    try {
      pending.syncData()
      await expect(pending.commit(sha256, () => manifestOf(pending))).rejects.toMatchObject({ code: 'ENXIO' })
      expect(await names()).toEqual([])
    } finally {
      socket.close()
    }
  })

  it('never replaces nor removes a file that is already under its name', async () => {
    const dataPath = join(databaseDir(root, 'app', 'shop'), 'shop_20261122T030405Z.db.gz')
    const pending = await reserveBackup(dataPath)
    await writeFile(dataPath, 'not ours')
    await pending.write([Readable.from([data])])
    await expect(pending.commit(sha256, () => manifestOf(pending))).rejects.toMatchObject({ code: 'EEXIST' })
    expect(await names()).toEqual(['shop_20261122T030405Z.db.gz'])
    expect(await readFile(dataPath, 'utf8')).toBe('not ours')
  })

  it('a new backup in the same second as an earlier one waits for the next second', async () => {
    const first = await reserveNewBackup(root, 'app', 'shop', { content: 'db', compression: '.gz' })
    await first.pending.write([Readable.from([data])])
    const second = await reserveNewBackup(root, 'app', 'shop', { content: 'dump', compression: '' })
    expect(Math.floor(second.startedAt.getTime() / 1000)).toBeGreaterThan(Math.floor(first.startedAt.getTime() / 1000))
    await first.pending.discard()
  })
})
