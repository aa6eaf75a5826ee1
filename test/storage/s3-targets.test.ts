/**
 * Two off-site targets as two regions (two s3rver instances), through the real CLI: each target's
 * own retention decides what it receives (a monthly-only vault gets the month's first backup and
 * nothing more); one target failing (5xx, dropped connections, stopped) leaves the other target and
 * the volume correct and names the failing target, and the next run catches up on that target only;
 * with the volume lost and target 1 down, a restore comes from target 2.
 */
import Database from 'better-sqlite3'
import { access, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { BackupJson } from '../../src/cli/commands/backup.js'
import type { PruneOutput } from '../../src/cli/commands/prune.js'
import { runCli } from '../support/cli.js'
import { startFaultProxy, type FaultProxy } from '../support/faults/s3-fault-proxy.js'
import { DUMMY_ACCOUNT } from 's3rver/lib/models/account.js'
import { BUCKET, listKeys, s3Env, SECRET_ACCESS_KEY, startS3, type TestS3 } from '../support/s3.js'
import { countItems, makeSqliteDb } from '../support/sqlite.js'

let one: TestS3
let two: TestS3
let proxy: FaultProxy
let dir: string
let live: string
let env: Record<string, string>

type Result = BackupJson['results'][number]

async function backup(expectedExit: number): Promise<Result> {
  const r = await runCli(['backup', '--json'], env, { timeoutMs: 240_000 })
  expect(r.exitCode, r.all).toBe(expectedExit)
  expect(r.all).not.toContain(SECRET_ACCESS_KEY)
  return (JSON.parse(r.stdout) as BackupJson).results[0]!
}

function addRow(): void {
  const db = new Database(live)
  db.exec("INSERT INTO items (name, payload) VALUES ('one more', 'x')")
  db.close()
}

const manifests = async (s3: TestS3, prefix: string) =>
  (await listKeys(s3, prefix)).filter((k) => k.endsWith('.manifest.json')).map((k) => k.split('/').at(-1)!)

beforeAll(async () => {
  ;[one, two] = await Promise.all([startS3(), startS3()])
  proxy = await startFaultProxy(one.port, BUCKET)
  dir = await mkdtemp(join(tmpdir(), 'dbk-s3-targets-'))
  live = join(dir, 'shop.db')
  makeSqliteDb(live, 500)
  env = {
    BACKUP_DIR: join(dir, 'backups'),
    DB01_TYPE: 'sqlite',
    DB01_PATH: live,
    DB01_LABEL: 'app',
    ...s3Env(proxy.endpoint, 'region-1'),
    S3_2_BUCKET: BUCKET,
    S3_2_ENDPOINT: two.endpoint,
    S3_2_REGION: 'eu-west-1',
    S3_2_PREFIX: 'vault',
    S3_2_KEEP_MONTHLY: '12',
  }
}, 120_000)

afterAll(async () => {
  await proxy?.stop()
  await Promise.all([one?.destroy(), two?.destroy()])
  if (dir) await rm(dir, { recursive: true, force: true })
})

describe('two S3 targets', () => {
  const ids: string[] = []

  it('each target receives what its own retention keeps: the vault gets the first backup of the month only', async () => {
    const first = await backup(0)
    addRow()
    const second = await backup(0)
    ids.push(first.id!, second.id!)
    expect(first.offsites!.map((o) => [o.target, o.ok, o.key !== undefined])).toEqual([
      ['S3', true, true],
      ['S3_2', true, true],
    ])
    expect(second.offsites![0]).toMatchObject({ ok: true, key: expect.stringContaining('region-1/app/shop/') })
    expect(second.offsites![1]!.skipped).toMatch(/not sent to S3_2: its period \(monthly:\d+\) is held on the target/)
    expect(await manifests(one, 'region-1/')).toHaveLength(2)
    expect(await manifests(two, 'vault/')).toEqual([`${first.path!.split('/').at(-1)!}.manifest.json`])
  }, 300_000)

  it('one target failing (5xx, dropped connections, stopped) leaves the other and the volume correct; catch-up fills the gap', async () => {
    const failures: Result[] = []
    proxy.setRule(() => ({ kind: 'status', status: 503, code: 'ServiceUnavailable' }))
    addRow()
    failures.push(await backup(1))
    proxy.setRule(() => ({ kind: 'reset' }))
    addRow()
    failures.push(await backup(1))
    proxy.setRule(() => ({ kind: 'pass' }))
    await one.stop()
    addRow()
    failures.push(await backup(1))
    for (const f of failures) {
      expect(f).toMatchObject({ ok: false, error: { code: 'OFFSITE' } })
      // The alert text and the journal name the failing target; the other one is fine.
      expect(f.error!.message).toContain(`off-site copy failed: S3 (s3://${BUCKET}/region-1/)`)
      expect(f.error!.message).not.toContain('S3_2')
      expect(f.offsites![0]!.ok).toBe(false)
      expect(f.offsites![1]).toMatchObject({ ok: true, target: 'S3_2' })
      await access(`${f.path!}.manifest.json`)
      ids.push(f.id!)
    }
    const status = JSON.parse((await runCli(['status', '--json'], env)).stdout) as {
      sources: { databases: { lastFailure?: { message: string } }[] }[]
    }
    expect(status.sources[0]!.databases[0]!.lastFailure?.message).toContain('S3 (s3://')

    await one.start()
    addRow()
    const next = await backup(0)
    ids.push(next.id!)
    expect(next.offsites![0]!.caughtUp!.map((k) => k.split('/').at(-1))).toEqual(
      failures.map((f) => f.path!.split('/').at(-1)),
    )
    expect(next.offsites![1]!.caughtUp).toEqual([])
    expect(await manifests(one, 'region-1/')).toHaveLength(ids.length)
    expect(await manifests(two, 'vault/')).toHaveLength(1)
  }, 600_000)

  it('with the volume gone and target 1 down, restore comes from target 2', async () => {
    const vaultCopy = ids[0]!
    await rm(env.BACKUP_DIR!, { recursive: true, force: true })
    await one.stop()
    try {
      new Database(live).exec('DELETE FROM items').close()
      const r = await runCli(['restore', 'latest', '--source', 'app', '--yes'], env, { timeoutMs: 240_000 })
      expect(r.exitCode, r.all).toBe(0)
      expect(r.stderr).toMatch(/off-site target S3 \(s3:\/\/dbk-test\/region-1\/\) cannot be listed, skipped/)
      expect(r.stderr).toContain(`s3://${BUCKET}/vault/app/shop/`)
      expect(r.stdout).toContain(`restored ${vaultCopy}`)
      // The first backup's content: 500 rows (the vault holds the month's first backup).
      expect(countItems(live)).toBe(500)
      expect(r.all).not.toContain(SECRET_ACCESS_KEY)
    } finally {
      await one.start()
    }
  }, 300_000)
})

describe('prune on every target', () => {
  it('--dry-run shows each target’s keeps and removals with their reasons; prune deletes on each by its own policy', async () => {
    const pruneEnv = { ...env, S3_KEEP_LAST: '2' }
    const before = await manifests(one, 'region-1/')
    expect(before.length).toBeGreaterThan(2)
    const dry = await runCli(['prune', '--dry-run'], pruneEnv, { timeoutMs: 120_000 })
    expect(dry.exitCode, dry.all).toBe(0)
    expect(dry.stdout).toContain(`off-site S3 s3://${BUCKET}/region-1/app/shop/  (policy: keepLast=2; TZ UTC)`)
    expect(dry.stdout).toContain(`off-site S3_2 s3://${BUCKET}/vault/app/shop/  (policy: keepMonthly=12; TZ UTC)`)
    expect(dry.stdout).toMatch(/\n {2}remove {2}shop_\S+ {2}no rule of keepLast=2 keeps it/)
    expect(dry.stdout).toMatch(/\n {2}keep {4}shop_\S+ {2}monthly snapshot, newest proven backup/)
    expect(await manifests(one, 'region-1/')).toEqual(before)

    const real = await runCli(['prune', '--json'], pruneEnv, { timeoutMs: 120_000 })
    expect(real.exitCode, real.all).toBe(0)
    const out = JSON.parse(real.stdout) as PruneOutput
    expect(out.targets.map((t) => [t.target, t.status, t.backups.filter((b) => b.action === 'remove').length])).toEqual(
      [
        ['S3', 'ok', before.length - 2],
        ['S3_2', 'ok', 0],
      ],
    )
    expect(await manifests(one, 'region-1/')).toEqual(before.slice(-2))
    expect(await manifests(two, 'vault/')).toHaveLength(1)
  }, 300_000)
})

describe('target 2 on its own credentials', () => {
  const VAULT_KEY = 'AKIADBKVAULT2QX9'
  const VAULT_SECRET = 'vault/Ry7+secret=Qp3nZx8'
  DUMMY_ACCOUNT.createKeyPair(VAULT_KEY, VAULT_SECRET)

  it('uses them, never prints them, and a refused key or a stopped target 2 leaves target 1 and the volume correct', async () => {
    const own = { ...env, S3_2_ACCESS_KEY_ID: VAULT_KEY, S3_2_SECRET_ACCESS_KEY: VAULT_SECRET, S3_2_KEEP_LAST: '1' }
    addRow()
    const ok = await runCli(['backup', '--json'], own, { timeoutMs: 240_000 })
    expect(ok.exitCode, ok.all).toBe(0)
    expect(ok.all).not.toContain(VAULT_SECRET)

    // A key id target 2's store does not know: AUTH at once, the hint names target 2's variables.
    addRow()
    const refused = await runCli(
      ['backup', '--json'],
      { ...own, S3_2_ACCESS_KEY_ID: 'AKIAUNKNOWN0VAULT' },
      { timeoutMs: 240_000 },
    )
    expect(refused.exitCode).toBe(1)
    const r = (JSON.parse(refused.stdout) as BackupJson).results[0]!
    expect(r.offsites![0]).toMatchObject({ ok: true, target: 'S3', key: expect.stringContaining(r.id!) })
    expect(r.offsites![1]).toMatchObject({ ok: false, target: 'S3_2' })
    expect(r.error!.message).toContain(`off-site copy failed: S3_2 (s3://${BUCKET}/vault/)`)
    expect(r.error!.hint).toContain('check S3_2_ACCESS_KEY_ID (default AWS_ACCESS_KEY_ID)')
    expect(refused.all).not.toContain(VAULT_SECRET)
    await access(`${r.path!}.manifest.json`)

    await two.stop()
    try {
      addRow()
      const down = await runCli(['backup', '--json'], own, { timeoutMs: 240_000 })
      expect(down.exitCode).toBe(1)
      const d = (JSON.parse(down.stdout) as BackupJson).results[0]!
      expect(d.offsites![0]).toMatchObject({ ok: true, key: expect.stringContaining(d.id!) })
      expect(d.offsites![1]).toMatchObject({ ok: false, target: 'S3_2' })
    } finally {
      await two.start()
    }
  }, 600_000)
})
