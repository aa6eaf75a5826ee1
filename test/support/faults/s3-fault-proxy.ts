/**
 * The S3 fault proxy of the fault-injection suite (issue 10): an HTTP proxy in front of the real
 * s3rver that answers errors, resets or cuts connections, or forwards slowly, request by request,
 * as the test's rule says. The recording proxy without faults is test/support/s3.ts.
 */
import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { freePort } from '../servers.js'

/** What the proxy does with one request. */
export type ProxyAction =
  | { kind: 'pass' }
  /** Answer with this HTTP status and an S3 error document (the request body is read first). */
  | { kind: 'status'; status: number; code: string }
  /** Reset the connection as soon as the request arrives. */
  | { kind: 'reset' }
  /** Forward, but cut both connections once `afterBytes` of the request body went through. */
  | { kind: 'cut'; afterBytes: number }
  /** Forward slowly: request and response bodies at `bytesPerSecond`, the answer held `delayMs`. */
  | { kind: 'slow'; delayMs: number; bytesPerSecond: number }
  /** Call `then` (stop the server…) and reset the connection. */
  | { kind: 'hook'; then: () => Promise<void> }

export interface ProxiedRequest {
  method: string
  url: string
  /** The object key (path without the bucket), '' for bucket operations. */
  key: string
  query: URLSearchParams
  /** How many requests with this method and URL came before (0 for the first attempt). */
  attempt: number
  action: ProxyAction['kind']
}

export interface FaultProxy {
  endpoint: string
  requests: ProxiedRequest[]
  /** Decides what happens to each request from now on. */
  setRule(rule: (r: Omit<ProxiedRequest, 'action'>) => ProxyAction): void
  stop(): Promise<void>
}

const PASS: ProxyAction = { kind: 'pass' }
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/** Writes `data` to `out` at `bytesPerSecond`, in 16 KiB steps. */
async function trickle(
  chunks: AsyncIterable<Buffer>,
  write: (c: Buffer) => boolean | void,
  bytesPerSecond: number,
): Promise<void> {
  for await (const chunk of chunks) {
    for (let at = 0; at < chunk.length; at += 16384) {
      const piece = chunk.subarray(at, at + 16384)
      write(piece)
      await sleep((piece.length / bytesPerSecond) * 1000)
    }
  }
}

/**
 * An HTTP proxy in front of the S3 server (path style: /bucket/key) that applies a rule to each
 * request: pass it, answer an error, reset or cut the connection, or forward it slowly. Headers
 * go through unchanged (SigV4 signs the Host header).
 */
export async function startFaultProxy(targetPort: number, bucket: string): Promise<FaultProxy> {
  const requests: ProxiedRequest[] = []
  const seen = new Map<string, number>()
  let rule: (r: Omit<ProxiedRequest, 'action'>) => ProxyAction = () => PASS
  const forward = (req: IncomingMessage, res: ServerResponse, action: ProxyAction) => {
    const upstream = request(
      { host: '127.0.0.1', port: targetPort, method: req.method, path: req.url, headers: req.headers },
      (r) => {
        if (action.kind !== 'slow') {
          res.writeHead(r.statusCode ?? 502, r.headers)
          r.pipe(res)
          return
        }
        void (async () => {
          await sleep(action.delayMs)
          res.writeHead(r.statusCode ?? 502, r.headers)
          await trickle(r, (c) => res.write(c), action.bytesPerSecond)
          res.end()
        })().catch(() => res.destroy())
      },
    )
    upstream.on('error', () => res.destroy())
    res.on('close', () => {
      if (!res.writableFinished) upstream.destroy()
    })
    if (action.kind === 'cut') {
      let sent = 0
      req.on('data', (c: Buffer) => {
        if (sent >= action.afterBytes) return
        const piece = c.subarray(0, action.afterBytes - sent)
        sent += piece.length
        upstream.write(piece)
        if (sent >= action.afterBytes) {
          upstream.destroy()
          req.socket.destroy()
        }
      })
      req.on('end', () => upstream.end())
    } else if (action.kind === 'slow') {
      void trickle(req, (c) => upstream.write(c), action.bytesPerSecond).then(
        () => upstream.end(),
        () => upstream.destroy(),
      )
    } else {
      req.pipe(upstream)
    }
  }
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://proxy')
    const path = decodeURIComponent(url.pathname)
    const key = path.startsWith(`/${bucket}/`) ? path.slice(bucket.length + 2) : ''
    const id = `${req.method} ${req.url}`
    const attempt = seen.get(id) ?? 0
    seen.set(id, attempt + 1)
    const base = { method: req.method ?? '', url: req.url ?? '', key, query: url.searchParams, attempt }
    let action: ProxyAction
    try {
      action = rule(base)
    } catch {
      action = PASS
    }
    requests.push({ ...base, action: action.kind })
    switch (action.kind) {
      case 'status': {
        req.resume()
        req.on('end', () => {
          const body = `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${action.code}</Code><Message>injected fault</Message><RequestId>fault-${requests.length}</RequestId></Error>`
          res
            .writeHead(action.status, {
              'content-type': 'application/xml',
              'content-length': Buffer.byteLength(body),
              connection: 'close',
            })
            .end(body)
        })
        return
      }
      case 'reset':
        req.socket.resetAndDestroy()
        return
      case 'hook':
        void action.then().finally(() => req.socket.resetAndDestroy())
        return
      default:
        forward(req, res, action)
    }
  })
  const port = await freePort()
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve))
  return {
    endpoint: `http://127.0.0.1:${port}`,
    requests,
    setRule(next) {
      rule = next
    },
    stop: async () => {
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}
