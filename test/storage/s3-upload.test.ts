/**
 * The off-site copy against a real S3 server (s3rver behind a recording proxy): 1 MB and 100 MB
 * backups are uploaded, confirmed and labelled; the bytes the server stored are the backup's; SSE
 * and the storage class are sent; no AWS secret reaches any output, log, journal or manifest.
 */
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { decodeManifest, type Manifest } from '../../src/catalog/manifest.js'
import { runCli, type CliResult } from '../support/cli.js'
import { sha256File } from '../support/files.js'
import {
  ACCESS_KEY_ID,
  getText,
  headObject,
  makeSqliteOfSize,
  s3Env,
  SECRET_ACCESS_KEY,
  startRecordingProxy,
  startS3,
  type RecordedRequest,
  type TestS3,
} from '../support/s3.js'
import type { BackupJson } from '../../src/cli/commands/backup.js'

let s3: TestS3
let proxy: Awaited<ReturnType<typeof startRecordingProxy>>
let dir: string
let env: Record<string, string>
let run: CliResult
const outputs: string[] = []

async function filesUnder(root: string): Promise<string[]> {
  const entries = await readdir(root, { withFileTypes: true, recursive: true })
  return entries.filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name))
}

/** The requests that wrote object `key` (path-style: `/<bucket>/<key>`), by kind. */
function writesOf(key: string, requests: RecordedRequest[]) {
  const path = `/dbk-test/${key.split('/').map(encodeURIComponent).join('/')}`
  const mine = requests.filter((r) => r.url.split('?')[0] === path && (r.method === 'PUT' || r.method === 'POST'))
  return {
    start: mine.filter(
      (r) =>
        (r.method === 'POST' && r.url.includes('uploads')) ||
        (r.method === 'PUT' && !r.url.includes('partNumber') && !r.headers['x-amz-copy-source']),
    ),
    parts: mine.filter((r) => r.url.includes('partNumber=')),
    copies: mine.filter((r) => r.headers['x-amz-copy-source'] !== undefined),
  }
}

beforeAll(async () => {
  s3 = await startS3()
  proxy = await startRecordingProxy(s3.port)
  dir = await mkdtemp(join(tmpdir(), 'dbk-s3-upload-'))
  makeSqliteOfSize(join(dir, 'small.db'), 1)
  makeSqliteOfSize(join(dir, 'big.db'), 100)
  env = {
    BACKUP_DIR: join(dir, 'backups'),
    DB01_TYPE: 'sqlite',
    DB01_PATH: join(dir, 'small.db'),
    DB02_TYPE: 'sqlite',
    DB02_PATH: join(dir, 'big.db'),
    ...s3Env(proxy.endpoint, 'offsite/prod', {
      S3_SSE: 'aws:kms',
      S3_SSE_KMS_KEY_ID: 'alias/dbk-test',
      S3_STORAGE_CLASS: 'STANDARD_IA',
    }),
  }
  run = await runCli(['backup', '--json'], { ...env, LOG_LEVEL: 'debug' }, { timeoutMs: 300_000 })
  outputs.push(run.all)
}, 600_000)

afterAll(async () => {
  await proxy?.stop()
  await s3?.destroy()
  await rm(dir, { recursive: true, force: true })
})

describe('upload of proven backups to S3', () => {
  it('uploads, confirms and labels a 1 MB and a 100 MB backup with the same names as on the volume', async () => {
    expect(run.exitCode, run.stderr).toBe(0)
    const results = (JSON.parse(run.stdout) as BackupJson).results
    expect(results.map((r) => r.source).sort()).toEqual(['big', 'small'])
    for (const r of results) {
      expect(r.ok).toBe(true)
      const m = (decodeManifest(await readFile(`${r.path}.manifest.json`, 'utf8')) as { manifest: Manifest }).manifest
      const key = `offsite/prod/${m.source}/${m.database}/${m.file}`
      expect(r.offsite).toMatchObject({ ok: true, key: `s3://dbk-test/${key}` })

      const head = await headObject(s3, key)
      expect(head.ContentLength).toBe(m.compressed.size)
      expect(head.StorageClass).toBe('STANDARD_IA')
      expect(head.Metadata).toMatchObject({
        sha256: m.compressed.sha256,
        'compressed-size': String(m.compressed.size),
        'raw-size': String(m.raw.size),
        'raw-sha256': m.raw.sha256,
        source: m.source,
        database: m.database,
        engine: 'sqlite',
        kind: 'backup',
        'started-at': m.startedAt,
        'dbkeeper-id': m.id,
      })
      // What the server stored on its disk is byte for byte the local backup.
      expect(await sha256File(s3.objectFile(key))).toBe(m.compressed.sha256)
      expect(await getText(s3, `${key}.sha256`)).toBe(`${m.compressed.sha256}  ${m.file}\n`)
      const remote = decodeManifest(await getText(s3, `${key}.manifest.json`))
      expect(remote).toMatchObject({
        manifest: { id: m.id, compressed: m.compressed, raw: m.raw, locations: { s3: `s3://dbk-test/${key}` } },
      })
    }
    const big = results.find((r) => r.source === 'big')!
    expect((await readFile(`${big.path}.manifest.json`, 'utf8')).length).toBeGreaterThan(0)
    const bigWrites = writesOf(big.offsite!.key!.replace('s3://dbk-test/', ''), proxy.requests)
    // ~60 MB compressed: a multipart upload in 8 MiB parts, started during the dump.
    expect(bigWrites.parts.length).toBeGreaterThanOrEqual(5)
  })

  it('sends SSE and the storage class with every data object, SSE alone with manifests and checksums', () => {
    const results = (JSON.parse(run.stdout) as BackupJson).results
    for (const r of results) {
      const key = r.offsite!.key!.replace('s3://dbk-test/', '')
      const data = writesOf(key, proxy.requests)
      expect(data.start.length).toBe(1)
      expect(data.copies.length).toBe(1)
      for (const req of [...data.start, ...data.copies]) {
        expect(req.headers).toMatchObject({
          'x-amz-server-side-encryption': 'aws:kms',
          'x-amz-server-side-encryption-aws-kms-key-id': 'alias/dbk-test',
          'x-amz-storage-class': 'STANDARD_IA',
        })
      }
      for (const small of [`${key}.manifest.json`, `${key}.sha256`]) {
        const [put] = writesOf(small, proxy.requests).start
        expect(put?.headers['x-amz-server-side-encryption']).toBe('aws:kms')
        expect(put?.headers['x-amz-storage-class']).toBeUndefined()
      }
    }
  })

  it('never prints or stores the AWS secret or key id', async () => {
    const config = await runCli(['config', '--json'], env)
    outputs.push(config.all)
    expect(config.stdout).toContain('"secretAccessKey": "***"')
    const files = [...(await filesUnder(env.BACKUP_DIR!)), ...(await filesUnder(s3.dir))].filter(
      (f) => !/\.(gz|zst)(\._S3rver_object)?$/.test(f),
    )
    const stored = await Promise.all(files.map((f) => readFile(f, 'utf8')))
    for (const text of [...outputs, ...stored]) {
      expect(text).not.toContain(SECRET_ACCESS_KEY)
      expect(text).not.toContain(ACCESS_KEY_ID)
    }
  })
})
