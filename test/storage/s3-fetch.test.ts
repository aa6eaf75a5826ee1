/**
 * `list` shows where each backup is (local, s3, both), S3-only backups included; `fetch` brings
 * one back proven (size, sha256, full decompression) to the volume or to a file, and refuses an
 * object whose bytes were changed on the server's disk.
 */
import { mkdtemp, open, readdir, readFile, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { runCli } from '../support/cli.js'
import { sha256File } from '../support/files.js'
import { makeSqliteOfSize, s3Env, startS3, type TestS3 } from '../support/s3.js'
import type { BackupJson } from '../../src/cli/commands/backup.js'
import type { ListedBackup } from '../../src/cli/commands/list.js'
import type { FetchJson } from '../../src/cli/commands/fetch.js'

let s3: TestS3
let dir: string
let local: Record<string, string>
let withS3: Record<string, string>
/** The first backup (uploaded), then the second (local only). */
const ids: string[] = []

async function list(): Promise<ListedBackup[]> {
  const r = await runCli(['list', '--json'], withS3)
  expect(r.exitCode, r.stderr).toBe(0)
  return JSON.parse(r.stdout) as ListedBackup[]
}

async function removeLocal(b: ListedBackup): Promise<void> {
  for (const suffix of ['', '.manifest.json', '.sha256']) await rm(`${b.path}${suffix}`)
}

beforeAll(async () => {
  s3 = await startS3()
  dir = await mkdtemp(join(tmpdir(), 'dbk-s3-fetch-'))
  makeSqliteOfSize(join(dir, 'shop.db'), 3)
  local = { BACKUP_DIR: join(dir, 'backups'), DB01_TYPE: 'sqlite', DB01_PATH: join(dir, 'shop.db'), DB01_LABEL: 'app' }
  withS3 = { ...local, ...s3Env(s3.endpoint, 'fetch') }
  for (const env of [withS3, local]) {
    const r = await runCli(['backup', '--json'], env)
    expect(r.exitCode, r.stderr).toBe(0)
    ids.push((JSON.parse(r.stdout) as BackupJson).results[0]!.id!)
  }
}, 300_000)

afterAll(async () => {
  await s3?.destroy()
  await rm(dir, { recursive: true, force: true })
})

describe('list and fetch with S3', () => {
  it('lists each backup as local, s3 or both, and S3-only backups after the volume lost them', async () => {
    const [uploaded, localOnly] = ids as [string, string]
    let listed = await list()
    expect(listed.map((b) => [b.id, b.location])).toEqual([
      [localOnly, 'local'],
      [uploaded, 'both'],
    ])

    await removeLocal(listed.find((b) => b.id === uploaded)!)
    listed = await list()
    expect(listed.map((b) => [b.id, b.location])).toEqual([
      [localOnly, 'local'],
      [uploaded, 's3'],
    ])
    expect(listed[1]!.path).toBe(`s3://dbk-test/fetch/app/shop/${uploaded}.db.gz`)
    const human = await runCli(['list'], withS3)
    expect(human.stdout).toMatch(new RegExp(`${uploaded}\\s.*\\ss3\\b`))
    // Without S3 configured, list shows what is on the volume only.
    expect(JSON.parse((await runCli(['list', '--json'], local)).stdout)).toHaveLength(1)
  })

  it('fetches an S3-only backup onto the volume, proven, with its manifest', async () => {
    const [uploaded] = ids as [string]
    const before = (await list()).find((b) => b.id === uploaded)!
    const r = await runCli(['fetch', uploaded, '--source', 'app', '--json'], withS3)
    expect(r.exitCode, r.stderr).toBe(0)
    const got = JSON.parse(r.stdout) as FetchJson
    expect(got).toMatchObject({
      path: join(local.BACKUP_DIR!, 'app', 'shop', `${uploaded}.db.gz`),
      sha256: before.sha256,
      alreadyLocal: false,
    })
    expect(await sha256File(got.path)).toBe(before.sha256)
    expect(JSON.parse(await readFile(`${got.path}.manifest.json`, 'utf8'))).toMatchObject({
      id: uploaded,
      locations: { local: got.path, s3: before.path },
    })
    expect((await list()).find((b) => b.id === uploaded)!.location).toBe('both')
    // Fetching what is already there downloads nothing.
    const again = await runCli(['fetch', uploaded, '--source', 'app'], withS3)
    expect(again.exitCode).toBe(0)
    expect(again.stdout).toContain('on the volume already')
  })

  it('fetches the latest off-site backup to a file, and never over an existing one', async () => {
    const to = join(dir, 'restore', 'latest.db.gz')
    const r = await runCli(['fetch', 'latest', '--source', 'app', '--to', to], withS3)
    expect(r.exitCode, r.stderr).toBe(0)
    expect(r.stdout).toContain(ids[0])
    expect(await sha256File(to)).toBe((await list()).find((b) => b.id === ids[0])!.sha256)
    const twice = await runCli(['fetch', 'latest', '--source', 'app', '--to', to], withS3)
    expect(twice.exitCode).toBe(2)
    expect(twice.stderr).toContain('exists already')
  })

  it('detects an object whose bytes were changed on the server and writes nothing', async () => {
    const [uploaded] = ids as [string]
    const key = `fetch/app/shop/${uploaded}.db.gz`
    const file = s3.objectFile(key)
    const size = (await stat(file)).size
    const handle = await open(file, 'r+')
    await handle.write(Buffer.from('tampered'), 0, 8, Math.floor(size / 2))
    await handle.close()
    expect((await stat(file)).size).toBe(size)

    const to = join(dir, 'restore', 'tampered.db.gz')
    const r = await runCli(['fetch', uploaded, '--source', 'app', '--to', to], withS3)
    expect(r.exitCode).toBe(1)
    expect(r.stderr).toMatch(/does not match its manifest.*do not restore from it/s)
    expect(await readdir(dirname(to))).toEqual(['latest.db.gz'])

    await removeLocal((await list()).find((b) => b.id === uploaded && b.location === 'both')!)
    const intoVolume = await runCli(['fetch', uploaded, '--source', 'app'], withS3)
    expect(intoVolume.exitCode).toBe(1)
    const names = await readdir(join(local.BACKUP_DIR!, 'app', 'shop'))
    expect(names.filter((n) => n.includes(uploaded))).toEqual([])
  })
})
