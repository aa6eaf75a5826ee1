/**
 * Issue 10, S3 outages: a fault-injecting proxy in front of the real s3rver answers 5xx, resets
 * or cuts connections, answers very slowly, refuses only the manifest object, and the server
 * itself is stopped at the multipart upload's completion. (test/storage/s3-faults.test.ts already
 * stops s3rver after the first part and restarts it between runs: not repeated here.)
 *
 * Every trial: the local backup is committed and proven whatever S3 does; a failed copy fails the
 * run (exit 1, OFFSITE) and is alerted (webhook to a local HTTP server); a transient fault is
 * retried and the run succeeds; the next run catches up; `list --json` never counts an object
 * whose manifest object is missing, and every manifest object in the bucket describes a complete
 * data object (its bytes hashed on s3rver's disk). No proven backup, local or off-site, is lost.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { listJson, runCli, type CliResult } from '../support/cli.js'
import {
  ACCESS_KEY_ID,
  BUCKET,
  getText,
  listKeys,
  makeSqliteOfSize,
  s3Env,
  SECRET_ACCESS_KEY,
  startS3,
  type TestS3,
} from '../support/s3.js'
import { trial } from '../support/faults/trials.js'
import { Evidence } from '../support/faults/secrets-sampler.js'
import { lostBackups, provenBackups, type ProvenBackup } from '../support/faults/loss-accounting.js'
import { sha256File } from '../support/files.js'
import {
  startFaultProxy,
  type FaultProxy,
  type ProxiedRequest,
  type ProxyAction,
} from '../support/faults/s3-fault-proxy.js'
import { startHook, type Hook } from '../support/webhook-receiver.js'
import type { Manifest } from '../../src/catalog/manifest.js'
import type { BackupJson } from '../../src/cli/commands/backup.js'

const FAULT = 'S3 outage'
const PREFIX = 'outage'
const HOOK_PATH = 'hooks/T0OUT/outage-token-5c1e'

type Result = BackupJson['results'][number]

let s3: TestS3
let proxy: FaultProxy
let hook: Hook
let dir: string
let env: Record<string, string>
/** The proven backups after the last trial: the "before" of the next. */
let current = new Map<string, ProvenBackup>()
const evidence = new Evidence()

beforeAll(async () => {
  s3 = await startS3()
  proxy = await startFaultProxy(s3.port, BUCKET)
  hook = await startHook(HOOK_PATH)
  await hook.set('up')
  dir = await mkdtemp(join(tmpdir(), 'dbk-faults-s3-'))
  // ~10 MB compressed: two parts of a multipart upload.
  makeSqliteOfSize(join(dir, 'shop.db'), 16)
  env = {
    BACKUP_DIR: join(dir, 'backups'),
    TZ: 'UTC',
    KEEP_LAST: '100',
    DB01_TYPE: 'sqlite',
    DB01_PATH: join(dir, 'shop.db'),
    DB01_LABEL: 'app',
    WEBHOOK_URL: hook.url,
    ...s3Env(proxy.endpoint, PREFIX),
  }
  evidence.startSampling()
}, 120_000)

afterAll(async () => {
  evidence.stopSampling()
  await proxy?.stop()
  await hook?.close()
  await s3?.destroy()
  if (dir) await rm(dir, { recursive: true, force: true })
})

async function backup(): Promise<{ r: CliResult; json: BackupJson; result: Result }> {
  const r = await runCli(['backup', '--json'], env, { timeoutMs: 300_000 })
  evidence.add('backup output', r.all)
  let json: BackupJson
  try {
    json = JSON.parse(r.stdout) as BackupJson
  } catch {
    throw new Error(`backup --json printed no JSON (exit ${r.exitCode}):\n${r.all.slice(-3000)}`)
  }
  return { r, json, result: json.results[0]! }
}

/**
 * Problems of the bucket: a manifest object whose data object is missing or is not the bytes the
 * manifest names (hashed on s3rver's disk). Data objects without a manifest object may exist
 * (an interrupted copy); they must never be listed.
 */
async function bucketProblems(): Promise<string[]> {
  const problems: string[] = []
  const keys = await listKeys(s3, `${PREFIX}/`)
  for (const key of keys.filter((k) => k.endsWith('.manifest.json'))) {
    const m = JSON.parse(await getText(s3, key)) as Manifest
    const dataKey = key.slice(0, -'.manifest.json'.length)
    const sha = await sha256File(s3.objectFile(dataKey)).catch(() => undefined)
    if (sha !== m.compressed.sha256)
      problems.push(
        `${key}: its data object ${sha === undefined ? 'is missing' : `has sha256 ${sha}, the manifest says ${m.compressed.sha256}`}`,
      )
  }
  return problems
}

const dataKeyOf = (id: string) => `${PREFIX}/app/shop/${id}.db.gz`

/**
 * The state every trial ends in, from one `list --json`: nothing unproven listed, a backup listed
 * off-site exactly when its manifest object is in the bucket, every manifest object complete.
 * Returns the proven backups (the "after" of this trial and the "before" of the next).
 */
async function checkListedAndBucket(): Promise<Map<string, ProvenBackup>> {
  const listed = await listJson(env)
  const keys = new Set(await listKeys(s3, `${PREFIX}/`))
  for (const b of listed) {
    expect(b.problem, `${b.id} listed with a problem`).toBeUndefined()
    if (b.location !== 'local')
      expect(keys.has(`${dataKeyOf(b.id)}.manifest.json`), `${b.id} listed off-site without its manifest object`).toBe(
        true,
      )
    else
      expect(
        keys.has(`${dataKeyOf(b.id)}.manifest.json`),
        `${b.id} has a manifest object but is listed local only`,
      ).toBe(false)
  }
  expect(await bucketProblems()).toEqual([])
  current = await provenBackups(env, listed)
  return current
}

/**
 * S3 fails for a whole run (the rule applies to every request): the run fails with OFFSITE, the
 * local backup is committed and proven, the failure is alerted; the partial upload is never
 * listed; then S3 is healthy again and the next run uploads what is missing.
 */
async function outage(
  point: string,
  rule: (r: Omit<ProxiedRequest, 'action'>) => ProxyAction,
  expectMessage: RegExp,
  afterFailedRun?: () => Promise<void>,
): Promise<void> {
  await trial(FAULT, point, async () => {
    const before = current
    const alertsBefore = hook.bodies.length
    const faultsBefore = proxy.requests.filter((q) => q.action !== 'pass').length
    proxy.setRule(rule)
    let failed: Awaited<ReturnType<typeof backup>>
    try {
      failed = await backup()
    } finally {
      proxy.setRule(() => ({ kind: 'pass' }))
    }
    await afterFailedRun?.()
    const { r, json, result } = failed
    expect(proxy.requests.filter((q) => q.action !== 'pass').length, 'faults injected').toBeGreaterThan(faultsBefore)
    expect(r.exitCode, r.all.slice(-3000)).toBe(1)
    expect(result).toMatchObject({ ok: false, error: { code: 'OFFSITE' }, offsite: { ok: false } })
    expect(result.error!.message).toMatch(expectMessage)
    // Alerted: one webhook for this run, naming the off-site failure.
    const alerts = hook.bodies.slice(alertsBefore)
    expect(alerts.map((a) => a.runId)).toEqual([json.runId])
    expect(alerts[0]).toMatchObject({ ok: false, failures: [{ source: 'app', database: 'shop', code: 'OFFSITE' }] })
    // The local backup is committed and proven all the same (its bytes hashed), listed on the
    // volume only: whatever reached the bucket is not counted.
    const id = result.id!
    const during = await checkListedAndBucket()
    expect(during.get(`app/${id}`)?.location).toBe('local')

    const next = await backup()
    expect(next.r.exitCode, next.r.all.slice(-3000)).toBe(0)
    expect(next.result.offsite?.caughtUp ?? []).toContain(`s3://${BUCKET}/${dataKeyOf(id)}`)
    const after = await checkListedAndBucket()
    expect(after.get(`app/${id}`)?.location).toBe('both')
    expect(after.get(`app/${next.result.id!}`)?.location).toBe('both')
    const lost = lostBackups(before, after)
    expect(lost).toEqual([])
    return lost.length
  })
}

/** A fault S3 recovers from within the run: the SDK/dbkeeper retries and the run succeeds. */
async function transient(
  point: string,
  rule: (r: Omit<ProxiedRequest, 'action'>) => ProxyAction,
  minFaults = 1,
): Promise<void> {
  await trial(FAULT, point, async () => {
    const before = current
    const alertsBefore = hook.bodies.length
    const from = proxy.requests.length
    proxy.setRule(rule)
    let run: Awaited<ReturnType<typeof backup>>
    try {
      run = await backup()
    } finally {
      proxy.setRule(() => ({ kind: 'pass' }))
    }
    const mine = proxy.requests.slice(from)
    const faulted = mine.filter((q) => q.action !== 'pass' && q.action !== 'slow')
    expect(
      faulted.length,
      `faults injected: ${mine.map((q) => `${q.method} ${q.key}?${q.query.toString()} ${q.action}`).join('\n')}`,
    ).toBeGreaterThanOrEqual(minFaults)
    // Retried: for every faulted request, the same kind of request on the same key went through
    // later (the same part again, or the whole object from the volume once the streamed copy gave up).
    for (const q of faulted) {
      const i = mine.indexOf(q)
      expect(
        mine.slice(i + 1).some((o) => o.method === q.method && o.key === q.key && o.action === 'pass'),
        `${q.method} ${q.url} retried`,
      ).toBe(true)
    }
    expect(run.r.exitCode, run.r.all.slice(-3000)).toBe(0)
    expect(run.result.offsite).toMatchObject({ ok: true })
    expect(hook.bodies.length, 'no alert for a run that succeeded').toBe(alertsBefore)
    const after = await checkListedAndBucket()
    expect(after.get(`app/${run.result.id!}`)?.location).toBe('both')
    const lost = lostBackups(before, after)
    expect(lost).toEqual([])
    return lost.length
  })
}

const isUpload = (q: { method: string }) => q.method === 'PUT' || q.method === 'POST'
const isPart = (q: { method: string; query: URLSearchParams }) => q.method === 'PUT' && q.query.has('partNumber')

describe('S3 outages (fault injection)', () => {
  it('a first proven backup, copied off-site', async () => {
    const { r } = await backup()
    expect(r.exitCode, r.all.slice(-3000)).toBe(0)
    expect([...(await checkListedAndBucket()).values()].map((b) => b.location)).toEqual(['both'])
  }, 120_000)

  it('transient 5xx: the first attempt of every upload request answered 500 InternalError', async () => {
    await transient(
      'HTTP 500 on the first attempt of every upload request',
      (q) =>
        isUpload(q) && q.attempt === 0 ? { kind: 'status', status: 500, code: 'InternalError' } : { kind: 'pass' },
      3,
    )
  }, 180_000)

  it('transient 503 SlowDown on the multipart parts', async () => {
    await transient(
      'HTTP 503 SlowDown on the first attempt of each part',
      (q) => (isPart(q) && q.attempt === 0 ? { kind: 'status', status: 503, code: 'SlowDown' } : { kind: 'pass' }),
      2,
    )
  }, 180_000)

  it('a connection cut in the middle of each part (after 1 MiB), once', async () => {
    await transient(
      'connection cut after 1 MiB of each part, first attempt',
      (q) => (isPart(q) && q.attempt === 0 ? { kind: 'cut', afterBytes: 1 << 20 } : { kind: 'pass' }),
      2,
    )
  }, 180_000)

  it('connections reset on the first attempt of every request', async () => {
    await transient(
      'connection reset on the first attempt of every request',
      (q) => (q.attempt === 0 ? { kind: 'reset' } : { kind: 'pass' }),
      3,
    )
  }, 180_000)

  it('very slow answers: every answer held 0.3 s, bodies at 6 MB/s both ways', async () => {
    const from = proxy.requests.length
    await transient(
      'every answer held 0.3 s, bodies at 6 MB/s',
      () => ({ kind: 'slow', delayMs: 300, bytesPerSecond: 6_000_000 }),
      0,
    )
    expect(proxy.requests.slice(from).filter((q) => q.action === 'slow').length).toBeGreaterThan(4)
  }, 240_000)

  it('S3 down: every request answered 503 ServiceUnavailable', async () => {
    await outage(
      'HTTP 503 on every request for a whole run',
      () => ({ kind: 'status', status: 503, code: 'ServiceUnavailable' }),
      /off-site copy failed: .*(503|ServiceUnavailable)/i,
    )
  }, 240_000)

  it('the data object is stored but its manifest object is refused: never listed', async () => {
    let dataStored = false
    await outage(
      'manifest object refused (403) after the data object was stored',
      (q) => {
        if (q.method === 'PUT' && q.key.endsWith('.manifest.json'))
          return { kind: 'status', status: 403, code: 'AccessDenied' }
        return { kind: 'pass' }
      },
      /off-site copy failed: .*(AccessDenied|403)/i,
      async () => {
        // The data object and its .sha256 are in the bucket, the manifest object is not.
        const keys = await listKeys(s3, `${PREFIX}/`)
        const orphans = keys.filter((k) => k.endsWith('.db.gz') && !keys.includes(`${k}.manifest.json`))
        dataStored = orphans.length === 1
      },
    )
    expect(dataStored, 'the refused run left its data object without a manifest object in the bucket').toBe(true)
  }, 240_000)

  it('s3rver stopped at the completion of the multipart upload, restarted after the run', async () => {
    let stopped = false
    await outage(
      'server stopped at CompleteMultipartUpload',
      (q) => {
        if (!stopped && q.method === 'POST' && q.query.has('uploadId')) {
          stopped = true
          return { kind: 'hook', then: () => s3.stop() }
        }
        return { kind: 'pass' }
      },
      /off-site copy failed: .*(ECONNREFUSED|socket|connect|reset|hang up|502|503)/i,
      () => s3.start(),
    )
    expect(stopped).toBe(true)
  }, 240_000)

  it('leaks no secret: outputs, alerts, volume, bucket, /proc command lines', async () => {
    await trial('secret leak check', 's3-outage runs: outputs, alerts, volume, bucket, /proc', async () => {
      evidence.stopSampling()
      const status = await runCli(['status', '--json'], env)
      const config = await runCli(['config', '--json'], env)
      evidence.add('status --json', status.all)
      evidence.add('config --json', config.all)
      for (const body of hook.raw) evidence.add('webhook body', body)
      await evidence.addFiles(env.BACKUP_DIR!)
      // Not s3rver's own record of unfinished uploads: it keeps every request header (the
      // SigV4 Authorization header names the key id); a real store shows none of it.
      await evidence.addFiles(join(s3.dir, BUCKET), /^\._S3rver_uploads\//)
      expect(evidence.samples).toBeGreaterThan(10)
      // The sampler saw the runs: their command lines (the CLI's entry) are among the samples.
      expect(evidence.cmdlinesMatching(/cli\/main\.(js|ts) backup --json/).length).toBeGreaterThan(0)
      expect(evidence.leaks([SECRET_ACCESS_KEY, ACCESS_KEY_ID, 'outage-token-5c1e'])).toEqual([])
      return 0
    })
  })
})
