/**
 * Our multipart upload (src/storage/s3/multipart.ts) against a real S3 server (s3rver behind the
 * fault proxy, which also records every request): several parts round-trip byte for byte and pass
 * the confirmation an off-site copy gets; a part that fails stops the reading, aborts the
 * multipart upload and leaves no object; an object of exactly one part and one of zero bytes are
 * a single PutObject.
 */
import { createHash, randomBytes } from 'node:crypto'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Manifest } from '../../src/catalog/manifest.js'
import { uploadFromVolume } from '../../src/pipeline/offsite-publish.js'
import { openS3Target } from '../../src/storage/s3/index.js'
import { PART_SIZE } from '../../src/storage/s3/limits.js'
import type { Target } from '../../src/storage/target.js'
import { fakeManifest } from '../support/backups.js'
import { sha256File } from '../support/files.js'
import { startFaultProxy, type FaultProxy } from '../support/faults/s3-fault-proxy.js'
import { BUCKET, headObject, listKeys, startS3, testS3Config, type TestS3 } from '../support/s3.js'

let s3: TestS3
let proxy: FaultProxy
let target: Target
let dir: string

const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex')

/** `data` as a stream of `chunk`-byte pieces; `pulled()` says how many bytes were read from it. */
function chunked(data: Buffer, chunk: number) {
  let pulled = 0
  const stream = Readable.from(
    (function* () {
      for (let at = 0; at < data.length; at += chunk) {
        const piece = data.subarray(at, at + chunk)
        pulled += piece.length
        yield piece
      }
    })(),
  )
  return { stream, pulled: () => pulled }
}

/** The requests the proxy saw for `key` (under the target's prefix `mp/`), by kind. */
function requestsFor(key: string) {
  const mine = proxy.requests.filter((r) => r.key === `mp/${key}`)
  return {
    creates: mine.filter((r) => r.method === 'POST' && r.query.has('uploads')),
    parts: mine.filter((r) => r.method === 'PUT' && r.query.has('partNumber')),
    puts: mine.filter((r) => r.method === 'PUT' && !r.query.has('partNumber')),
    aborts: mine.filter((r) => r.method === 'DELETE' && r.query.has('uploadId')),
  }
}

beforeAll(async () => {
  s3 = await startS3()
  proxy = await startFaultProxy(s3.port, BUCKET)
  target = openS3Target(testS3Config(proxy.endpoint, 'mp/'), { attempts: 1 })
  dir = await mkdtemp(join(tmpdir(), 'dbk-s3-multipart-'))
})

afterAll(async () => {
  await proxy?.stop()
  await s3?.destroy()
  await rm(dir, { recursive: true, force: true })
})

describe('our multipart upload', () => {
  it('uploads a committed file of several parts byte for byte, and the copy passes its size and sha256 confirmation', async () => {
    const data = randomBytes(2 * PART_SIZE + 12_345)
    const path = join(dir, 'three-parts.gz')
    await writeFile(path, data)
    const m: Manifest = {
      ...fakeManifest('unit', 'three', new Date()),
      compressed: { size: data.length, sha256: sha256(data) },
    }
    const key = await uploadFromVolume(target, { manifest: m, dataPath: path }, new AbortController().signal)
    const seen = requestsFor(key)
    expect(seen.creates).toHaveLength(1)
    expect(seen.parts.map((r) => r.query.get('partNumber'))).toEqual(['1', '2', '3'])
    expect(await sha256File(s3.objectFile(`mp/${key}`))).toBe(m.compressed.sha256)
    expect((await headObject(s3, `mp/${key}`)).ContentLength).toBe(data.length)
    expect(await listKeys(s3, `mp/${key}`)).toEqual([`mp/${key}`, `mp/${key}.manifest.json`, `mp/${key}.sha256`])
  })

  it('refuses a committed file whose size changed since its manifest, before sending anything: VERIFY_FAILED', async () => {
    const data = randomBytes(PART_SIZE + 10)
    const path = join(dir, 'shrunk.gz')
    await writeFile(path, data.subarray(0, PART_SIZE))
    const m: Manifest = {
      ...fakeManifest('unit', 'shrunk', new Date()),
      compressed: { size: data.length, sha256: sha256(data) },
    }
    const before = proxy.requests.length
    const error = await uploadFromVolume(target, { manifest: m, dataPath: path }, new AbortController().signal).then(
      () => undefined,
      (e: unknown) => e,
    )
    expect(error).toMatchObject({ code: 'VERIFY_FAILED' })
    expect(String((error as Error).message)).toContain(
      `no longer matches its manifest (${PART_SIZE} bytes, the manifest says ${data.length})`,
    )
    expect(proxy.requests.length).toBe(before)
  })

  it('cuts a stream of odd-sized chunks into parts without mixing up the reused buffers', async () => {
    // 700,001-byte chunks: part boundaries fall inside chunks; 5 parts through 3 buffers.
    const data = randomBytes(4 * PART_SIZE + 999)
    await target.put('odd/chunks', chunked(data, 700_001).stream)
    expect(requestsFor('odd/chunks').parts).toHaveLength(5)
    expect(await sha256File(s3.objectFile('mp/odd/chunks'))).toBe(sha256(data))
  })

  it('stops reading when a part fails, aborts the multipart upload and leaves no object', async () => {
    proxy.setRule((r) =>
      r.key === 'mp/fails/midway' && r.query.get('partNumber') === '2'
        ? { kind: 'status', status: 403, code: 'AccessDenied' }
        : { kind: 'pass' },
    )
    const data = randomBytes(8 * PART_SIZE)
    const body = chunked(data, 1 << 20)
    try {
      await expect(target.put('fails/midway', body.stream)).rejects.toMatchObject({
        code: 'AUTH',
        message: expect.stringContaining('AccessDenied') as unknown,
      })
    } finally {
      proxy.setRule(() => ({ kind: 'pass' }))
    }
    const seen = requestsFor('fails/midway')
    expect(seen.aborts).toHaveLength(1)
    // Part 2 failed with part 3 at most on its way: nothing after it was read or sent.
    expect(seen.parts.length).toBeLessThanOrEqual(3)
    expect(body.pulled()).toBeLessThan(data.length)
    expect(await listKeys(s3, 'mp/fails/')).toEqual([])
  })

  it('sends an object of exactly one part, from a stream or a Buffer, as a single PutObject', async () => {
    const data = randomBytes(PART_SIZE)
    await target.put('one/stream', chunked(data, 1 << 20).stream)
    await target.put('one/buffer', data)
    for (const key of ['one/stream', 'one/buffer']) {
      const seen = requestsFor(key)
      expect([seen.creates.length, seen.parts.length, seen.puts.length]).toEqual([0, 0, 1])
      expect(await sha256File(s3.objectFile(`mp/${key}`))).toBe(sha256(data))
    }
    // One byte more is two parts, the second of one byte.
    await target.put('one/plus-one', chunked(Buffer.concat([data, Buffer.from('x')]), 1 << 20).stream)
    expect(requestsFor('one/plus-one').parts).toHaveLength(2)
    expect((await headObject(s3, 'mp/one/plus-one')).ContentLength).toBe(PART_SIZE + 1)
  })

  it('sends an empty stream as an empty object, and refuses a body shorter than its announced size', async () => {
    await target.put('zero/bytes', Readable.from([]))
    expect(requestsFor('zero/bytes').puts).toHaveLength(1)
    expect((await headObject(s3, 'mp/zero/bytes')).ContentLength).toBe(0)

    await expect(target.put('zero/short', Readable.from([Buffer.from('abc')]), { size: 4 })).rejects.toThrow(
      /3 bytes, 4 were expected/,
    )
    expect(await listKeys(s3, 'mp/zero/short')).toEqual([])
  })
})
