/**
 * The copy streamed during the dump, against a real S3 server: nothing stays visible when the
 * local backup fails (during the dump, or after it, in verification); a completed copy carries
 * the proven backup's metadata; an upload that stalls is detached without slowing the dump.
 */
import { createHash, randomBytes } from 'node:crypto'
import { Readable, Writable, type Transform } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Manifest } from '../../src/catalog/manifest.js'
import type { S3Config } from '../../src/config/types.js'
import { LAG_LIMIT, MIN_WAIT_MS, startStreamedCopy } from '../../src/pipeline/offsite-copy.js'
import { confirmAndCommit } from '../../src/pipeline/offsite-publish.js'
import { openS3Target } from '../../src/storage/s3/index.js'
import type { Target } from '../../src/storage/target.js'
import { fakeManifest } from '../support/backups.js'
import { captureLogger } from '../support/logs.js'
import { headObject, listKeys, startRecordingProxy, startS3, testS3Config, type TestS3 } from '../support/s3.js'

let s3: TestS3
let target: Target
let proxy: Awaited<ReturnType<typeof startRecordingProxy>>

/** Pushes `data` through the tee in 1 MiB chunks, as the compressed stream would. */
async function feed(tee: Transform, data: Buffer): Promise<void> {
  const chunks = Array.from({ length: Math.ceil(data.length / 2 ** 20) }, (_, i) =>
    data.subarray(i * 2 ** 20, (i + 1) * 2 ** 20),
  )
  await pipeline(Readable.from(chunks), tee, new Writable({ write: (_c, _e, done) => done() }))
}

function manifestFor(data: Buffer, database: string): Manifest {
  const m = fakeManifest('unit', database, new Date())
  return { ...m, compressed: { size: data.length, sha256: createHash('sha256').update(data).digest('hex') } }
}

/** `mib` MiB of random backup streamed to the target for `database`, then finished (labelled): it must succeed. */
async function streamedAndFinished(database: string, mib: number) {
  const data = randomBytes(mib * 2 ** 20)
  const m = manifestFor(data, database)
  const copy = startStreamedCopy(target, 'unit', database, captureLogger().logger)
  await feed(copy.tee(m.file), data)
  await expect(copy.finish(m)).resolves.toEqual({ ok: true })
  return { data, m, copy }
}

beforeAll(async () => {
  s3 = await startS3()
  proxy = await startRecordingProxy(s3.port)
  const cfg: S3Config = testS3Config(proxy.endpoint, 'unit/')
  target = openS3Target(cfg, { attempts: 2, baseDelayMs: 10 })
  // Load the SDK first, as a run does (`warm`) while it probes its sources.
  await target.head('warm-up')
})

afterAll(async () => {
  await proxy?.stop()
  await s3?.destroy()
})

describe('the off-site copy streamed during the dump', () => {
  it("completes and labels the object with the proven backup's metadata", async () => {
    const { data, m } = await streamedAndFinished('done', 20)
    const head = await headObject(s3, `unit/unit/done/${m.file}`)
    expect(head.ContentLength).toBe(data.length)
    expect(head.Metadata).toMatchObject({
      sha256: m.compressed.sha256,
      'compressed-size': String(data.length),
      source: 'unit',
      database: 'done',
    })
  })

  it('aborts the multipart upload when the dump fails half-way: no object appears', async () => {
    const copy = startStreamedCopy(target, 'unit', 'dumpfail', captureLogger().logger)
    const tee = copy.tee('dumpfail_20260101T000000Z.db.gz')
    const source = Readable.from(
      (function* () {
        for (let i = 0; i < 20; i++) yield randomBytes(2 ** 20)
        throw new Error('the dump tool died')
      })(),
    )
    await expect(pipeline(source, tee, new Writable({ write: (_c, _e, done) => done() }))).rejects.toThrow('died')
    await copy.cancel()
    expect(await listKeys(s3, 'unit/unit/dumpfail/')).toEqual([])
    // The multipart upload was aborted (s3rver answers AbortMultipartUpload with 405 and keeps the
    // parts, so the request is what can be checked here; S3 drops the parts).
    expect(
      proxy.requests.some(
        (r) =>
          r.method === 'DELETE' && r.url.startsWith('/dbk-test/unit/unit/dumpfail/') && r.url.includes('uploadId='),
      ),
    ).toBe(true)
  })

  it('deletes the completed object when the local verification fails after the dump', async () => {
    const data = randomBytes(12 * 2 ** 20)
    const copy = startStreamedCopy(target, 'unit', 'verifyfail', captureLogger().logger)
    await feed(copy.tee('verifyfail_20260101T000000Z.db.gz'), data)
    await new Promise((r) => setTimeout(r, 500))
    await copy.cancel()
    expect(await listKeys(s3, 'unit/unit/verifyfail/')).toEqual([])
  })

  it('deletes the object labelled by finish() when the plan then does not take the backup', async () => {
    const { m, copy } = await streamedAndFinished('skipped', 12)
    expect(await listKeys(s3, 'unit/unit/skipped/')).toEqual([`unit/unit/skipped/${m.file}`])
    await copy.cancel('not sent to S3')
    expect(await listKeys(s3, 'unit/unit/skipped/')).toEqual([])
  })

  it('waits a little for an upload that stalls, then detaches it instead of holding up the dump', async () => {
    let stalledBody: Readable | undefined
    const stalled: Target = {
      ...target,
      put: (_key, body) => {
        stalledBody = body as Readable
        return new Promise((_resolve, reject) => stalledBody!.once('close', () => reject(new Error('body destroyed'))))
      },
    }
    const log = captureLogger()
    const copy = startStreamedCopy(stalled, 'unit', 'slow', log.logger)
    const data = randomBytes(3 * LAG_LIMIT)
    const started = Date.now()
    await feed(copy.tee('slow_20260101T000000Z.db.gz'), data)
    expect(Date.now() - started).toBeLessThan(MIN_WAIT_MS + 1500)
    expect(stalledBody?.destroyed).toBe(true)
    await expect(copy.finish(manifestFor(data, 'slow'))).resolves.toMatchObject({
      ok: false,
      reason: expect.stringMatching(/fell behind the dump for longer than the 2 s it may wait/) as unknown,
    })
    expect(log.text()).toContain('uploaded from the volume once proven')
  })
})

// The confirmation after every upload (HeadObject): what the store holds must have the backup's
// size and sha256, else it is deleted and the copy fails — no manifest object, never listed.
describe('the confirmation of an uploaded data object', () => {
  it('accepts the object the backup was, then writes the .sha256 and the manifest object', async () => {
    const data = randomBytes(256 * 1024)
    const m = manifestFor(data, 'confirm-ok')
    const key = `unit/confirm-ok/${m.file}`
    await target.put(key, data, { metadata: { sha256: m.compressed.sha256 } })
    await expect(confirmAndCommit(target, m)).resolves.toBe(key)
    expect((await listKeys(s3, 'unit/unit/confirm-ok/')).sort()).toEqual(
      [`unit/${key}`, `unit/${key}.manifest.json`, `unit/${key}.sha256`].sort(),
    )
  })

  it('deletes an object of the wrong size and fails naming both sizes', async () => {
    const m = manifestFor(randomBytes(256 * 1024), 'confirm-size')
    const key = `unit/confirm-size/${m.file}`
    // The right sha256 metadata on a short object: the size alone must fail it.
    await target.put(key, randomBytes(1000), { metadata: { sha256: m.compressed.sha256 } })
    await expect(confirmAndCommit(target, m)).rejects.toMatchObject({
      code: 'VERIFY_FAILED',
      message: expect.stringMatching(
        new RegExp(`does not match the backup: it has 1000 bytes, the backup ${m.compressed.size}.*it was deleted`),
      ) as unknown,
    })
    expect(await target.head(key)).toBeUndefined()
    expect(await listKeys(s3, 'unit/unit/confirm-size/')).toEqual([])
  })

  it('deletes an object of the right size whose sha256 metadata differs', async () => {
    const data = randomBytes(256 * 1024)
    const m = manifestFor(data, 'confirm-sha')
    const key = `unit/confirm-sha/${m.file}`
    await target.put(key, randomBytes(data.length), { metadata: { sha256: 'f'.repeat(64) } })
    await expect(confirmAndCommit(target, m)).rejects.toMatchObject({
      code: 'VERIFY_FAILED',
      message: expect.stringContaining(
        `its sha256 metadata is ${'f'.repeat(64)}, the backup's ${m.compressed.sha256}`,
      ) as unknown,
    })
    expect(await listKeys(s3, 'unit/unit/confirm-sha/')).toEqual([])
  })

  it('fails when the object is missing after its upload, and writes no manifest object', async () => {
    const m = manifestFor(randomBytes(1024), 'confirm-missing')
    await expect(confirmAndCommit(target, m)).rejects.toMatchObject({
      code: 'VERIFY_FAILED',
      message: expect.stringContaining('the object is missing after its upload') as unknown,
    })
    expect(await listKeys(s3, 'unit/unit/confirm-missing/')).toEqual([])
  })
})
