/**
 * Issue 10, alert channels down: one `dbkeeper daemon` (its own process) backs up every two
 * seconds with one source that always fails, so every run sends an alert by email (a real SMTP
 * server with AUTH) and webhook (a node:http receiver). Both channels fail together in three ways
 * — nothing listening, an answer of "not now" (SMTP 421, HTTP 503), a server that accepts and never
 * answers (the 15 s timeouts) — and come back after each.
 *
 * Every time: each failed delivery is logged naming its channel, the daemon keeps running, its
 * health endpoint answers and it keeps committing backups of the healthy source; once the
 * channels are back, the next failed run's alert arrives on both. No proven backup is lost, and
 * no password or webhook token appears in anything the daemon wrote or sent.
 * (test/daemon/daemon-alerts.test.ts covers a refused SMTP connection alone.)
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { readRuns } from '../../src/catalog/journal.js'
import { runCli } from '../support/cli.js'
import { httpGet, killDaemons, startDaemon, until, type DaemonProcess, type LogLine } from '../support/daemon.js'
import { freePort } from '../support/servers.js'
import { makeSqliteDb } from '../support/sqlite.js'
import { trial } from '../support/faults/trials.js'
import { Evidence } from '../support/faults/secrets-sampler.js'
import { lostBackups, provenBackups } from '../support/faults/loss-accounting.js'
import { startHook, type Hook } from '../support/webhook-receiver.js'
import { startSmtp, type SmtpEndpoint } from '../support/faults/smtp-endpoint.js'

const FAULT = 'SMTP/webhook down'
const SMTP_USER = 'alerts-faults'
const SMTP_PASS = `smtp "F4ult" $pw #1 \\ 'x'`
const HOOK_TOKEN = 'alert-hook-token-77aa9c'

let dir: string
let backupDir: string
let env: Record<string, string>
let smtp: SmtpEndpoint
let hook: Hook
let healthPort: number
let daemon: DaemonProcess
const evidence = new Evidence()

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'dbk-faults-alerts-'))
  backupDir = join(dir, 'backups')
  makeSqliteDb(join(dir, 'app.db'), 200)
  smtp = await startSmtp(SMTP_USER, SMTP_PASS)
  hook = await startHook(`T0ALRT/B0/${HOOK_TOKEN}`)
  healthPort = await freePort()
  env = {
    BACKUP_DIR: backupDir,
    TZ: 'UTC',
    SCHEDULE: '*/2 * * * * *',
    BACKUP_ON_START: 'true',
    HEALTH_PORT: String(healthPort),
    DB01_TYPE: 'sqlite',
    DB01_PATH: join(dir, 'app.db'),
    DB01_LABEL: 'app',
    // Always fails: every run sends an alert.
    DB02_TYPE: 'sqlite',
    DB02_PATH: join(dir, 'missing', 'notes.db'),
    DB02_LABEL: 'notes',
    SMTP_HOST: '127.0.0.1',
    SMTP_PORT: String(smtp.port),
    SMTP_SECURE: 'false',
    SMTP_USER,
    SMTP_PASS,
    MAIL_FROM: 'backup@example.com',
    MAIL_TO: 'ops@example.com',
    WEBHOOK_URL: hook.url,
  }
  await smtp.set('up')
  await hook.set('up')
  evidence.startSampling(200)
  daemon = startDaemon(env)
  // Up and alerting before the first fault.
  await until(() => smtp.messages.length > 0 && hook.bodies.length > 0, 'the first alerts on both channels', {
    timeoutMs: 60_000,
    context: daemon.output,
  })
}, 120_000)

afterAll(async () => {
  evidence.stopSampling()
  await killDaemons()
  await smtp?.close()
  await hook?.close()
  if (dir) await rm(dir, { recursive: true, force: true })
})

const runIdOf = (raw: string): string => /^X-Dbkeeper-Run: (.*)$/im.exec(raw)?.[1]?.trim() ?? ''

/** Failed runs that started at or after `since` (ms), oldest first. */
async function failedRunsSince(since: number): Promise<string[]> {
  return (await readRuns(backupDir)).filter((r) => !r.ok && Date.parse(r.startedAt) >= since).map((r) => r.runId)
}

function notSent(kind: 'email' | 'webhook', since: number) {
  return (l: LogLine) =>
    l.time >= since &&
    l.msg.startsWith('alert NOT sent') &&
    String(l.notifier).startsWith(kind) &&
    typeof l.runId === 'string' &&
    !l.runId.startsWith('preflight-')
}

async function channelsDown(
  point: string,
  smtpMode: 'down' | 'busy' | 'stall',
  hookMode: 'down' | 'error' | 'stall',
  expected: { email: RegExp; webhook: RegExp },
): Promise<void> {
  await trial(FAULT, point, async () => {
    const before = await provenBackups(env)
    const downAt = Date.now()
    await smtp.set(smtpMode)
    await hook.set(hookMode)

    // Each failed delivery is logged, naming the channel and why. The first failure after the
    // switch can be a delivery that was in flight when the endpoint was swapped ("Connection
    // closed"): wait for the one that names this mode's cause.
    const mailLog = await daemon.waitForLog(
      (l) => notSent('email', downAt)(l) && expected.email.test(l.msg),
      `an email alert to fail (${smtpMode})`,
      90_000,
    )
    const hookLog = await daemon.waitForLog(
      (l) => notSent('webhook', downAt)(l) && expected.webhook.test(l.msg),
      `a webhook alert to fail (${hookMode})`,
      90_000,
    )
    expect(mailLog.level).toBe(50)
    expect(mailLog.msg, mailLog.msg).toMatch(expected.email)
    expect(mailLog.msg).toContain(`email to ops@example.com via 127.0.0.1:${smtp.port}`)
    expect(hookLog.msg, hookLog.msg).toMatch(expected.webhook)
    // The daemon lives: its health endpoint answers.
    expect(daemon.running()).toBe(true)
    const health = await httpGet(healthPort, '/healthz')
    expect([200, 503]).toContain(health.status)

    // Back (a stalled delivery still in flight is cut): the next failed run's alert arrives on
    // both channels, and backups of app go on being committed.
    const upAt = Date.now()
    await smtp.set('up')
    await hook.set('up')
    await until(
      async () =>
        (await readRuns(backupDir)).some(
          (r) => Date.parse(r.startedAt) > mailLog.time && r.results.some((x) => x.source === 'app' && x.ok),
        ),
      'a committed backup after the failed alert',
      { timeoutMs: 90_000, context: daemon.output },
    )
    const delivered = await until(
      async () => {
        const failed = await failedRunsSince(upAt)
        const mailed = new Set(smtp.messages.map((m) => runIdOf(m.raw)))
        const hooked = new Set(hook.bodies.map((b) => String(b.runId)))
        return failed.find((id) => mailed.has(id) && hooked.has(id))
      },
      "the next failed run's alert on both channels once they are back",
      { timeoutMs: 90_000, context: daemon.output },
    )
    expect(smtp.messages.filter((m) => runIdOf(m.raw) === delivered)).toHaveLength(1)
    const mail = smtp.messages.find((m) => runIdOf(m.raw) === delivered)!
    expect(mail.text).toContain('FAILED  notes/notes')
    await daemon.waitForLog(
      (l) => l.msg.startsWith('alert sent: email to ops@example.com') && l.runId === delivered,
      'the delivery to be logged',
    )
    expect(daemon.running()).toBe(true)

    const lost = lostBackups(before, await provenBackups(env))
    expect(lost).toEqual([])
    return lost.length
  })
}

describe('alert channels down (fault injection)', () => {
  it('nothing listening: SMTP and webhook connections refused', async () => {
    await channelsDown('SMTP and webhook refused (servers down)', 'down', 'down', {
      email: /ECONNREFUSED/,
      webhook: /ECONNREFUSED|fetch failed/,
    })
  }, 240_000)

  it('not now: SMTP greets with 421, the webhook answers 503', async () => {
    await channelsDown('SMTP 421 greeting, webhook HTTP 503', 'busy', 'error', {
      email: /421/,
      webhook: /answered 503/,
    })
  }, 240_000)

  it('silence: both accept the connection and never answer', async () => {
    await channelsDown('SMTP and webhook accept and never answer (timeouts)', 'stall', 'stall', {
      email: /timeout|timed out|Greeting never received/i,
      webhook: /timeout|aborted/i,
    })
  }, 240_000)

  it('stops cleanly, and leaks no secret: daemon log, mails, webhook bodies, volume, status, config, /proc', async () => {
    await trial(
      'secret leak check',
      'alerts-down daemon: log, mails, webhook bodies, volume, status, config, /proc',
      async () => {
        daemon.signal('SIGTERM')
        expect(await daemon.exited, daemon.output().slice(-3000)).toEqual({ exitCode: 0, signal: undefined })
        evidence.stopSampling()
        evidence.add('daemon output', daemon.output())
        for (const m of smtp.messages) {
          evidence.add('mail (raw)', m.raw)
          evidence.add('mail (decoded)', `${m.subject}\n${m.text}`)
        }
        for (const body of hook.raw) evidence.add('webhook body', body)
        for (const args of [['status', '--json'], ['config'], ['config', '--json']])
          evidence.add(args.join(' '), (await runCli(args, env)).all)
        await evidence.addFiles(backupDir)
        expect(smtp.messages.length).toBeGreaterThan(3)
        expect(evidence.samples).toBeGreaterThan(10)
        expect(evidence.cmdlinesMatching(/cli\/main\.(js|ts) daemon/).length).toBeGreaterThan(0)
        expect(evidence.leaks([SMTP_PASS, HOOK_TOKEN, 'smtp "F4ult"'])).toEqual([])
        return 0
      },
    )
  }, 120_000)
})
