/**
 * Shared by the outage, corruption, hostile-input and secret tests of the fault-injection suite
 * (issue 10): a fault-injecting HTTP proxy in front of the real s3rver, a switchable webhook
 * receiver and SMTP endpoint, the proven backups of a volume (to count what a fault cost), the
 * files under a directory, and the evidence every file greps for secrets at its end (outputs,
 * alerts, files on the volume, /proc command lines sampled while the runs were going).
 */
import { createHash } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { readdir, readFile, stat } from 'node:fs/promises'
import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { createServer as createNetServer, type Server as NetServer, type Socket } from 'node:net'
import { join, relative } from 'node:path'
import { gunzipSync } from 'node:zlib'
import { runCli } from '../cli.js'
import { startMailServer, type MailServer, type ReceivedMail } from '../mail.js'
import { freePort } from '../servers.js'

// ---------------------------------------------------------------- hashing and files

export async function sha256File(path: string): Promise<string | undefined> {
  return new Promise((resolve) => {
    const hash = createHash('sha256')
    createReadStream(path).on('data', (c) => hash.update(c)).on('end', () => resolve(hash.digest('hex'))).on('error', () => resolve(undefined))
  })
}

/** Every file (not directory) under `dir`, as paths relative to it, sorted. */
export async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = []
  const walk = async (d: string): Promise<void> => {
    for (const e of await readdir(d, { withFileTypes: true }).catch(() => [])) {
      const p = join(d, e.name)
      if (e.isDirectory()) await walk(p)
      else out.push(relative(dir, p))
    }
  }
  await walk(dir)
  return out.sort()
}

/** Path → "size mtime" of everything under `dir` (directories included): "nothing was touched". */
export async function treeState(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {}
  const walk = async (d: string): Promise<void> => {
    for (const e of await readdir(d, { withFileTypes: true }).catch(() => [])) {
      const p = join(d, e.name)
      const s = await stat(p)
      out[relative(dir, p)] = `${e.isDirectory() ? 'dir' : s.size} ${s.mtimeMs} ${s.mode.toString(8)}`
      if (e.isDirectory()) await walk(p)
    }
  }
  await walk(dir)
  return out
}

// ---------------------------------------------------------------- proven backups

export interface ListedBackup {
  id: string
  source: string
  database: string
  kind: string
  time: string
  path: string
  size: number
  sha256: string
  location: 'local' | 's3' | 'both'
  problem?: string
}

export async function listBackupsJson(env: Record<string, string>): Promise<ListedBackup[]> {
  const r = await runCli(['list', '--json'], env)
  if (r.exitCode !== 0) throw new Error(`dbkeeper list failed (exit ${r.exitCode}):\n${r.all.slice(-2000)}`)
  return JSON.parse(r.stdout) as ListedBackup[]
}

export interface ProvenBackup { key: string; sha256: string; path: string; location: ListedBackup['location'] }

/**
 * The proven backups as `list --json` shows them (or `listed`, its output), no problem, a local copy, each with the
 * sha256 of its data file as read from the disk right now: a listed backup whose bytes are not
 * those of its manifest is not counted.
 */
export async function provenBackups(env: Record<string, string>, listed?: readonly ListedBackup[]): Promise<Map<string, ProvenBackup>> {
  const out = new Map<string, ProvenBackup>()
  for (const b of listed ?? await listBackupsJson(env)) {
    if (b.problem !== undefined || b.location === 's3') continue
    if ((await sha256File(b.path)) !== b.sha256) continue
    out.set(`${b.source}/${b.id}`, { key: `${b.source}/${b.id}`, sha256: b.sha256, path: b.path, location: b.location })
  }
  return out
}

/**
 * What a fault cost: every backup proven before (a `provenBackups` map) must still be proven,
 * with the same sha256, and one that was off-site too must still be. Returns the lost ones.
 */
export function lostBackups(before: Map<string, ProvenBackup>, after: Map<string, ProvenBackup>, except: ReadonlySet<string> = new Set()): string[] {
  const lost: string[] = []
  for (const [key, b] of before) {
    if (except.has(key)) continue
    const a = after.get(key)
    if (!a) lost.push(`${key}: no longer a proven backup`)
    else if (a.sha256 !== b.sha256) lost.push(`${key}: sha256 changed`)
    else if (b.location === 'both' && a.location !== 'both') lost.push(`${key}: its off-site copy is gone`)
  }
  return lost
}

// ---------------------------------------------------------------- the fault-injecting S3 proxy

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
async function trickle(chunks: AsyncIterable<Buffer>, write: (c: Buffer) => boolean | void, bytesPerSecond: number): Promise<void> {
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
    const upstream = request({ host: '127.0.0.1', port: targetPort, method: req.method, path: req.url, headers: req.headers }, (r) => {
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
    })
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
      void trickle(req, (c) => upstream.write(c), action.bytesPerSecond).then(() => upstream.end(), () => upstream.destroy())
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
          res.writeHead(action.status, { 'content-type': 'application/xml', 'content-length': Buffer.byteLength(body), connection: 'close' }).end(body)
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

// ---------------------------------------------------------------- alert receivers

export interface Hook {
  port: number
  url: string
  /** JSON bodies received and answered 200. */
  bodies: Record<string, unknown>[]
  /** Every body received, whatever the answer. */
  raw: string[]
  /**
   * up: answer 200; down: nothing listens (connection refused); error: answer 503; stall: read
   * the request and never answer.
   */
  set(mode: 'up' | 'down' | 'error' | 'stall'): Promise<void>
  close(): Promise<void>
}

/** A webhook receiver on a fixed port whose behaviour a test switches; `path` is its secret part. */
export async function startHook(path: string): Promise<Hook> {
  const port = await freePort()
  let mode: 'up' | 'down' | 'error' | 'stall' = 'down'
  let server: Server | undefined
  const hook: Hook = {
    port, url: `http://127.0.0.1:${port}/${path}`, bodies: [], raw: [],
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
            if (mode === 'stall') return
            if (mode === 'error') return void res.writeHead(503).end('maintenance')
            if (req.url === `/${path}`) hook.bodies.push(JSON.parse(body) as Record<string, unknown>)
            res.writeHead(req.url === `/${path}` ? 200 : 404).end('ok')
          })
        })
        await listenOn(s, port)
        server = s
      }
    },
    close: () => hook.set('down'),
  }
  return hook
}

async function listenOn(server: Server | NetServer, port: number): Promise<void> {
  // The port was free a moment ago and may be in TIME_WAIT from our own last listener: retry.
  for (let i = 0; ; i++) {
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject)
        server.listen(port, '127.0.0.1', () => {
          server.off('error', reject)
          resolve()
        })
      })
      return
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EADDRINUSE' || i >= 50) throw error
      await sleep(100)
    }
  }
}

export interface SmtpEndpoint {
  port: number
  /** Every message accepted while up (the real smtp-server of test/support/mail.ts). */
  messages: ReceivedMail[]
  /**
   * up: a real SMTP server with AUTH; down: nothing listens (refused); busy: greets with
   * "421 service not available" and hangs up; stall: accepts and never says a word.
   */
  set(mode: 'up' | 'down' | 'busy' | 'stall'): Promise<void>
  close(): Promise<void>
}

/** An SMTP endpoint on a fixed port, switched between a real server and its failures. */
export async function startSmtp(user: string, password: string): Promise<SmtpEndpoint> {
  const port = await freePort()
  let mode: 'up' | 'down' | 'busy' | 'stall' = 'down'
  let real: MailServer | undefined
  let raw: NetServer | undefined
  const sockets = new Set<Socket>()
  const messages: ReceivedMail[] = []
  const stopAll = async () => {
    if (real) {
      const s = real
      real = undefined
      messages.push(...s.messages)
      await s.close()
    }
    if (raw) {
      const s = raw
      raw = undefined
      for (const socket of sockets) socket.destroy()
      await new Promise<void>((resolve) => s.close(() => resolve()))
    }
  }
  const endpoint: SmtpEndpoint = {
    port,
    get messages() {
      return [...messages, ...(real?.messages ?? [])]
    },
    async set(next) {
      if (next === mode) return
      await stopAll()
      mode = next
      if (next === 'up') {
        for (let i = 0; ; i++) {
          try {
            real = await startMailServer({ port, user, password })
            break
          } catch (error) {
            if ((error as NodeJS.ErrnoException).code !== 'EADDRINUSE' || i >= 50) throw error
            await sleep(100)
          }
        }
      } else if (next === 'busy' || next === 'stall') {
        raw = createNetServer((socket) => {
          sockets.add(socket)
          socket.on('close', () => sockets.delete(socket))
          socket.on('error', () => undefined)
          if (next === 'busy') socket.end('421 4.3.2 Service not available, closing transmission channel\r\n')
        })
        await listenOn(raw, port)
      }
    },
    close: () => stopAll(),
  }
  return endpoint
}

// ---------------------------------------------------------------- secrets: evidence and /proc samples

/**
 * Everything a file's runs produced that an operator or another user could see: CLI output,
 * daemon logs, alerts received, files on the volume and in the bucket, and the command lines of
 * every process on the machine sampled while the runs were going (what `ps` shows), plus the
 * environment of the tools dbkeeper starts (dump tools, clients: they get a minimal one).
 */
export class Evidence {
  private readonly texts: { what: string; text: string }[] = []
  private readonly cmdlines = new Set<string>()
  private readonly toolEnvs = new Map<string, string>()
  /** Command lines of the processes this test process started, and their descendants. */
  private readonly ours = new Set<string>()
  private timer: NodeJS.Timeout | undefined
  private intervalMs: number | undefined
  private busy = false
  samples = 0

  add(what: string, text: string | Buffer): void {
    this.texts.push({ what, text: text.toString() })
  }

  /**
   * Every file under `dir` (but `skip`): manifests, checksums, the journal, the content of .gz
   * data files — of those up to `maxBytes` (bulk test data holds no secret; its name is still read).
   */
  async addFiles(dir: string, skip?: RegExp, maxBytes = 4 << 20): Promise<void> {
    for (const f of await filesUnder(dir)) {
      if (skip?.test(f)) continue
      this.add(`name ${f}`, f)
      if (((await stat(join(dir, f)).catch(() => undefined))?.size ?? Infinity) > maxBytes) continue
      const data = await readFile(join(dir, f)).catch(() => undefined)
      if (!data) continue
      this.add(`file ${f}`, f.endsWith('.gz') ? safeGunzip(data) : data)
    }
  }

  /** Samples /proc every `intervalMs` until `stopSampling`. */
  startSampling(intervalMs = 100): void {
    if (this.timer) return
    this.intervalMs = intervalMs
    this.timer = setInterval(() => {
      if (this.busy) return
      this.busy = true
      void this.sample().finally(() => (this.busy = false))
    }, intervalMs)
    this.timer.unref()
  }

  stopSampling(): void {
    clearInterval(this.timer)
    this.timer = undefined
  }

  /**
   * Samples every `intervalMs` while `run` runs, then at the usual pace again (if sampling was on):
   * for tools that live only tens of milliseconds.
   */
  async sampleDensely<T>(run: () => Promise<T>, intervalMs = 10): Promise<T> {
    const usual = this.timer ? this.intervalMs : undefined
    this.stopSampling()
    this.startSampling(intervalMs)
    try {
      return await run()
    } finally {
      this.stopSampling()
      if (usual !== undefined) this.startSampling(usual)
    }
  }

  async sample(): Promise<void> {
    const pids = (await readdir('/proc').catch(() => [] as string[])).filter((n) => /^\d+$/.test(n))
    const parent = new Map<string, string>()
    const cmdOf = new Map<string, string>()
    const tools: [string, string][] = []
    await Promise.all(pids.map(async (pid) => {
      const cmd = await readFile(`/proc/${pid}/cmdline`).then((b) => b.toString('utf8').replace(/\0/g, ' ').trim(), () => '')
      if (!cmd) return
      this.cmdlines.add(cmd)
      cmdOf.set(pid, cmd)
      const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '')
      parent.set(pid, stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1] ?? '')
      if (/^(\S*\/)?(mysqldump|mariadb-dump|mariadb|mysql|pg_dump|pg_dumpall|pg_restore|psql|zstd|gzip|sqlite3)\b/.test(cmd) && !this.toolEnvs.has(cmd)) tools.push([pid, cmd])
    }))
    // The environment of the tools our own runs started (other tests' scripts have theirs).
    const ours = (pid: string) => {
      for (let p = parent.get(pid), n = 0; p && n < 20; p = parent.get(p), n++) if (p === String(process.pid)) return true
      return false
    }
    for (const [pid, cmd] of parent.size > 0 ? [...cmdOf] : []) if (ours(pid)) this.ours.add(cmd)
    for (const [pid, cmd] of tools) {
      if (!ours(pid)) continue
      const env = await readFile(`/proc/${pid}/environ`).then((b) => b.toString('utf8').replace(/\0/g, '\n'), () => '')
      if (env) this.toolEnvs.set(cmd, env)
    }
    this.samples += 1
  }

  /** How many tools started by our runs had their environment read. */
  get toolEnvCount(): number {
    return this.toolEnvs.size
  }

  get cmdlineCount(): number {
    return this.cmdlines.size
  }

  /** Command lines of our own runs and everything they started (to look for shells). */
  ourCmdlines(): string[] {
    return [...this.ours]
  }

  /** Command lines seen that match `pattern` (to prove the sampler saw the tools run). */
  cmdlinesMatching(pattern: RegExp): string[] {
    return [...this.cmdlines].filter((c) => pattern.test(c))
  }

  /** Where each secret appears: "what: …context…". Empty when none leaked. */
  leaks(secrets: readonly string[]): string[] {
    const out: string[] = []
    const all = [
      ...this.texts,
      ...[...this.cmdlines].map((c) => ({ what: 'a process command line', text: c })),
      ...[...this.toolEnvs].map(([cmd, env]) => ({ what: `the environment of ${cmd.slice(0, 80)}`, text: env })),
    ]
    for (const secret of secrets) {
      if (secret.length < 6) throw new Error(`a test secret must be distinctive: ${JSON.stringify(secret)}`)
      for (const { what, text } of all) {
        const at = text.indexOf(secret)
        if (at >= 0) out.push(`${JSON.stringify(secret)} in ${what}: …${text.slice(Math.max(0, at - 60), at + secret.length + 20)}…`)
      }
    }
    return out
  }

  get size(): number {
    return this.texts.length
  }
}

function safeGunzip(data: Buffer): Buffer {
  try {
    return gunzipSync(data)
  } catch {
    return data
  }
}
