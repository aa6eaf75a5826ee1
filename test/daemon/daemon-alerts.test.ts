/**
 * `dbkeeper daemon` end to end, alerts and health: the real CLI as its own process with a source
 * that fails (a missing SQLite file), a real smtp-server with AUTH, a node:http webhook receiver,
 * and real HTTP to /healthz. Schedule, locking and shutdown: daemon.test.ts.
 */
import { readFile, rm } from 'node:fs/promises'
import { hostname } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { readRuns, type RunRecord } from '../../src/catalog/journal.js'
import type { Status } from '../../src/daemon/status.js'
import { runCli } from '../support/cli.js'
import {
  daemonTestContext,
  LOADED_MACHINE_TIMEOUT_MS,
  EVERY_SECOND,
  httpGet,
  startDaemon,
  until,
} from '../support/daemon.js'
import { startMailServer, type MailServer, type ReceivedMail } from '../support/mail.js'
import { freePort } from '../support/servers.js'
import { startHook } from '../support/webhook-receiver.js'
import { makeSqliteDb } from '../support/sqlite.js'

const SMTP_USER = 'alerts'
const SMTP_PASS = 'smtp-Pa55-zq7!wx'
const HOOK_TOKEN = 'T0001/B0002/hook-token-9f8e7d'

const t = daemonTestContext('dbk-daemon-alerts-')

async function startMail(port?: number): Promise<MailServer> {
  const mail = await startMailServer({ port, user: SMTP_USER, password: SMTP_PASS })
  t.defer(() => mail.close())
  return mail
}

const runIdOf = (m: ReceivedMail): string => /^X-Dbkeeper-Run: (.*)$/im.exec(m.headers)?.[1]?.trim() ?? ''

/** DB01 backs up fine, DB02 (notes) is an SQLite file that does not exist: every run fails. */
function failingEnv(smtpPort: number, extra: Record<string, string> = {}): Record<string, string> {
  return t.env({
    SCHEDULE: EVERY_SECOND,
    BACKUP_ON_START: 'true',
    DB02_TYPE: 'sqlite',
    DB02_PATH: join(t.dir, 'missing', 'notes.db'),
    DB02_LABEL: 'notes',
    SMTP_HOST: '127.0.0.1',
    SMTP_PORT: String(smtpPort),
    SMTP_SECURE: 'false',
    SMTP_USER,
    SMTP_PASS,
    MAIL_FROM: 'backup@example.com',
    MAIL_TO: 'ops@example.com',
    ...extra,
  })
}

const failedRunIds = (runs: readonly RunRecord[]) => runs.filter((r) => !r.ok).map((r) => r.runId)

describe('dbkeeper daemon: alerts and health', { timeout: LOADED_MACHINE_TIMEOUT_MS }, () => {
  it('a failing source sends exactly one email and one webhook per failed run, with the cause and no secret', async () => {
    makeSqliteDb(t.dbPath, 200)
    const mail = await startMail()
    const hook = await startHook(HOOK_TOKEN, 'up')
    t.defer(() => hook.close())
    const env = failingEnv(mail.port, { WEBHOOK_URL: `http://127.0.0.1:${hook.port}/${HOOK_TOKEN}` })
    const daemon = startDaemon(env)

    await until(
      async () => {
        const failed = failedRunIds(await readRuns(t.backupDir))
        const mailed = new Set(mail.messages.map(runIdOf))
        // The start-up check's alert is not awaited at shutdown: wait for it on both channels.
        const preflightSent =
          [...mailed].some((id) => id.startsWith('preflight-')) &&
          hook.bodies.some((b) => String(b.runId).startsWith('preflight-'))
        return failed.length >= 2 && failed.every((id) => mailed.has(id)) && preflightSent
      },
      "two failed runs, their emails and the start-up check's alerts",
      { context: daemon.output },
    )
    daemon.signal('SIGTERM')
    expect(await daemon.exited, daemon.output()).toEqual({ exitCode: 0, signal: undefined })

    // Counted after the daemon stopped: nothing is in flight any more.
    const runs = await readRuns(t.backupDir)
    const failed = failedRunIds(runs)
    expect(failed).toEqual(runs.map((r) => r.runId))
    const mailIds = mail.messages.map(runIdOf)
    const preflight = mailIds.filter((id) => id.startsWith('preflight-'))
    expect(preflight).toHaveLength(1)
    expect(mailIds.filter((id) => !id.startsWith('preflight-')).sort()).toEqual([...failed].sort())
    const hookIds = hook.bodies.map((b) => String(b.runId))
    expect(hookIds.filter((id) => !id.startsWith('preflight-')).sort()).toEqual([...failed].sort())
    expect(hookIds.filter((id) => id.startsWith('preflight-'))).toHaveLength(1)

    const missing = join(t.dir, 'missing', 'notes.db')
    const run = runs[0]!
    const email = mail.messages.find((m) => runIdOf(m) === run.runId)!
    expect(email.subject).toBe(`[dbkeeper] backup FAILED on ${hostname()}: notes`)
    expect(email.to).toEqual(['ops@example.com'])
    expect(email.text).toContain('FAILED  notes/notes')
    expect(email.text).toContain(`error: NOT_FOUND: SQLite database ${missing} does not exist`)
    expect(email.text).toContain('hint:  check DB02_PATH')
    expect(email.text).toContain('last good backup: NONE')
    expect(email.text).toContain(`OK      app/app  ${run.results.find((r) => r.ok)!.id!}`)
    const pre = mail.messages.find((m) => runIdOf(m).startsWith('preflight-'))!
    expect(pre.subject).toBe(`[dbkeeper] backup FAILED on ${hostname()}: PREFLIGHT`)
    expect(pre.text).toContain(`source notes (DB02, sqlite): SQLite database ${missing} does not exist`)

    const body = hook.bodies.find((b) => b.runId === run.runId)!
    expect(body).toMatchObject({
      host: hostname(),
      runId: run.runId,
      trigger: run.trigger,
      ok: false,
      startedAt: run.startedAt,
      finishedAt: run.finishedAt,
      failures: [{ source: 'notes', database: 'notes', code: 'NOT_FOUND', lastGood: [] }],
      succeeded: [{ source: 'app', database: 'app', id: run.results.find((r) => r.ok)!.id }],
    })
    expect((body.failures as { message: string }[])[0]!.message).toBe(`SQLite database ${missing} does not exist`)
    expect(String(body.text)).toContain(email.subject)

    // No secret anywhere: daemon log, emails, webhook bodies, journal, status.
    const status = await runCli(['status', '--json'], env)
    const everything = [
      daemon.output(),
      ...mail.messages.map((m) => m.raw),
      ...hook.raw,
      await readFile(join(t.backupDir, '.dbkeeper', 'runs.jsonl'), 'utf8'),
      status.all,
    ].join('\n')
    for (const secret of [SMTP_PASS, HOOK_TOKEN, 'hook-token-9f8e7d']) expect(everything).not.toContain(secret)
  })

  it('/healthz is 503 before any proven backup, 200 after a success, and 503 again once it is older than HEALTH_MAX_AGE', async () => {
    // The source's file does not exist yet: every run fails until it does.
    const env = t.env({ SCHEDULE: EVERY_SECOND, BACKUP_ON_START: 'true', HEALTH_MAX_AGE: '4s' })
    const daemon = startDaemon(env)
    const health = async () => {
      const r = await httpGet(t.healthPort, '/healthz')
      return { status: r.status, json: JSON.parse(r.body) as Status }
    }

    await until(async () => failedRunIds(await readRuns(t.backupDir)).length >= 1, 'a failed run', {
      context: daemon.output,
    })
    const before = await health()
    expect(before.status).toBe(503)
    expect(before.json.reason).toBe('UNHEALTHY: app/app: no proven backup yet (last failure: NOT_FOUND)')

    makeSqliteDb(t.dbPath, 100)
    const ok = await until(
      async () => {
        const h = await health()
        return h.status === 200 && h
      },
      '/healthz to answer 200',
      { context: daemon.output },
    )
    expect(ok.json.healthy).toBe(true)
    expect(ok.json.sources[0]!.databases[0]!.lastSuccess).not.toBeNull()

    // The file vanishes (a volume unmounted): runs fail again, and the last success ages out.
    await rm(t.dbPath, { force: true })
    const stale = await until(
      async () => {
        const h = await health()
        return h.status === 503 && h
      },
      '/healthz to answer 503 again',
      { context: daemon.output },
    )
    expect(stale.json.reason).toMatch(
      /^UNHEALTHY: app\/app: last proven backup is \d+s old, limit 4s \(last failure: NOT_FOUND\)$/,
    )
    expect(stale.json.sources[0]!.databases[0]).toMatchObject({ failing: true, lastFailure: { code: 'NOT_FOUND' } })
    const check = await runCli(['status', '--check'], env)
    expect([check.exitCode, check.stdout.trim()]).toEqual([
      1,
      expect.stringMatching(/^UNHEALTHY: app\/app: last proven backup is/),
    ])

    daemon.signal('SIGTERM')
    expect(await daemon.exited, daemon.output()).toEqual({ exitCode: 0, signal: undefined })
  })

  it('SMTP down: the error is logged, the daemon keeps backing up, and the next alert arrives once the server is up', async () => {
    makeSqliteDb(t.dbPath, 200)
    const smtpPort = await freePort()
    const daemon = startDaemon(failingEnv(smtpPort))

    const notSent = await daemon.waitForLog(
      (l) => l.msg.startsWith('alert NOT sent') && typeof l.runId === 'string' && !l.runId.startsWith('preflight-'),
      "a run's alert to fail",
    )
    expect(notSent.level).toBe(50)
    expect(notSent.msg).toContain(`email to ops@example.com via 127.0.0.1:${smtpPort}`)
    expect(notSent.msg).toContain('ECONNREFUSED')
    // Still running, still backing up DB01.
    await until(
      async () => {
        const later = (await readRuns(t.backupDir)).filter(
          (r) => Date.parse(r.startedAt) > notSent.time && r.results.some((x) => x.source === 'app' && x.ok),
        )
        return later.length >= 2
      },
      'two more runs with a committed backup after the failed alert',
      { context: daemon.output },
    )
    expect(daemon.running()).toBe(true)

    const mail = await startMail(smtpPort)
    const delivered = await until(
      async () => {
        const failed = new Set(failedRunIds(await readRuns(t.backupDir)))
        return mail.messages.find((m) => failed.has(runIdOf(m)))
      },
      'an alert of a failed run to arrive at the restarted SMTP server',
      { context: daemon.output },
    )
    expect(delivered.text).toContain('FAILED  notes/notes')
    await daemon.waitForLog(
      (l) => l.msg.startsWith('alert sent: email to ops@example.com') && l.runId === runIdOf(delivered),
      'the daemon to log the delivery',
    )

    daemon.signal('SIGTERM')
    expect(await daemon.exited, daemon.output()).toEqual({ exitCode: 0, signal: undefined })
    expect(daemon.output()).not.toContain(SMTP_PASS)
  })
})
