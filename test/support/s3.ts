/**
 * A real S3 HTTP server for the tests (s3rver, in this process, on a free port, storing objects in
 * a temp dir), a recording proxy to assert on the requests the CLI sends (SSE, storage class), an
 * SDK client to inspect and plant objects, and the environment that points the CLI at them.
 */
import {
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3'
import Database from 'better-sqlite3'
import { randomBytes } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { createServer, request, type IncomingHttpHeaders, type Server } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import S3rver from 's3rver'
import { DUMMY_ACCOUNT } from 's3rver/lib/models/account.js'
import type { S3Config } from '../../src/config/types.js'
import { Secret } from '../../src/runtime/secrets.js'
import { freePort } from './servers.js'

export const BUCKET = 'dbk-test'
/** Distinctive, so that "appears nowhere" assertions cannot match by accident. */
export const ACCESS_KEY_ID = 'AKIADBKTEST7QX2R'
export const SECRET_ACCESS_KEY = 'dbk/Zq8+secret=Wm4vKp2LrT9s'
DUMMY_ACCOUNT.createKeyPair(ACCESS_KEY_ID, SECRET_ACCESS_KEY)
// The test process's own SDK client would warn on Node 20 about the SDK's future Node 22 requirement.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true'

export interface TestS3 {
  port: number
  endpoint: string
  /** Where s3rver keeps the objects: `<dir>/<bucket>/<key>._S3rver_object`. */
  dir: string
  client: S3Client
  objectFile(key: string): string
  stop(): Promise<void>
  /** Starts again on the same port and directory (after stop). */
  start(): Promise<void>
  /** Stops and deletes the directory. */
  destroy(): Promise<void>
}

export async function startS3(): Promise<TestS3> {
  const dir = await mkdtemp(join(tmpdir(), 'dbk-s3rver-'))
  const port = await freePort()
  let server: S3rver | undefined
  const start = async () => {
    server = new S3rver({
      address: '127.0.0.1',
      port,
      silent: true,
      directory: dir,
      configureBuckets: [{ name: BUCKET }],
    })
    await server.run()
  }
  const stop = async () => {
    if (!server) return
    // Cut the SDK's keep-alive connections too: "the server went away", not "stopped accepting".
    server.httpServer?.closeAllConnections()
    await server.close().catch(() => undefined)
    server = undefined
  }
  await start()
  const endpoint = `http://127.0.0.1:${port}`
  return {
    port,
    endpoint,
    dir,
    client: testClient(endpoint),
    start,
    stop,
    objectFile: (key) => join(dir, BUCKET, `${key}._S3rver_object`),
    destroy: async () => {
      await stop()
      await rm(dir, { recursive: true, force: true })
    },
  }
}

export function testClient(endpoint: string): S3Client {
  return new S3Client({
    endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: { accessKeyId: ACCESS_KEY_ID, secretAccessKey: SECRET_ACCESS_KEY },
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  })
}

/** The S3Config of the test bucket at `endpoint` under `prefix`, as the configuration reads S3_*. */
export function testS3Config(endpoint: string, prefix: string): S3Config {
  return {
    bucket: BUCKET,
    prefix,
    region: 'us-east-1',
    endpoint,
    forcePathStyle: true,
    accessKeyId: new Secret(ACCESS_KEY_ID),
    secretAccessKey: new Secret(SECRET_ACCESS_KEY),
    sessionToken: undefined,
    storageClass: undefined,
    sse: undefined,
    sseKmsKeyId: undefined,
    retention: undefined,
    id: 'S3',
    objectLock: undefined,
    noDelete: false,
  }
}

/** The CLI's environment for S3 at `endpoint` under `prefix`. */
export function s3Env(endpoint: string, prefix: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    S3_BUCKET: BUCKET,
    S3_ENDPOINT: endpoint,
    S3_PREFIX: prefix,
    AWS_ACCESS_KEY_ID: ACCESS_KEY_ID,
    AWS_SECRET_ACCESS_KEY: SECRET_ACCESS_KEY,
    // The SDK warns on Node 20 about its future Node 22 requirement; not what these tests look at.
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    ...extra,
  }
}

export interface RecordedRequest {
  method: string
  url: string
  headers: IncomingHttpHeaders
}

/** An HTTP proxy in front of the S3 server that records every request's method, URL and headers. */
export async function startRecordingProxy(
  targetPort: number,
): Promise<{ endpoint: string; requests: RecordedRequest[]; stop(): Promise<void> }> {
  const requests: RecordedRequest[] = []
  const server: Server = createServer((req, res) => {
    requests.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers })
    // Headers unchanged (Host included): the SigV4 signature covers them.
    const upstream = request(
      { host: '127.0.0.1', port: targetPort, method: req.method, path: req.url, headers: req.headers },
      (r) => {
        res.writeHead(r.statusCode ?? 502, r.headers)
        r.pipe(res)
      },
    )
    upstream.on('error', () => res.destroy())
    req.pipe(upstream)
  })
  const port = await freePort()
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve))
  return {
    endpoint: `http://127.0.0.1:${port}`,
    requests,
    stop: async () => {
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}

export async function headObject(s3: TestS3, key: string) {
  return s3.client.send(new HeadObjectCommand({ Bucket: BUCKET, Key: key }))
}

export async function getText(s3: TestS3, key: string): Promise<string> {
  const out = await s3.client.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }))
  return out.Body!.transformToString()
}

export async function putObject(s3: TestS3, key: string, body: string | Buffer): Promise<void> {
  await s3.client.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: body }))
}

export async function listKeys(s3: TestS3, prefix = ''): Promise<string[]> {
  const keys: string[] = []
  let token: string | undefined
  do {
    const page = await s3.client.send(
      new ListObjectsV2Command({ Bucket: BUCKET, Prefix: prefix, ContinuationToken: token }),
    )
    keys.push(...(page.Contents ?? []).map((o) => o.Key!))
    token = page.IsTruncated ? page.NextContinuationToken : undefined
  } while (token)
  return keys.sort()
}

/**
 * An SQLite database of about `mb` MB that compresses like a real one would not: rows of text
 * plus 200 random bytes each, so the backup stays large (several multipart parts).
 */
export function makeSqliteOfSize(path: string, mb: number): void {
  const db = new Database(path)
  db.pragma('journal_mode = WAL')
  db.exec('CREATE TABLE IF NOT EXISTS items (id INTEGER PRIMARY KEY, name TEXT, payload TEXT, blob BLOB)')
  const insert = db.prepare('INSERT INTO items (name, payload, blob) VALUES (?, ?, ?)')
  const words = ['order', 'paid', 'shipped', 'customer', 'berlin', 'paris', 'alpha', 'beta']
  db.transaction(() => {
    for (let i = 0, bytes = 0; bytes < mb * 1e6; i++) {
      const payload = `${Array.from({ length: 16 }, (_, k) => words[(i + k * k) % words.length]).join(' ')} ${i}`
      insert.run(`item ${i}`, payload, randomBytes(200))
      bytes += payload.length + 220
    }
  })()
  db.close()
}
