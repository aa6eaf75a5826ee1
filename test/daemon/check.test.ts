/**
 * `dbkeeper check`, the preflight, as a real process against a real SQLite file, a real
 * smtp-server (the login is proven, no mail sent) and a node:http webhook receiver (a HEAD, no
 * POST); failures against a missing file, a closed port and a wrong SMTP password.
 */
import { mkdtemp, readdir, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { CheckResult } from '../../src/daemon/preflight.js'
import { runCli } from '../support/cli.js'
import { startMailServer, type MailServer } from '../support/mail.js'
import { freePort } from '../support/servers.js'
import { makeSqliteDb } from '../support/sqlite.js'
import { startHook, type Hook } from '../support/webhook-receiver.js'

const SMTP_PASS = 'check-smtp-Pa55-81x'
const HOOK_TOKEN = 'hook-token-c4e7a1'

let dir: string
let mail: MailServer
let hook: Hook

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'dbk-check-'))
  makeSqliteDb(join(dir, 'app.db'), 100)
  mail = await startMailServer({ user: 'alerts', password: SMTP_PASS })
  hook = await startHook(HOOK_TOKEN, 'up')
})

afterAll(async () => {
  await mail.close()
  await hook.close()
  await rm(dir, { recursive: true, force: true })
})

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
    WEBHOOK_URL: hook.url,
    ...extra,
  }
}

describe('dbkeeper check', () => {
  it('exits 0 with one ok line per check on a good configuration, and takes no backup', async () => {
    const r = await runCli(['check'], env())
    expect(r.exitCode, r.all).toBe(0)
    const lines = r.stdout.trim().split('\n')
    expect(lines).toHaveLength(4)
    expect(lines[0]).toMatch(new RegExp(`^ok {5}backup volume ${join(dir, 'backups')}: writable, .* free$`))
    expect(lines[1]).toMatch(
      /^ok {5}source app \(DB01, sqlite\): server 3\.\d+\.\d+, better-sqlite3 3\.\d+\.\d+, databases: app$/,
    )
    expect(lines[2]).toBe(
      `ok     SMTP 127.0.0.1:${mail.port}: 127.0.0.1:${mail.port} accepted the login of alerts (STARTTLS when the server offers it); no mail sent`,
    )
    expect(lines[3]).toBe(
      `ok     webhook http://127.0.0.1:${hook.port}/…: reachable: HEAD answered 405 Method Not Allowed; no alert sent (\`dbkeeper alert --test\` proves delivery)`,
    )
    expect(hook.methods).toEqual(['HEAD'])
    expect(r.all).not.toContain(HOOK_TOKEN)
    expect(r.all).not.toContain(SMTP_PASS)
    // A check, not a backup: no data file and nothing left over on the volume but the state directory.
    expect(await readdir(join(dir, 'backups'))).toEqual(['.dbkeeper'])
    expect(await readdir(join(dir, 'backups', '.dbkeeper'))).toEqual([])
    expect(mail.messages).toEqual([])
  })

  it('exits 1 with a FAILED line naming the missing SQLite file and the unreachable SMTP server; the rest still pass', async () => {
    const closed = await freePort()
    const missing = join(dir, 'gone', 'notes.db')
    const r = await runCli(
      ['check'],
      env({ DB02_TYPE: 'sqlite', DB02_PATH: missing, DB02_LABEL: 'notes', SMTP_PORT: String(closed) }),
    )
    expect(r.exitCode, r.all).toBe(1)
    const lines = r.stdout.trim().split('\n')
    expect(lines).toHaveLength(5)
    expect(lines.map((l) => l.slice(0, 6))).toEqual(['ok    ', 'ok    ', 'FAILED', 'FAILED', 'ok    '])
    expect(lines[2]).toBe(
      `FAILED source notes (DB02, sqlite): SQLite database ${missing} does not exist — check DB02_PATH and that the volume holding it is mounted into this container`,
    )
    expect(lines[3]).toBe(
      `FAILED SMTP 127.0.0.1:${closed}: connect ECONNREFUSED 127.0.0.1:${closed} — check SMTP_HOST / SMTP_PORT and that the mail server is running and reachable from this container`,
    )
    expect(r.all).not.toContain(SMTP_PASS)
  })

  it('--json prints {name, ok, detail} per check with the same verdicts', async () => {
    const closed = await freePort()
    const r = await runCli(['check', '--json'], env({ WEBHOOK_URL: `http://127.0.0.1:${closed}/${HOOK_TOKEN}` }))
    expect(r.exitCode, r.all).toBe(1)
    const checks = JSON.parse(r.stdout) as CheckResult[]
    expect(checks.map((c) => [c.name, c.ok])).toEqual([
      [`backup volume ${join(dir, 'backups')}`, true],
      ['source app (DB01, sqlite)', true],
      [`SMTP 127.0.0.1:${mail.port}`, true],
      [`webhook http://127.0.0.1:${closed}/…`, false],
    ])
    expect(checks[3]!.detail).toContain(`connect ECONNREFUSED 127.0.0.1:${closed} — check WEBHOOK_URL`)
    expect(r.all).not.toContain(HOOK_TOKEN)
  })

  it('a wrong SMTP password fails the check (exit 1) with the refused login and the variables to fix, never the password', async () => {
    const wrong = 'wrong-Smtp-pw-93kq'
    const r = await runCli(['check'], env({ SMTP_PASS: wrong }))
    expect(r.exitCode, r.all).toBe(1)
    const line = r.stdout
      .trim()
      .split('\n')
      .find((l) => l.includes(' SMTP '))
    expect(line).toMatch(
      new RegExp(
        `^FAILED SMTP 127\\.0\\.0\\.1:${mail.port}: the SMTP server refused the login of alerts: Invalid login: 535 .* — check SMTP_USER and SMTP_PASS \\(or SMTP_PASS_FILE\\)$`,
      ),
    )
    expect(r.stdout).not.toContain(wrong)
    expect(r.stderr).not.toContain(wrong)
    expect(r.all).not.toContain(SMTP_PASS)
    expect(mail.messages).toEqual([])
  })
})
