/**
 * `dbkeeper alert --test` as a user runs it: the test alert reaches a real SMTP server and a
 * node:http webhook receiver, marked as a test in subject, text and facts; a failing channel makes
 * the exit 1 (the other channel still delivers), no channel at all is a configuration error (2).
 */
import { createServer, type Server } from 'node:http'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { runCli } from '../support/cli.js'
import { startMailServer, type MailServer } from '../support/mail.js'
import { freePort } from '../support/servers.js'

const SMTP_PASS = 'alert-smtp-Pa55-27z'
const HOOK_TOKEN = 'hook-token-a19f3c'
const MARK = 'dbkeeper test alert — no action needed'

let dir: string
let mail: MailServer
let hook: Server
let hookPort: number
let hookStatus = 200
const posts: { method: string; url: string; body: string }[] = []

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'dbk-alert-'))
  mail = await startMailServer({ user: 'alerts', password: SMTP_PASS })
  hook = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      posts.push({ method: req.method ?? '', url: req.url ?? '', body: Buffer.concat(chunks).toString('utf8') })
      res.writeHead(hookStatus).end(hookStatus === 200 ? 'ok' : `Cannot POST /${HOOK_TOKEN}`)
    })
  })
  await new Promise<void>((resolve) => hook.listen(0, '127.0.0.1', resolve))
  const address = hook.address()
  hookPort = typeof address === 'object' && address ? address.port : 0
})

beforeEach(() => {
  mail.messages.length = 0
  posts.length = 0
  hookStatus = 200
})

afterAll(async () => {
  await mail.close()
  await new Promise((resolve) => hook.close(resolve))
  await rm(dir, { recursive: true, force: true })
})

/** No source is needed to test the alerts, but the configuration asks for one. */
function env(extra: Record<string, string> = {}): Record<string, string> {
  return {
    BACKUP_DIR: join(dir, 'backups'),
    DB01_TYPE: 'sqlite',
    DB01_PATH: join(dir, 'app.db'),
    DB01_LABEL: 'app',
    SMTP_HOST: '127.0.0.1',
    SMTP_PORT: String(mail.port),
    SMTP_USER: 'alerts',
    SMTP_PASS,
    MAIL_TO: 'ops@example.com',
    WEBHOOK_URL: `http://127.0.0.1:${hookPort}/${HOOK_TOKEN}`,
    ...extra,
  }
}

describe('dbkeeper alert --test', () => {
  it('delivers one test alert by email and by webhook, each marked as a test, and reports both', async () => {
    const r = await runCli(['alert', '--test'], env())
    expect(r.exitCode, r.all).toBe(0)
    expect(r.stdout.trim().split('\n').sort()).toEqual([
      `sent   email to ops@example.com via 127.0.0.1:${mail.port}: test alert delivered`,
      `sent   webhook http://127.0.0.1:${hookPort}/…: test alert delivered`,
    ])
    expect(mail.messages).toHaveLength(1)
    const m = mail.messages[0]!
    expect(m.subject).toMatch(/^\[dbkeeper\] test alert from \S+ — no action needed$/)
    expect(m.text.split('\n')[0]).toBe(`${MARK}.`)
    expect(m.headers).toMatch(/^X-Dbkeeper-Run: test-\d{4}-/m)
    expect(posts).toHaveLength(1)
    expect(posts[0]!.method).toBe('POST')
    const body = JSON.parse(posts[0]!.body) as {
      kind: string
      trigger: string
      ok: boolean
      text: string
      subject: string
      failures: unknown[]
    }
    expect(body).toMatchObject({ kind: 'test', trigger: 'test', ok: true, failures: [] })
    expect(body.subject).toBe(m.subject)
    expect(body.text).toContain(MARK)
    expect(r.all).not.toContain(SMTP_PASS)
    expect(r.all).not.toContain(HOOK_TOKEN)
  })

  it('exits 1 when a channel fails (webhook answers 500), naming it and what to check; the other channel still delivers', async () => {
    hookStatus = 500
    const r = await runCli(['alert', '--test', '--json'], env())
    expect(r.exitCode, r.all).toBe(1)
    const results = JSON.parse(r.stdout) as { channel: string; ok: boolean; detail: string }[]
    expect(results.map((x) => [x.channel, x.ok])).toEqual([
      [`email to ops@example.com via 127.0.0.1:${mail.port}`, true],
      [`webhook http://127.0.0.1:${hookPort}/…`, false],
    ])
    expect(results[1]!.detail).toBe(
      `webhook http://127.0.0.1:${hookPort}/… answered 500 Internal Server Error: Cannot POST … — check the WEBHOOK_URL receiver`,
    )
    expect(mail.messages).toHaveLength(1)
    expect(r.all).not.toContain(HOOK_TOKEN)
  })

  it('exits 1 on a wrong SMTP password and a closed webhook port, and never prints the password', async () => {
    const wrong = 'wrong-Alert-pw-55rt'
    const closed = await freePort()
    const r = await runCli(
      ['alert', '--test'],
      env({ SMTP_PASS: wrong, WEBHOOK_URL: `http://127.0.0.1:${closed}/${HOOK_TOKEN}` }),
    )
    expect(r.exitCode, r.all).toBe(1)
    const lines = r.stdout.trim().split('\n')
    expect(lines).toHaveLength(2)
    expect(lines[0]).toMatch(
      new RegExp(
        `^FAILED email to ops@example\\.com via 127\\.0\\.0\\.1:${mail.port}: Invalid login: 535 .* — check the SMTP_\\* settings`,
      ),
    )
    expect(lines[1]).toBe(
      `FAILED webhook http://127.0.0.1:${closed}/…: connect ECONNREFUSED 127.0.0.1:${closed} — check the WEBHOOK_URL receiver`,
    )
    expect(r.stdout).not.toContain(wrong)
    expect(r.stderr).not.toContain(wrong)
    expect(mail.messages).toEqual([])
  })

  it('exits 2 with the variables to set when no channel is configured, and 2 without --test', async () => {
    const none = await runCli(
      ['alert', '--test'],
      env({ SMTP_HOST: '', SMTP_PORT: '', SMTP_USER: '', SMTP_PASS: '', MAIL_TO: '', WEBHOOK_URL: '' }),
    )
    expect(none.exitCode, none.all).toBe(2)
    expect(none.stderr).toContain('no alert channel is configured: there is nothing to test')
    expect(none.stderr).toContain('set SMTP_HOST and MAIL_TO (email) and/or WEBHOOK_URL')
    const bare = await runCli(['alert'], env())
    expect(bare.exitCode, bare.all).toBe(2)
    expect(bare.stderr).toContain('alert needs --test')
    expect(mail.messages).toEqual([])
    expect(posts).toEqual([])
  })

  it('is listed in dbkeeper --help and has its own help', async () => {
    const help = await runCli(['--help'], {})
    expect(help.stdout).toMatch(/^ {2}alert +alert --test: send one test alert on every configured channel$/m)
    const own = await runCli(['alert', '--help'], {})
    expect(own.exitCode).toBe(0)
    expect(own.stdout).toContain('Usage: dbkeeper alert --test [--json]')
  })
})
