/**
 * The vault: Object Lock, an append-only key (S3_NO_DELETE) and an archive tier, through the real
 * CLI against s3rver behind test/support/faults/s3-vault-proxy.ts (s3rver has none of the three;
 * the proxy answers as AWS S3 does).
 */
import { DeleteObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3'
import Database from 'better-sqlite3'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { BackupJson } from '../../src/cli/commands/backup.js'
import type { PruneOutput } from '../../src/cli/commands/prune.js'
import { runCli } from '../support/cli.js'
import { startVaultProxy, type VaultProxy } from '../support/faults/s3-vault-proxy.js'
import { BUCKET, s3Env, SECRET_ACCESS_KEY, startS3, testClient, type TestS3 } from '../support/s3.js'
import { makeSqliteDb } from '../support/sqlite.js'

let s3: TestS3
let vault: VaultProxy
let dir: string
let live: string

const DAY = 86_400_000

function envFor(prefix: string, extra: Record<string, string>): Record<string, string> {
  return {
    BACKUP_DIR: join(dir, prefix),
    DB01_TYPE: 'sqlite',
    DB01_PATH: live,
    DB01_LABEL: 'app',
    ...s3Env(vault.endpoint, prefix),
    ...extra,
  }
}

async function backup(env: Record<string, string>): Promise<BackupJson['results'][number]> {
  const r = await runCli(['backup', '--json'], env, { timeoutMs: 120_000 })
  expect(r.exitCode, r.all).toBe(0)
  expect(r.all).not.toContain(SECRET_ACCESS_KEY)
  return (JSON.parse(r.stdout) as BackupJson).results[0]!
}

function addRow(): void {
  new Database(live).exec("INSERT INTO items (name, payload) VALUES ('one more', 'x')").close()
}

beforeAll(async () => {
  s3 = await startS3()
  vault = await startVaultProxy(s3.port, BUCKET)
  dir = await mkdtemp(join(tmpdir(), 'dbk-s3-vault-'))
  live = join(dir, 'shop.db')
  makeSqliteDb(live, 300)
}, 120_000)

afterAll(async () => {
  await vault?.stop()
  await s3?.destroy()
  if (dir) await rm(dir, { recursive: true, force: true })
})

describe('the vault proxy behaves as S3 does', () => {
  it('refuses a locked put without a checksum header, and a DELETE of a locked object', async () => {
    const client = testClient(vault.endpoint)
    const until = new Date(Date.now() + DAY)
    await expect(
      client.send(
        new PutObjectCommand({
          Bucket: BUCKET,
          Key: 'fixture/plain',
          Body: 'x',
          ObjectLockMode: 'GOVERNANCE',
          ObjectLockRetainUntilDate: until,
        }),
      ),
    ).rejects.toMatchObject({ name: 'InvalidRequest' })
    const locked = { Bucket: BUCKET, Key: 'fixture/locked' }
    await client.send(
      new PutObjectCommand({
        ...locked,
        Body: 'x',
        ObjectLockMode: 'GOVERNANCE',
        ObjectLockRetainUntilDate: until,
        ChecksumAlgorithm: 'SHA256',
      }),
    )
    await expect(client.send(new DeleteObjectCommand(locked))).rejects.toMatchObject({ name: 'AccessDenied' })
  })
})

describe('Object Lock', () => {
  it('uploads every object locked until max(S3_OBJECT_LOCK_DAYS, the planned keep date) with a checksum; retention keeps and reports locked backups', async () => {
    const env = envFor('locked', {
      S3_OBJECT_LOCK_MODE: 'COMPLIANCE',
      S3_OBJECT_LOCK_DAYS: '35',
      S3_KEEP_LAST: '1',
    })
    const first = await backup(env)
    addRow()
    const second = await backup(env)
    for (const r of [first, second]) expect(r.offsites![0], JSON.stringify(r)).toMatchObject({ ok: true })
    const puts = vault.requests.filter((r) => r.method === 'PUT' && r.key.startsWith('locked/app/'))
    expect(puts.length).toBeGreaterThanOrEqual(6)
    for (const p of puts) {
      expect(p.headers['x-amz-object-lock-mode']).toBe('COMPLIANCE')
      expect(Object.keys(p.headers).some((k) => k.startsWith('x-amz-checksum-'))).toBe(true)
      // KEEP_LAST plans no date: the 35 lock days (the planned date's share: test/retention/uploads.test.ts).
      const until = Date.parse(p.headers['x-amz-object-lock-retain-until-date'] as string)
      expect(until).toBeGreaterThan(Date.now() + 34 * DAY)
      expect(until).toBeLessThan(Date.now() + 36 * DAY)
    }
    // KEEP_LAST=1: the plan removes the first backup, the lock keeps it.
    const dry = JSON.parse((await runCli(['prune', '--dry-run', '--json'], env)).stdout) as PruneOutput
    const verdict = dry.targets[0]!.backups.find((b) => b.id === first.id)!
    expect(verdict.action).toBe('keep')
    expect(verdict.reasons[0]).toMatch(/^locked by Object Lock until 20\d\d-.*the policy would remove it/)
    const real = await runCli(['prune'], env)
    expect(real.exitCode, real.all).toBe(0)
    expect(vault.requests.filter((r) => r.method === 'DELETE' && r.key.startsWith('locked/app/'))).toEqual([])
  }, 300_000)
})

describe('S3_NO_DELETE', () => {
  it('never sends a DELETE; prune and the run report what the lifecycle rule should expire', async () => {
    const env = envFor('append-only', { S3_NO_DELETE: 'true', S3_KEEP_LAST: '1' })
    vault.denyDeletes = true
    try {
      const first = await backup(env)
      addRow()
      const second = await backup(env)
      expect(second.offsites![0]).toMatchObject({ ok: true, wouldRemove: [first.path!.split('/').at(-1)] })
      const dry = await runCli(['prune'], env)
      expect(dry.exitCode, dry.all).toBe(0)
      expect(dry.stdout).toMatch(new RegExp(`\\n {2}expire {2}${first.id} {2}no rule of keepLast=1 keeps it`))
      expect(dry.stdout).toContain("left in place for the bucket's lifecycle rule")
      expect(vault.requests.filter((r) => r.method === 'DELETE' && r.key.startsWith('append-only/'))).toEqual([])
    } finally {
      vault.denyDeletes = false
    }
  }, 300_000)
})

describe('archive tier', () => {
  it('fetch asks for a restore, says how long DEEP_ARCHIVE takes, exits 4, and completes once restored; manifests stay STANDARD', async () => {
    const env = envFor('archive', { S3_STORAGE_CLASS: 'DEEP_ARCHIVE' })
    const b = await backup(env)
    const manifestPut = vault.requests.find((r) => r.method === 'PUT' && r.key.endsWith(`${b.id}.db.gz.manifest.json`))
    expect(manifestPut?.headers['x-amz-storage-class']).toBeUndefined()
    expect([...vault.archived.values()]).toContain('DEEP_ARCHIVE')
    await rm(env.BACKUP_DIR!, { recursive: true, force: true })

    const asked = await runCli(['fetch', 'latest', '--source', 'app'], env)
    expect(asked.exitCode, asked.all).toBe(4)
    expect(asked.stderr).toContain('is in DEEP_ARCHIVE and cannot be read at once: its restore was requested now')
    expect(asked.stderr).toContain('DEEP_ARCHIVE usually takes up to 12 hours')
    const again = await runCli(['fetch', 'latest', '--source', 'app'], env)
    expect(again.exitCode, again.all).toBe(4)
    expect(again.stderr).toContain('is in progress (requested before)')
    // restore goes the same way: nothing touched, exit 4.
    const restore = await runCli(['restore', 'latest', '--source', 'app', '--yes'], env)
    expect(restore.exitCode, restore.all).toBe(4)
    expect(restore.stderr).toContain('is in progress (requested before)')

    vault.completeRestores()
    const done = await runCli(['fetch', 'latest', '--source', 'app'], env)
    expect(done.exitCode, done.all).toBe(0)
    const listed = await runCli(['list', '--json'], env)
    expect(listed.stdout).toContain(b.id!)
  }, 300_000)
})

describe('dbkeeper check on a vault', () => {
  const s3Line = (stdout: string) => stdout.split('\n').find((l) => l.includes('S3 s3://')) ?? ''

  it('reports Object Lock and versioning, and whether the credentials can delete', async () => {
    const env = envFor('check', { S3_OBJECT_LOCK_MODE: 'GOVERNANCE', S3_OBJECT_LOCK_DAYS: '7' })
    const r = await runCli(['check'], env)
    expect(r.exitCode, r.all).toBe(0)
    expect(s3Line(r.stdout)).toContain('credentials can delete: yes; versioning: enabled; Object Lock: on')

    vault.denyDeletes = true
    try {
      const appendOnly = await runCli(['check'], { ...env, S3_NO_DELETE: 'true' })
      expect(appendOnly.exitCode, appendOnly.all).toBe(0)
      expect(s3Line(appendOnly.stdout)).toContain('credentials can delete: no (as S3_NO_DELETE=true says')
      const refused = await runCli(['check'], env)
      expect(refused.exitCode).toBe(1)
      expect(refused.stdout).toContain('S3: the credentials may not delete the probe')
      expect(refused.stdout).toContain('or set S3_NO_DELETE=true for an append-only key')
    } finally {
      vault.denyDeletes = false
    }
    // A key that can delete although S3_NO_DELETE=true says it cannot: a finding, not a pass.
    const leaky = await runCli(['check'], { ...env, S3_NO_DELETE: 'true' })
    expect(leaky.exitCode).toBe(1)
    expect(leaky.stdout).toContain('S3_NO_DELETE=true, but the credentials deleted the probe')
  }, 120_000)
})
