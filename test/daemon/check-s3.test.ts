/**
 * `dbkeeper check` against a real s3rver: the probe object is written, read back and deleted
 * (the bucket is listed afterwards), the store's silence on versioning and Object Lock is reported
 * as "unknown", and a missing bucket or a closed port fails the check with its cause and next step.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { runCli } from '../support/cli.js'
import { listKeys, putObject, s3Env, SECRET_ACCESS_KEY, startS3, type TestS3 } from '../support/s3.js'
import { freePort } from '../support/servers.js'
import { makeSqliteDb } from '../support/sqlite.js'

const PREFIX = 'prod/db'

let dir: string
let s3: TestS3

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'dbk-check-s3-'))
  makeSqliteDb(join(dir, 'app.db'), 50)
  s3 = await startS3()
})

afterAll(async () => {
  await s3.destroy()
  await rm(dir, { recursive: true, force: true })
})

function env(extra: Record<string, string> = {}): Record<string, string> {
  return {
    BACKUP_DIR: join(dir, 'backups'),
    DB01_TYPE: 'sqlite',
    DB01_PATH: join(dir, 'app.db'),
    DB01_LABEL: 'app',
    ...s3Env(s3.endpoint, PREFIX),
    ...extra,
  }
}

function s3Line(stdout: string): string {
  return (
    stdout
      .trim()
      .split('\n')
      .find((l) => l.includes(' S3 s3://')) ?? ''
  )
}

describe('dbkeeper check: S3', () => {
  it('writes, reads back and deletes a probe under S3_PREFIX, leaves the bucket as it was, and says "unknown" where s3rver is silent', async () => {
    await putObject(s3, `${PREFIX}/app/app/keep-me.txt`, 'an object that is not ours to touch')
    const before = await listKeys(s3)
    const r = await runCli(['check'], env())
    expect(r.exitCode, r.all).toBe(0)
    const line = s3Line(r.stdout)
    expect(line).toMatch(
      new RegExp(
        `^ok {5}S3 s3://dbk-test/${PREFIX}/: \\d+-byte probe \\.dbkeeper-check-[0-9a-f]{16} written, read back equal and deleted; `,
      ),
    )
    expect(line).toContain(
      'versioning: unknown (the store ignored the query: it answered with something else than a versioning configuration)',
    )
    expect(line).toContain('Object Lock: unknown (the store answered NotImplemented, HTTP 501)')
    expect(await listKeys(s3)).toEqual(before)
    expect(r.all).not.toContain(SECRET_ACCESS_KEY)
  })

  it('a missing bucket fails the check (exit 1) naming the bucket problem and S3_BUCKET; the other checks still run', async () => {
    const r = await runCli(['check', '--json'], env({ S3_BUCKET: 'no-such-bucket' }))
    expect(r.exitCode, r.all).toBe(1)
    const checks = JSON.parse(r.stdout) as { name: string; ok: boolean; detail: string }[]
    expect(checks.map((c) => [c.name, c.ok])).toEqual([
      [`backup volume ${join(dir, 'backups')}`, true],
      ['source app (DB01, sqlite)', true],
      [`S3 s3://no-such-bucket/${PREFIX}/`, false],
    ])
    expect(checks[2]!.detail).toMatch(/NoSuchBucket/)
    expect(checks[2]!.detail).toContain(
      'check S3_BUCKET, S3_ENDPOINT and S3_REGION: the bucket must exist (dbkeeper never creates one)',
    )
  })

  it('an endpoint nothing listens on fails the check (exit 1) with the refused connection and S3_ENDPOINT to check', async () => {
    const closed = await freePort()
    const started = Date.now()
    const r = await runCli(['check'], env({ S3_ENDPOINT: `http://127.0.0.1:${closed}` }))
    expect(r.exitCode, r.all).toBe(1)
    const line = s3Line(r.stdout)
    expect(line).toMatch(
      /^FAILED S3 s3:\/\/dbk-test\/prod\/db\/: S3 listing of s3:\/\/dbk-test\/prod\/db\/\.dbkeeper-check- failed: .*ECONNREFUSED/,
    )
    expect(line).toContain('check S3_ENDPOINT and S3_REGION')
    // One attempt of ours (the SDK's own retries inside it): a check answers within seconds.
    expect(Date.now() - started).toBeLessThan(30_000)
    expect(r.all).not.toContain(SECRET_ACCESS_KEY)
  })
})
