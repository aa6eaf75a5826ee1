/**
 * Alerts against real receivers: an SMTP server (smtp-server, with AUTH) and a node:http webhook
 * receiver, both on free ports. The configuration comes from parseConfig, as in production.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { parseConfig } from '../../src/config/index.js'
import { notifyRun, type AlertFacts } from '../../src/notify/index.js'
import { fakeRun, writeFakeBackup } from '../support/backups.js'
import { captureLogger } from '../support/logs.js'
import { startMailServer, type MailServer } from '../support/mail.js'
import { freePort } from '../support/servers.js'

const SMTP_USER = 'alerts'
const SMTP_PASS = 'sm7p "pa$$ #word'
const DB_PASS = 'db-S3cret-$ #"x'
const HOOK_TOKEN = 'T0001/B0002/hook-token-9f8e7d'
const NOW = new Date()

let dir: string
let mail: MailServer
let hook: { server: Server; port: number; bodies: Record<string, unknown>[]; status: number }

function env(extra: Record<string, string> = {}): Record<string, string> {
  return {
    BACKUP_DIR: dir,
    DB01_TYPE: 'mariadb',
    DB01_HOST: 'db',
    DB01_NAME: 'shop,crm',
    DB01_LABEL: 'app',
    DB01_PASS: DB_PASS,
    DB02_TYPE: 'sqlite',
    DB02_PATH: '/data/notes.db',
    SMTP_HOST: '127.0.0.1',
    SMTP_PORT: String(mail.port),
    SMTP_SECURE: 'false',
    SMTP_USER,
    SMTP_PASS,
    MAIL_FROM: 'backup@example.com',
    MAIL_TO: 'ops@example.com, dba@example.com',
    ...extra,
  }
}

/** A failed run whose error message carries the database password, as a careless tool might print it. */
function failedRun() {
  return fakeRun(NOW, [
    {
      source: 'app',
      database: 'shop',
      ok: false,
      error: {
        code: 'AUTH',
        message: `mysqldump exited 2: Access denied for user 'backup'@'10.0.0.5' (using password: ${DB_PASS})`,
        hint: 'check DB01_USER / DB01_PASS',
      },
    },
    { source: 'app', database: 'crm', ok: true, id: 'crm_20261122T030000Z', size: 52_345 },
    { source: 'notes', database: 'notes', ok: true, id: 'notes_20261122T030001Z', size: 8_192 },
  ])
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve) => {
    let body = ''
    req.on('data', (c: Buffer) => (body += c.toString()))
    req.on('end', () => resolve(body))
  })
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'dbk-notify-'))
  await writeFakeBackup(dir, 'app', 'shop', new Date(NOW.getTime() - (14 * 60 + 3) * 60_000))
  mail = await startMailServer({ user: SMTP_USER, password: SMTP_PASS })
  const state = { bodies: [] as Record<string, unknown>[], status: 200 }
  const server = createServer((req, res) => {
    void readBody(req).then((body) => {
      if (req.url === `/${HOOK_TOKEN}`) state.bodies.push(JSON.parse(body) as Record<string, unknown>)
      res.writeHead(req.url === `/${HOOK_TOKEN}` ? state.status : 404).end('ok')
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const address = server.address()
  hook = Object.assign(state, { server, port: typeof address === 'object' && address ? address.port : 0 })
})

afterEach(() => {
  mail.messages.length = 0
  hook.bodies.length = 0
  hook.status = 200
})

afterAll(async () => {
  await mail.close()
  await new Promise((resolve) => hook.server.close(resolve))
  await rm(dir, { recursive: true, force: true })
})

describe('email alerts', () => {
  it('sends exactly one email per failed run, with the cause, the last good backup and no secret', async () => {
    const config = parseConfig(env())
    const { logger, text: logText } = captureLogger()
    const result = await notifyRun(failedRun(), config, logger, NOW)

    expect(result.failed).toEqual([])
    expect(mail.messages).toHaveLength(1)
    const m = mail.messages[0]!
    expect(m.to.sort()).toEqual(['dba@example.com', 'ops@example.com'])
    expect(m.subject).toBe('[dbkeeper] backup FAILED on backup-host: app')
    expect(m.text).toContain('FAILED  app/shop')
    expect(m.text).toContain("AUTH: mysqldump exited 2: Access denied for user 'backup'@'10.0.0.5'")
    expect(m.text).toContain('hint:  check DB01_USER / DB01_PASS')
    expect(m.text).toMatch(/last good backup: 14h 3m old \(shop_\d{8}T\d{6}Z/)
    expect(m.text).toContain('check DB01_USER and DB01_PASS (or DB01_PASS_FILE)')
    expect(m.text).toContain('OK      app/crm  crm_20261122T030000Z  (51.1 KiB)')
    for (const secret of [DB_PASS, SMTP_PASS]) {
      expect(m.raw).not.toContain(secret)
      expect(m.text).not.toContain(secret)
      expect(logText()).not.toContain(secret)
    }
    expect(m.text).toContain('(using password: ***)')
    if (process.env.CAPTURE_ALERT_TO)
      await writeFile(`${process.env.CAPTURE_ALERT_TO}.eml`, `${m.headers.replace(/\r\n/g, '\n')}\n\n${m.text}`)
  })

  it('sends nothing for a successful run with NOTIFY_ON=failure, and one with NOTIFY_ON=always', async () => {
    const ok = fakeRun(NOW, [{ source: 'app', database: 'shop', ok: true, id: 'shop_x', size: 10 }])
    const quiet = await notifyRun(ok, parseConfig(env()), captureLogger().logger, NOW)
    expect(quiet.wanted).toBe(false)
    expect(mail.messages).toHaveLength(0)

    await notifyRun(ok, parseConfig(env({ NOTIFY_ON: 'always' })), captureLogger().logger, NOW)
    expect(mail.messages).toHaveLength(1)
    expect(mail.messages[0]!.subject).toBe('[dbkeeper] backup OK on backup-host: 1 database backed up')
  })

  it('logs a closed SMTP port with its cause, does not throw, and sends the next alert once the server is back', async () => {
    const port = await freePort()
    const config = parseConfig(env({ SMTP_PORT: String(port) }))
    const { logger, lines } = captureLogger()

    const down = await notifyRun(failedRun(), config, logger, NOW)
    expect(down.sent).toEqual([])
    expect(down.failed).toHaveLength(1)
    const logged = lines().find((l) => String(l.msg).startsWith('alert NOT sent'))
    expect(logged?.level).toBe(50)
    expect(String(logged?.msg)).toContain(`email to ops@example.com, dba@example.com via 127.0.0.1:${port}`)
    expect(String(logged?.msg)).toContain('ECONNREFUSED')
    expect(JSON.stringify(lines())).not.toContain(SMTP_PASS)

    const back = await startMailServer({ port, user: SMTP_USER, password: SMTP_PASS })
    try {
      const up = await notifyRun(failedRun(), config, logger, NOW)
      expect(up.failed).toEqual([])
      expect(back.messages).toHaveLength(1)
    } finally {
      await back.close()
    }
  })

  it('logs refused SMTP credentials without printing them', async () => {
    const config = parseConfig(env({ SMTP_PASS: 'wrong-pass-123' }))
    const { logger, text } = captureLogger()
    const r = await notifyRun(failedRun(), config, logger, NOW)
    expect(r.failed[0]?.error).toMatch(/Invalid username or password/)
    expect(text()).not.toContain('wrong-pass-123')
    expect(mail.messages).toHaveLength(0)
  })
})

describe('webhook alerts', () => {
  const url = () => `http://127.0.0.1:${hook.port}/${HOOK_TOKEN}`

  it('posts the same facts as JSON with a Slack-compatible text field, next to the email', async () => {
    const config = parseConfig(env({ WEBHOOK_URL: url() }))
    const r = await notifyRun(failedRun(), config, captureLogger().logger, NOW)
    expect(r.sent).toHaveLength(2)
    expect(mail.messages).toHaveLength(1)
    expect(hook.bodies).toHaveLength(1)
    const body = hook.bodies[0] as unknown as AlertFacts & { text: string; subject: string }
    expect(body.text).toContain('backup FAILED on backup-host: app')
    expect(body.text).toContain('FAILED  app/shop')
    expect(body).toMatchObject({
      host: 'backup-host',
      ok: false,
      trigger: 'schedule',
      subject: '[dbkeeper] backup FAILED on backup-host: app',
    })
    expect(body.failures).toHaveLength(1)
    expect(body.failures[0]).toMatchObject({
      source: 'app',
      database: 'shop',
      code: 'AUTH',
      hint: 'check DB01_USER / DB01_PASS',
    })
    expect(body.failures[0]!.lastGood[0]!.ageSeconds).toBe((14 * 60 + 3) * 60)
    expect(body.succeeded).toHaveLength(2)
    expect(JSON.stringify(body)).not.toContain(DB_PASS)
    // For docs/OPERATIONS.md: `CAPTURE_ALERT_TO=/tmp/alert npx vitest run test/notify`.
    if (process.env.CAPTURE_ALERT_TO)
      await writeFile(`${process.env.CAPTURE_ALERT_TO}.json`, `${JSON.stringify(body, null, 2)}\n`)
  })

  it('logs a receiver error with scheme and host only (the path is a token), and never throws', async () => {
    hook.status = 500
    const config = parseConfig(env({ WEBHOOK_URL: url(), SMTP_HOST: '', MAIL_TO: '' }))
    const { logger, text } = captureLogger()
    const r = await notifyRun(failedRun(), config, logger, NOW)
    expect(r.failed).toEqual([
      { target: `webhook http://127.0.0.1:${hook.port}/…`, error: expect.stringContaining('answered 500') },
    ])
    expect(text()).toContain('alert NOT sent')
    expect(text()).not.toContain('hook-token-9f8e7d')
  })

  it('logs an unreachable receiver with its cause', async () => {
    const port = await freePort()
    const config = parseConfig(
      env({ WEBHOOK_URL: `http://127.0.0.1:${port}/${HOOK_TOKEN}`, SMTP_HOST: '', MAIL_TO: '' }),
    )
    const { logger, text } = captureLogger()
    const r = await notifyRun(failedRun(), config, logger, NOW)
    expect(r.failed[0]?.error).toContain('ECONNREFUSED')
    expect(text()).not.toContain('hook-token-9f8e7d')
  })
})
