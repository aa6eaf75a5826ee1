/**
 * PING_URL against a real HTTP server standing in for healthchecks.io: `/start` once the run holds
 * the lock, the URL itself on success, `/fail` with the cause (secrets masked) on failure — from
 * `dbkeeper backup` and from the daemon.
 */
import { createServer, type Server } from 'node:http'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { failureText, pingUrl } from '../../src/notify/ping.js'
import { Secret } from '../../src/runtime/secrets.js'
import { fakeRun } from '../support/backups.js'
import { runCli } from '../support/cli.js'
import { FAR_AWAY, killDaemons, LOADED_MACHINE_TIMEOUT_MS, startDaemon, until } from '../support/daemon.js'
import { freePort, listenOn } from '../support/servers.js'
import { makeSqliteDb } from '../support/sqlite.js'

const CHECK = 'c0ffee00-1234-4cde-9abc-secretcheck01'
let server: Server
let port: number
let pings: { method: string; path: string; body: string }[] = []
let dir: string

beforeAll(async () => {
  server = createServer((req, res) => {
    let body = ''
    req.on('data', (c: Buffer) => (body += c.toString()))
    req.on('end', () => {
      pings.push({ method: req.method ?? '', path: req.url ?? '', body })
      res.writeHead(200).end('OK')
    })
  })
  port = await freePort()
  await listenOn(server, port)
  dir = await mkdtemp(join(tmpdir(), 'dbk-ping-'))
  makeSqliteDb(join(dir, 'notes.db'), 20)
})
afterEach(async () => {
  await killDaemons()
  pings = []
})
afterAll(async () => {
  await new Promise((r) => server.close(r))
  await rm(dir, { recursive: true, force: true })
})

const env = (backupDir: string, dbPath: string): Record<string, string> => ({
  BACKUP_DIR: backupDir,
  DB01_TYPE: 'sqlite',
  DB01_PATH: dbPath,
  PING_URL: `http://127.0.0.1:${port}/${CHECK}`,
})

describe('PING_URL', () => {
  it('builds healthchecks.io URLs: /start and /fail after the check, the URL itself on success', () => {
    expect(pingUrl('https://hc-ping.com/abc', 'start')).toBe('https://hc-ping.com/abc/start')
    expect(pingUrl('https://hc-ping.com/abc/', 'fail')).toBe('https://hc-ping.com/abc/fail')
    expect(pingUrl('https://hc-ping.com/abc?rid=1', 'fail')).toBe('https://hc-ping.com/abc/fail?rid=1')
    expect(pingUrl('https://hc-ping.com/abc', 'success')).toBe('https://hc-ping.com/abc')
  })

  it('puts every failed database with its cause and next step in the /fail body, secrets masked', () => {
    const secret = new Secret('ping-test-password-42')
    const run = fakeRun(new Date(), [
      {
        source: 'shop',
        database: 'orders',
        ok: false,
        error: { code: 'AUTH', message: `denied for ${secret.reveal()}`, hint: 'check DB01_PASS' },
      },
      { source: 'shop', database: 'users' },
    ])
    const text = failureText(run)
    expect(text).toContain('shop/orders: AUTH denied for *** — check DB01_PASS')
    expect(text).not.toContain('shop/users')
    expect(text).not.toContain(secret.reveal())
  })

  it('pings /start then the URL for a proven `dbkeeper backup`, /start then /fail with the cause for a failed one', async () => {
    const ok = await runCli(['backup'], env(join(dir, 'b1'), join(dir, 'notes.db')))
    expect(ok.exitCode, ok.all).toBe(0)
    expect(pings.map((p) => `${p.method} ${p.path}`)).toEqual([`POST /${CHECK}/start`, `POST /${CHECK}`])
    pings = []
    const failed = await runCli(['backup'], env(join(dir, 'b2'), join(dir, 'missing.db')))
    expect(failed.exitCode, failed.all).toBe(1)
    expect(pings.map((p) => `${p.method} ${p.path}`)).toEqual([`POST /${CHECK}/start`, `POST /${CHECK}/fail`])
    expect(pings[1]!.body).toMatch(/^dbkeeper run .* failed:\nmissing\/missing: NOT_FOUND /)
    // The check's id is the URL's secret: never in the output.
    expect(failed.all).not.toContain(CHECK)
  })

  it(
    'pings from the daemon around its runs',
    async () => {
      startDaemon({ ...env(join(dir, 'b3'), join(dir, 'notes.db')), SCHEDULE: FAR_AWAY, HEALTH_PORT: '0' })
      await until(() => pings.length >= 2, 'the start and success pings of the start run')
      expect(pings.map((p) => p.path)).toEqual([`/${CHECK}/start`, `/${CHECK}`])
    },
    LOADED_MACHINE_TIMEOUT_MS,
  )
})
