/**
 * The health and metrics endpoints on node:http: `GET /healthz` (200 healthy / 503 not, with the
 * status JSON) and `GET /metrics` (Prometheus text); every other path goes to `app` (the status
 * page, page/routes.ts). No secrets in any answer: the status holds error messages, which go
 * through scrubSecrets like every other output.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Registry } from 'prom-client'
import type { Logger } from '../runtime/logger.js'
import { scrubOutput } from '../runtime/secrets.js'
import type { Status } from './status.js'

export interface HealthServerOptions {
  /** 0 picks a free port (tests); the daemon does not start the server at all for HEALTH_PORT=0. */
  port: number
  /** Default all interfaces: Prometheus and orchestrators probe from outside the container. */
  host?: string
  getStatus: () => Promise<Status>
  registry: Registry
  /** Called before each scrape, e.g. to catch up with runs other processes wrote to the journal. */
  beforeMetrics?: () => Promise<void>
  /** Every other path (the status page and its API, page/routes.ts); undefined: 404. */
  app?: (req: IncomingMessage, url: URL) => Promise<Reply | undefined>
  logger: Logger
}

/** An answer of `app`: string bodies are scrubbed of secrets like every other answer, unless `scrubbed`. */
export interface Reply {
  status: number
  type: string
  body: string | Buffer
  headers?: Record<string, string>
  /** Built only of texts scrubbed already (the run history's entries): a large answer is not walked again. */
  scrubbed?: boolean
}

export interface HealthServer {
  /** The port actually listened on. */
  readonly port: number
  close(): Promise<void>
}

export async function startHealthServer(opts: HealthServerOptions): Promise<HealthServer> {
  const server = createServer((req, res) => {
    handle(req, res, opts).catch((error: unknown) => {
      opts.logger.error({ err: error, path: req.url }, 'health server: request failed')
      if (!res.headersSent) send(res, 500, 'text/plain; charset=utf-8', 'internal error\n')
      else res.destroy()
    })
  })
  // A probe that never finishes must not pin a socket forever.
  server.requestTimeout = 30_000
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(opts.port, opts.host ?? '0.0.0.0', () => {
      server.off('error', reject)
      resolve()
    })
  })
  const port = (server.address() as AddressInfo).port
  opts.logger.info(
    { port },
    `health server listening on port ${port} (GET /healthz, GET /metrics${opts.app ? ', the status page at /' : ''})`,
  )
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve())
        server.closeAllConnections()
      }),
  }
}

async function handle(req: IncomingMessage, res: ServerResponse, opts: HealthServerOptions): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://localhost')
  const path = url.pathname
  if (path !== '/healthz' && path !== '/metrics') {
    const reply = await opts.app?.(req, url)
    if (reply) {
      sendReply(res, reply, req)
      return
    }
    send(res, 404, 'text/plain; charset=utf-8', 'not found: try GET /healthz or GET /metrics\n')
    return
  }
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.setHeader('allow', 'GET, HEAD')
    send(res, 405, 'text/plain; charset=utf-8', 'method not allowed\n')
    return
  }
  if (path === '/healthz') {
    let status: Status
    try {
      status = await opts.getStatus()
    } catch (error) {
      // Unreadable volume or journal: that is unhealthy, and the body says why.
      opts.logger.error({ err: error }, 'health server: cannot read the status')
      send(
        res,
        503,
        'application/json',
        `${JSON.stringify({ healthy: false, reason: `status unavailable: ${(error as Error).message}` })}\n`,
        req,
      )
      return
    }
    send(res, status.healthy ? 200 : 503, 'application/json', `${JSON.stringify(status)}\n`, req)
    return
  }
  if (opts.beforeMetrics) {
    await opts
      .beforeMetrics()
      .catch((error: unknown) =>
        opts.logger.warn({ err: error }, 'health server: cannot refresh metrics from the journal'),
      )
  }
  send(res, 200, opts.registry.contentType, await opts.registry.metrics(), req)
}

function sendReply(res: ServerResponse, reply: Reply, req: IncomingMessage): void {
  const body =
    typeof reply.body === 'string' ? Buffer.from(reply.scrubbed ? reply.body : scrubOutput(reply.body)) : reply.body
  res.writeHead(reply.status, {
    'content-type': reply.type,
    'content-length': body.length,
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
    ...reply.headers,
  })
  res.end(req.method === 'HEAD' ? undefined : body)
}

function send(res: ServerResponse, code: number, type: string, body: string, req?: IncomingMessage): void {
  const clean = scrubOutput(body)
  res.writeHead(code, { 'content-type': type, 'content-length': Buffer.byteLength(clean), 'cache-control': 'no-store' })
  res.end(req?.method === 'HEAD' ? undefined : clean)
}
