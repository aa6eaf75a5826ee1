/**
 * What s3rver lacks and a vault relies on, in front of it, behaving as AWS S3 does (and only as far
 * as the tests need): Object Lock (a put with a retention must carry a checksum header — Content-MD5
 * or x-amz-checksum-* — or is refused 400 InvalidRequest; DELETE of an object whose retain-until
 * date lies ahead is refused 403 AccessDenied; HEAD shows mode and date), credentials without
 * delete rights (every DELETE 403 AccessDenied), archive tiers (an object put with storage class
 * GLACIER or DEEP_ARCHIVE answers GET with 403 InvalidObjectState until a RestoreObject was asked
 * and completed: 202 for the request, 409 RestoreAlreadyInProgress for a second one, HEAD's
 * x-amz-restore meanwhile), and a bucket that says it has Object Lock and versioning on.
 * docs/OPERATIONS.md ("Tested how") says which behaviour of the vault is tested through this proxy.
 */
import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { freePort } from '../servers.js'

export interface VaultRequest {
  method: string
  key: string
  query: string
  headers: IncomingMessage['headers']
  status?: number
}

export interface VaultProxy {
  endpoint: string
  requests: VaultRequest[]
  /** Every DELETE refused (an append-only key). */
  denyDeletes: boolean
  /** The lock of each key, as stored. */
  locks: Map<string, { mode: string; until: Date }>
  /** Storage class of each archived key. */
  archived: Map<string, string>
  /** Restores asked and not completed yet. */
  restoring: Set<string>
  /** Completes every restore asked so far: the objects become readable. */
  completeRestores(): void
  stop(): Promise<void>
}

const ARCHIVE = new Set(['GLACIER', 'DEEP_ARCHIVE'])

function s3Error(res: ServerResponse, status: number, code: string, message: string): void {
  const body = `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${message}</Message><RequestId>vault</RequestId></Error>`
  res.writeHead(status, { 'content-type': 'application/xml', 'content-length': Buffer.byteLength(body) }).end(body)
}

function xml(res: ServerResponse, body: string): void {
  res.writeHead(200, { 'content-type': 'application/xml', 'content-length': Buffer.byteLength(body) }).end(body)
}

const hasChecksum = (h: IncomingMessage['headers']) =>
  h['content-md5'] !== undefined || Object.keys(h).some((k) => k.startsWith('x-amz-checksum-'))

export async function startVaultProxy(targetPort: number, bucket: string): Promise<VaultProxy> {
  const restored = new Set<string>()
  const proxy: VaultProxy = {
    endpoint: '',
    requests: [],
    denyDeletes: false,
    locks: new Map(),
    archived: new Map(),
    restoring: new Set(),
    completeRestores() {
      for (const k of proxy.restoring) restored.add(k)
      proxy.restoring.clear()
    },
    stop: async () => undefined,
  }
  /** Keys of multipart uploads created with a lock: each part must carry a checksum too. */
  const lockedUploads = new Set<string>()

  const forward = (req: IncomingMessage, res: ServerResponse, extra: Record<string, string>, onOk?: () => void) => {
    const upstream = request(
      { host: '127.0.0.1', port: targetPort, method: req.method, path: req.url, headers: req.headers },
      (r) => {
        const status = r.statusCode ?? 502
        if (status < 300) onOk?.()
        res.writeHead(status, { ...r.headers, ...extra })
        r.pipe(res)
      },
    )
    upstream.on('error', () => res.destroy())
    req.pipe(upstream)
  }

  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://vault')
    const path = decodeURIComponent(url.pathname)
    const key = path.startsWith(`/${bucket}/`) ? path.slice(bucket.length + 2) : ''
    const q = url.searchParams
    const h = req.headers
    const seen: VaultRequest = { method: req.method ?? '', key, query: url.search, headers: h }
    proxy.requests.push(seen)
    const refuse = (status: number, code: string, message: string) => {
      seen.status = status
      req.resume()
      req.on('end', () => s3Error(res, status, code, message))
    }
    const method = req.method ?? ''

    if (key === '' && method === 'GET' && q.has('object-lock'))
      return xml(
        res,
        '<ObjectLockConfiguration><ObjectLockEnabled>Enabled</ObjectLockEnabled></ObjectLockConfiguration>',
      )
    if (key === '' && method === 'GET' && q.has('versioning'))
      return xml(res, '<VersioningConfiguration><Status>Enabled</Status></VersioningConfiguration>')

    if (method === 'DELETE' && key !== '' && !q.has('uploadId')) {
      if (proxy.denyDeletes) return refuse(403, 'AccessDenied', 'Access Denied')
      const lock = proxy.locks.get(key)
      if (lock && lock.until.getTime() > Date.now())
        return refuse(403, 'AccessDenied', 'Access Denied because object protected by object lock.')
      return forward(req, res, {}, () => {
        proxy.locks.delete(key)
        proxy.archived.delete(key)
      })
    }

    const lockMode = h['x-amz-object-lock-mode'] as string | undefined
    const lockUntil = h['x-amz-object-lock-retain-until-date'] as string | undefined
    const storageClass = h['x-amz-storage-class'] as string | undefined
    const isPart = q.has('partNumber') && q.has('uploadId')
    const creates = (method === 'PUT' && !isPart) || (method === 'POST' && q.has('uploads'))
    if (creates && key !== '') {
      if (lockMode && !hasChecksum(h) && method === 'PUT')
        return refuse(
          400,
          'InvalidRequest',
          'Content-MD5 OR x-amz-checksum- HTTP header is required for Put Object requests with Object Lock parameters',
        )
      if (lockMode && method === 'POST') lockedUploads.add(key)
      return forward(req, res, {}, () => {
        if (lockMode && lockUntil) proxy.locks.set(key, { mode: lockMode, until: new Date(lockUntil) })
        if (storageClass && ARCHIVE.has(storageClass)) proxy.archived.set(key, storageClass)
        else proxy.archived.delete(key)
        restored.delete(key)
      })
    }
    if (isPart && method === 'PUT' && lockedUploads.has(key) && !hasChecksum(h))
      return refuse(
        400,
        'InvalidRequest',
        'Content-MD5 OR x-amz-checksum- HTTP header is required for Put Object requests with Object Lock parameters',
      )

    const tier = proxy.archived.get(key)
    if (method === 'POST' && q.has('restore')) {
      if (!tier) return refuse(403, 'InvalidObjectState', 'Restore is not allowed for the object storage class')
      req.resume()
      if (restored.has(key)) return req.on('end', () => res.writeHead(200).end())
      if (proxy.restoring.has(key))
        return refuse(409, 'RestoreAlreadyInProgress', 'Object restore is already in progress')
      proxy.restoring.add(key)
      seen.status = 202
      return req.on('end', () => res.writeHead(202).end())
    }
    if (method === 'GET' && key !== '' && tier && !restored.has(key))
      return refuse(403, 'InvalidObjectState', 'The operation is not valid for the object storage class')

    const extra: Record<string, string> = {}
    if (method === 'HEAD' && key !== '') {
      const lock = proxy.locks.get(key)
      if (lock) {
        extra['x-amz-object-lock-mode'] = lock.mode
        extra['x-amz-object-lock-retain-until-date'] = lock.until.toISOString()
      }
      if (tier) extra['x-amz-storage-class'] = tier
      if (proxy.restoring.has(key)) extra['x-amz-restore'] = 'ongoing-request="true"'
      else if (restored.has(key))
        extra['x-amz-restore'] =
          `ongoing-request="false", expiry-date="${new Date(Date.now() + 7 * 86_400_000).toUTCString()}"`
    }
    forward(req, res, extra)
  })
  const port = await freePort()
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve))
  proxy.endpoint = `http://127.0.0.1:${port}`
  proxy.stop = async () => {
    server.closeAllConnections()
    await new Promise<void>((resolve) => server.close(() => resolve()))
  }
  return proxy
}
