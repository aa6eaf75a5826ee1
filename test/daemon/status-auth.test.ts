/**
 * STATUS_AUTH on the status page: the token (or user:password) protects / and /api/* while
 * /healthz and /metrics stay open; "back up now" runs a real backup under the volume lock with the
 * token and is refused without it; without STATUS_AUTH the page is read-only.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, afterEach, describe, expect, it } from 'vitest'
import { readRuns } from '../../src/catalog/journal.js'
import { acquireLock } from '../../src/catalog/lock.js'
import { parseConfig } from '../../src/config/index.js'
import { startObservability } from '../../src/daemon/observability.js'
import { FAR_AWAY, killDaemons, LOADED_MACHINE_TIMEOUT_MS, startDaemon, until } from '../support/daemon.js'
import { captureLogger } from '../support/logs.js'
import { freePort } from '../support/servers.js'
import { makeSqliteDb } from '../support/sqlite.js'

const TOKEN = 'status-token-0123456789abcdef'
const dirs: string[] = []
async function tempDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'dbk-status-auth-'))
  dirs.push(d)
  return d
}
afterEach(killDaemons)
afterAll(async () => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))))

const bearer = { authorization: `Bearer ${TOKEN}` }
const basic = (user: string, password: string) => ({
  authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`,
})

describe('STATUS_AUTH_FILE with a token, on the daemon', () => {
  it(
    'protects / and /api/*, leaves /healthz and /metrics open, and "back up now" runs under the volume lock',
    async () => {
      const dir = await tempDir()
      const data = await tempDir()
      makeSqliteDb(join(data, 'notes.db'), 50)
      await writeFile(join(data, 'status-auth'), `${TOKEN}\n`)
      const port = await freePort()
      const daemon = startDaemon({
        BACKUP_DIR: dir,
        DB01_TYPE: 'sqlite',
        DB01_PATH: join(data, 'notes.db'),
        SCHEDULE: FAR_AWAY,
        BACKUP_ON_START: 'false',
        HEALTH_PORT: String(port),
        STATUS_AUTH_FILE: join(data, 'status-auth'),
      })
      await daemon.waitForLog((l) => l.msg.startsWith('health server listening'), 'the health server')
      const url = (p: string) => `http://127.0.0.1:${port}${p}`

      for (const path of ['/', '/api/status', '/api/runs']) {
        const refused = await fetch(url(path))
        expect(refused.status, path).toBe(401)
        expect(refused.headers.get('www-authenticate')).toBe(
          path === '/' ? 'Basic realm="dbkeeper status", charset="UTF-8"' : 'Bearer realm="dbkeeper status"',
        )
        expect((await fetch(url(path), { headers: { authorization: 'Bearer wrong-token-0123456789' } })).status).toBe(
          401,
        )
      }
      expect((await fetch(url('/healthz'))).status).toBe(503) // open: no backup yet
      expect((await fetch(url('/metrics'))).status).toBe(200)

      const page = await fetch(url('/'), { headers: bearer })
      expect(page.status).toBe(200)
      expect(await page.text()).toContain('<button type="submit" name="source" value="notes">Back up now</button>')
      // A browser's login prompt: any user, the token as the password.
      expect((await fetch(url('/api/status'), { headers: basic('anyone', TOKEN) })).status).toBe(200)

      const post = (headers: Record<string, string>) =>
        fetch(url('/api/backup?source=notes'), { method: 'POST', headers })
      expect((await post({})).status).toBe(401)
      expect((await post({ authorization: 'Bearer wrong-token-0123456789' })).status).toBe(401)
      expect((await post({ ...bearer, origin: 'https://evil.example' })).status).toBe(403)
      expect((await fetch(url('/api/backup?source=nope'), { method: 'POST', headers: bearer })).status).toBe(404)
      expect((await fetch(url('/api/backup?source=notes'), { headers: bearer })).status).toBe(405)
      expect(await readRuns(dir)).toEqual([])

      // The same lock as any run: while another run holds it, the backup waits.
      const lock = await acquireLock(dir, { command: 'test holds the lock' })
      const started = await post(bearer)
      expect(started.status).toBe(202)
      expect(await started.json()).toEqual({ source: 'notes', message: 'a backup of notes was started' })
      const busy = await post(bearer)
      expect(busy.status).toBe(409)
      expect(await busy.json()).toEqual({ error: 'a run is going already: try again when it has finished' })
      await daemon.waitForLog((l) => l.msg.includes('waiting'), 'the run to wait for the lock')
      expect(await readRuns(dir)).toEqual([])
      await lock.release()

      const runs = await until(
        async () => {
          const body = (await (await fetch(url('/api/runs'), { headers: bearer })).json()) as {
            runs: { trigger: string; outcome: string; source: string }[]
          }
          return body.runs.length > 0 && body.runs
        },
        'the backup started from the page in /api/runs',
        { context: daemon.output },
      )
      expect(runs).toMatchObject([{ trigger: 'manual', outcome: 'ok', source: 'notes' }])
      expect((await fetch(url('/healthz'))).status).toBe(200)
    },
    LOADED_MACHINE_TIMEOUT_MS,
  )
})

describe('without STATUS_AUTH, and with user:password', () => {
  it('is open and read-only without STATUS_AUTH: no button, the POST refused, nothing started', async () => {
    const dir = await tempDir()
    const config = parseConfig({
      BACKUP_DIR: dir,
      DB01_TYPE: 'sqlite',
      DB01_PATH: '/data/notes.db',
      HEALTH_PORT: String(await freePort()),
    })
    const asked: string[] = []
    const obs = await startObservability(config, captureLogger().logger, {
      host: '127.0.0.1',
      backupNow: (source) => (asked.push(source), { started: true }),
    })
    try {
      const url = (p: string) => `http://127.0.0.1:${obs.server!.port}${p}`
      const page = await (await fetch(url('/'))).text()
      expect(page).toContain('<th scope="row" rowspan="1">notes <span')
      expect(page).not.toContain('Back up now')
      const post = await fetch(url('/api/backup?source=notes'), { method: 'POST' })
      expect(post.status).toBe(403)
      expect(await post.json()).toEqual({
        error: 'the status page is read-only: set STATUS_AUTH_FILE to allow "back up now"',
      })
      expect(asked).toEqual([])
    } finally {
      await obs.close()
    }
  })

  it('takes user:password as basic auth only, and a browser form POST is redirected back to the page', async () => {
    const dir = await tempDir()
    const config = parseConfig({
      BACKUP_DIR: dir,
      DB01_TYPE: 'sqlite',
      DB01_PATH: '/data/notes.db',
      HEALTH_PORT: String(await freePort()),
      STATUS_AUTH: 'ops:correct-horse-battery',
    })
    const asked: string[] = []
    const obs = await startObservability(config, captureLogger().logger, {
      host: '127.0.0.1',
      backupNow: (source) => (asked.push(source), { started: true }),
    })
    try {
      const url = (p: string) => `http://127.0.0.1:${obs.server!.port}${p}`
      expect((await fetch(url('/'), { headers: basic('ops', 'correct-horse-battery') })).status).toBe(200)
      expect((await fetch(url('/'), { headers: basic('root', 'correct-horse-battery') })).status).toBe(401)
      expect((await fetch(url('/'), { headers: basic('ops', 'wrong-horse-battery') })).status).toBe(401)
      expect((await fetch(url('/'), { headers: { authorization: 'Bearer ops:correct-horse-battery' } })).status).toBe(
        401,
      )
      const form = await fetch(url('/api/backup?source=notes'), {
        method: 'POST',
        redirect: 'manual',
        headers: {
          ...basic('ops', 'correct-horse-battery'),
          accept: 'text/html',
          origin: `http://127.0.0.1:${obs.server!.port}`,
        },
      })
      expect(form.status).toBe(303)
      expect(form.headers.get('location')).toBe('/?started=notes')
      expect(asked).toEqual(['notes'])
      const after = await (
        await fetch(url('/?started=notes'), { headers: basic('ops', 'correct-horse-battery') })
      ).text()
      expect(after).toContain('A backup of notes was started')
    } finally {
      await obs.close()
    }
  })

  it('refuses a short token and an incomplete user:password, naming what it expects', () => {
    for (const value of ['short', 'ops:short', ':no-user-password']) {
      expect(() =>
        parseConfig({ BACKUP_DIR: '/b', DB01_TYPE: 'sqlite', DB01_PATH: '/d/n.db', STATUS_AUTH: value }),
      ).toThrow(/STATUS_AUTH.*a token of at least 16 characters, or user:password for basic auth/)
    }
  })
})
