/**
 * Off-site retention (S3_KEEP_*) deletes only backups listed by manifests of this source and
 * database in exactly its own directory; everything else in the bucket survives every prune:
 * READMEs, look-alike names without a manifest, a broken manifest, another source's manifest
 * dropped into our directory, another job's prefix, another source's directory.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { encodeManifest } from '../../src/catalog/manifest.js'
import { fakeManifest } from '../support/backups.js'
import { runCli } from '../support/cli.js'
import {
  listKeys,
  makeSqliteOfSize,
  putObject,
  s3Env,
  startRecordingProxy,
  startS3,
  type TestS3,
} from '../support/s3.js'

let s3: TestS3
let dir: string
let env: Record<string, string>
const foreign: string[] = []

/** A complete backup (data, .sha256, manifest) as dbkeeper lays it out, under `dirKey`. */
async function plantBackup(dirKey: string, source: string, database: string, at: Date): Promise<string[]> {
  const m = fakeManifest(source, database, at, 64)
  const keys = [`${dirKey}${m.file}`, `${dirKey}${m.file}.sha256`, `${dirKey}${m.file}.manifest.json`]
  await putObject(s3, keys[0]!, Buffer.alloc(64))
  await putObject(s3, keys[1]!, `${m.compressed.sha256}  ${m.file}\n`)
  await putObject(s3, keys[2]!, encodeManifest(m))
  return keys
}

async function backup(): Promise<{ offsite: { ok: boolean; removed: string[] }; id: string }> {
  const r = await runCli(['backup', '--json'], env)
  expect(r.exitCode, r.stderr).toBe(0)
  return (JSON.parse(r.stdout) as { results: { offsite: { ok: boolean; removed: string[] }; id: string }[] })
    .results[0]!
}

beforeAll(async () => {
  s3 = await startS3()
  dir = await mkdtemp(join(tmpdir(), 'dbk-s3-retention-'))
  makeSqliteOfSize(join(dir, 'shop.db'), 1)
  env = {
    BACKUP_DIR: join(dir, 'backups'),
    DB01_TYPE: 'sqlite',
    DB01_PATH: join(dir, 'shop.db'),
    DB01_LABEL: 'app',
    ...s3Env(s3.endpoint, 'keep', { S3_KEEP_LAST: '1' }),
  }
  const old = new Date('2020-01-02T03:04:05Z')
  for (const [key, body] of [
    ['keep/README.md', '# backups of prod\n'],
    ['keep/app/README.txt', 'not a backup\n'],
    ['keep/app/shop/README', 'not a backup\n'],
    ['keep/app/shop/shop_20200101T000000Z.db.gz', 'look-alike data without a manifest'],
    ['keep/app/shop/shop_20200101T000000Z.db.gz.sha256', 'look-alike checksum'],
    ['keep/app/shop/shop_20200103T000000Z.db.gz', 'data whose manifest is broken'],
    ['keep/app/shop/shop_20200103T000000Z.db.gz.manifest.json', '{ not json'],
    ['keep/app/shopping/shop_20200101T000000Z.db.gz', 'a sibling directory with a similar name'],
  ] as const) {
    await putObject(s3, key, body)
    foreign.push(key)
  }
  // Complete, valid backups that are not this database's: another job's prefix, another source,
  // and another source's manifest copied into our directory.
  foreign.push(...(await plantBackup('other-job/app/shop/', 'app', 'shop', old)))
  foreign.push(...(await plantBackup('keep/other-src/shop/', 'other-src', 'shop', old)))
  foreign.push(...(await plantBackup('keep/app/shop/', 'intruder', 'shop', new Date('2020-01-04T00:00:00Z'))))
}, 300_000)

afterAll(async () => {
  await s3?.destroy()
  await rm(dir, { recursive: true, force: true })
})

describe('off-site retention', () => {
  it('prunes its own old backups by S3_KEEP_LAST and leaves every foreign object alone', async () => {
    // An old backup of exactly this database, with a manifest of ours: the policy may remove it.
    const ours = await plantBackup('keep/app/shop/', 'app', 'shop', new Date('2020-01-05T00:00:00Z'))
    const first = await backup()
    expect(first.offsite.ok).toBe(true)
    expect(first.offsite.removed).toEqual([`s3://dbk-test/${ours[0]}`])
    let keys = await listKeys(s3)
    for (const k of ours) expect(keys).not.toContain(k)
    for (const k of foreign) expect(keys).toContain(k)

    const second = await backup()
    expect(second.offsite.removed).toEqual([`s3://dbk-test/keep/app/shop/${first.id}.db.gz`])
    keys = await listKeys(s3)
    for (const k of foreign) expect(keys).toContain(k)
    const mine = keys.filter((k) => k.startsWith('keep/app/shop/') && !foreign.includes(k))
    expect(mine).toEqual([
      `keep/app/shop/${second.id}.db.gz`,
      `keep/app/shop/${second.id}.db.gz.manifest.json`,
      `keep/app/shop/${second.id}.db.gz.sha256`,
    ])
    // The volume keeps its own policy (7 days): both backups are still there.
    const listed = JSON.parse((await runCli(['list', 'app', '--json'], env)).stdout) as {
      id: string
      location: string
    }[]
    expect(listed.map((b) => [b.id, b.location])).toEqual([
      [second.id, 'both'],
      [first.id, 'local'],
    ])
  })

  it('lists the target once, while the dump runs: nothing between the proof and the pruning', async () => {
    const proxy = await startRecordingProxy(s3.port)
    try {
      const before = (await listKeys(s3, 'keep/app/shop/')).filter((k) => k.endsWith('.db.gz.manifest.json'))
      const r = await runCli(['backup', '--json'], { ...env, S3_ENDPOINT: proxy.endpoint })
      expect(r.exitCode, r.stderr).toBe(0)
      const result = (JSON.parse(r.stdout) as { results: { offsite: { removed: string[] }; id: string }[] }).results[0]!
      const previous = before.filter((k) => !foreign.includes(k)).map((k) => k.slice(0, -'.manifest.json'.length))
      expect(result.offsite.removed).toEqual(previous.map((k) => `s3://dbk-test/${k}`))
      const at = (test: (q: { method: string; path: string; url: string }) => boolean) =>
        proxy.requests.findIndex((q) => test({ ...q, path: q.url.split('?')[0]! }))
      const lists = proxy.requests.filter((q) => q.method === 'GET' && q.url.includes('list-type=2'))
      expect(lists.map((q) => decodeURIComponent(q.url))).toEqual([expect.stringContaining('prefix=keep/app/shop/')])
      const manifest = at((q) => q.method === 'PUT' && q.path.endsWith(`${result.id}.db.gz.manifest.json`))
      expect(manifest).toBeGreaterThan(at((q) => q.url.includes('list-type=2')))
      // The pruning (the previous backup's manifest first) follows the publication.
      expect(at((q) => q.method === 'DELETE' && q.path.endsWith('.manifest.json'))).toBeGreaterThan(manifest)
    } finally {
      await proxy.stop()
    }
  })
})
