/**
 * A webhook receiver for the alert tests (daemon and fault-injection suites): a real HTTP server
 * on a fixed port that a test switches between answering, failing, stalling and not listening.
 */
import { createServer, type Server } from 'node:http'
import { freePort, listenOn } from './servers.js'

/**
 * up: answer 200; down: nothing listens (connection refused); error: answer 503; stall: read the
 * request and never answer.
 */
export type HookMode = 'up' | 'down' | 'error' | 'stall'

export interface Hook {
  port: number
  url: string
  /** JSON bodies POSTed to `url` and answered 200. */
  bodies: Record<string, unknown>[]
  /** Every body received, whatever the answer. */
  raw: string[]
  /** The method of every request received (a `check` must send a HEAD, never a POST). */
  methods: string[]
  set(mode: HookMode): Promise<void>
  close(): Promise<void>
}

/** A webhook receiver on a fixed port, in `initial` mode, whose behaviour a test switches; `path` is its secret part. */
export async function startHook(path: string, initial: HookMode = 'down'): Promise<Hook> {
  const port = await freePort()
  let mode: HookMode = 'down'
  let server: Server | undefined
  const hook: Hook = {
    port,
    url: `http://127.0.0.1:${port}/${path}`,
    bodies: [],
    raw: [],
    methods: [],
    async set(next) {
      // Requests left hanging by a stall are cut when the mode changes (the client sees a reset).
      if (mode === 'stall' && next !== 'stall') server?.closeAllConnections()
      mode = next
      if (next === 'down' && server) {
        const s = server
        server = undefined
        s.closeAllConnections()
        await new Promise<void>((resolve) => s.close(() => resolve()))
      } else if (next !== 'down' && !server) {
        const s = createServer((req, res) => {
          let body = ''
          req.on('data', (c: Buffer) => (body += c.toString()))
          req.on('end', () => {
            hook.raw.push(body)
            hook.methods.push(req.method ?? '')
            if (mode === 'stall') return
            if (mode === 'error') return void res.writeHead(503).end('maintenance')
            // Like most real receivers: the path takes a POST; any other method there is refused.
            if (req.url === `/${path}` && req.method !== 'POST') return void res.writeHead(405).end()
            const ours = req.url === `/${path}`
            if (ours) hook.bodies.push(JSON.parse(body) as Record<string, unknown>)
            res.writeHead(ours ? 200 : 404).end('ok')
          })
        })
        await listenOn(s, port)
        server = s
      }
    },
    close: () => hook.set('down'),
  }
  await hook.set(initial)
  return hook
}
