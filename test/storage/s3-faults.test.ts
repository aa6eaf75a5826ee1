/**
 * S3 failing: the server is stopped in the middle of a multipart upload. The local backup is still
 * proven and committed, the run fails (exit 1) with the off-site error in its JSON, the journal and
 * `status`; after a restart the next run uploads the backup that is missing (catch-up). And
 * `backup --dry-run` checks the bucket for real without writing a backup.
 */
import { access, mkdtemp, readdir, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { runCli, startCli } from '../support/cli.js'
import { BUCKET, listKeys, makeSqliteOfSize, s3Env, SECRET_ACCESS_KEY, startS3, type TestS3 } from '../support/s3.js'
import type { BackupJson } from '../../src/cli/commands/backup.js'
import type { ListedBackup } from '../../src/cli/commands/list.js'
import type { Status } from '../../src/daemon/status.js'
import type { RunRecord } from '../../src/catalog/journal.js'

let s3: TestS3
let dir: string
let env: Record<string, string>

/** Resolves once s3rver holds a first part of a multipart upload on its disk. */
async function firstPartStored(timeoutMs: number): Promise<void> {
  const uploads = join(s3.dir, BUCKET, '._S3rver_uploads')
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    const ids: string[] = await readdir(uploads).catch(() => [])
    for (const id of ids) if ((await readdir(join(uploads, id)).catch((): string[] => [])).includes('1')) return
    await new Promise((r) => setTimeout(r, 20))
  }
  throw new Error('no multipart upload reached the server')
}

beforeAll(async () => {
  s3 = await startS3()
  dir = await mkdtemp(join(tmpdir(), 'dbk-s3-faults-'))
  makeSqliteOfSize(join(dir, 'shop.db'), 40)
  env = {
    BACKUP_DIR: join(dir, 'backups'),
    DB01_TYPE: 'sqlite',
    DB01_PATH: join(dir, 'shop.db'),
    DB01_LABEL: 'app',
    ...s3Env(s3.endpoint, 'faults'),
  }
}, 300_000)

afterAll(async () => {
  await s3?.destroy()
  await rm(dir, { recursive: true, force: true })
})

describe('S3 failing', () => {
  it('keeps the local backup and reports the failure when S3 stops mid-upload; the next run catches up', async () => {
    const child = startCli(['backup', '--json'], env)
    await firstPartStored(120_000)
    await s3.stop()
    const r = await child
    expect(r.exitCode).toBe(1)
    const result = (JSON.parse(String(r.stdout)) as BackupJson).results[0]!
    expect(result).toMatchObject({ ok: false, error: { code: 'OFFSITE' }, offsite: { ok: false } })
    expect(result.error!.message).toMatch(/off-site copy failed: S3 .*(ECONNREFUSED|socket|connect)/i)
    // The local backup is proven and committed all the same.
    await access(result.path!)
    await access(`${result.path!}.manifest.json`)
    const journal = (await readFile(join(env.BACKUP_DIR!, '.dbkeeper', 'runs.jsonl'), 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as RunRecord)
    expect(journal.at(-1)).toMatchObject({ ok: false, results: [{ ok: false, id: result.id, offsite: { ok: false } }] })
    const status = JSON.parse((await runCli(['status', '--json'], env)).stdout) as Status
    expect(status.sources[0]!.databases[0]).toMatchObject({ failing: true, lastFailure: { code: 'OFFSITE' } })

    await s3.start()
    const next = await runCli(['backup', '--json'], env)
    expect(next.exitCode, next.stderr).toBe(0)
    const second = (JSON.parse(next.stdout) as BackupJson).results[0]!
    expect(second.offsite).toMatchObject({ ok: true, caughtUp: [`s3://dbk-test/faults/app/shop/${result.id}.db.gz`] })
    const listed = JSON.parse((await runCli(['list', '--json'], env)).stdout) as ListedBackup[]
    expect(listed.map((b) => [b.id, b.location])).toEqual([
      [second.id, 'both'],
      [result.id, 'both'],
    ])
  }, 300_000)

  it('dry run: checks the bucket with a probe object and writes no backup', async () => {
    const fresh = { ...env, BACKUP_DIR: join(dir, 'dry') }
    const before = await listKeys(s3)
    const r = await runCli(['backup', '--dry-run'], fresh)
    expect(r.exitCode, r.all).toBe(0)
    expect(r.stdout).toMatch(/ok\s+write s3:\/\/dbk-test\/faults\/\.dbkeeper-probe-/)
    expect(r.stdout).toContain('ok     delete it')
    expect(r.stdout).toContain('would upload each new backup to s3://dbk-test/faults/app/shop/')
    expect(await listKeys(s3)).toEqual(before)
    await expect(access(fresh.BACKUP_DIR)).rejects.toThrow()
  })

  it('dry run: refused credentials fail at once, without retries and without printing them', async () => {
    const started = Date.now()
    // s3rver checks the key id (not SigV4 signatures): an unknown key id is its 403.
    const wrong = `${SECRET_ACCESS_KEY}-wrong`
    const r = await runCli(['backup', '--dry-run', '--json'], {
      ...env,
      AWS_ACCESS_KEY_ID: 'AKIAUNKNOWN0KEY0',
      AWS_SECRET_ACCESS_KEY: wrong,
    })
    expect(r.exitCode).toBe(1)
    const report = JSON.parse(r.stdout) as { ok: boolean; s3: { checks: { ok: boolean; error?: string }[] } }
    expect(report.ok).toBe(false)
    expect(report.s3.checks[0]!.error).toMatch(/InvalidAccessKeyId.*\(HTTP 403\).*AWS_ACCESS_KEY_ID/)
    expect(r.all).not.toContain(wrong)
    expect(r.all).not.toContain('AKIAUNKNOWN0KEY0')
    expect(Date.now() - started).toBeLessThan(15_000)
  })
})
