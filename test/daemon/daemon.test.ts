/**
 * `dbkeeper daemon` end to end, schedule, locking and shutdown: the real CLI as its own process,
 * real SQLite files, real HTTP to the health port. A run "in progress" is made deterministic by
 * holding an EXCLUSIVE lock on a rollback-journal SQLite source (holdSqliteLock): the daemon's run
 * waits on it until the test lets go. Alerts and health: daemon-alerts.test.ts.
 */
import { readdir } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { readRuns } from '../../src/catalog/journal.js'
import type { Status } from '../../src/daemon/status.js'
import { listJson, runCli, startCli } from '../support/cli.js'
import {
  daemonTestContext,
  LOADED_MACHINE_TIMEOUT_MS,
  EVERY_SECOND,
  FAR_AWAY,
  holdSqliteLock,
  httpGet,
  metricValue,
  readLockFile,
  startDaemon,
  until,
  type LogLine,
} from '../support/daemon.js'
import { filesUnder } from '../support/files.js'
import { makeSqliteDb } from '../support/sqlite.js'

const t = daemonTestContext('dbk-daemon-')

const msgIs = (text: string) => (l: LogLine) => l.msg === text

describe('dbkeeper daemon: schedule, status and metrics', { timeout: LOADED_MACHINE_TIMEOUT_MS }, () => {
  it('runs a backup at start and then every second, and status, /metrics and /healthz report them', async () => {
    makeSqliteDb(t.dbPath, 500)
    const env = t.env({ SCHEDULE: EVERY_SECOND, BACKUP_ON_START: 'true' })
    const daemon = startDaemon(env)

    const runs = await until(
      async () => {
        const r = await readRuns(t.backupDir)
        return r.length >= 2 && r.some((x) => x.trigger === 'schedule') ? r : undefined
      },
      'a start run and a scheduled run in the journal',
      { context: daemon.output },
    )
    expect(runs.map((r) => r.ok)).toEqual(runs.map(() => true))
    expect(runs[0]!.trigger).toBe('start')
    // Never two at once: each run starts after the one before it ended.
    for (let i = 1; i < runs.length; i++) expect(runs[i]!.startedAt >= runs[i - 1]!.finishedAt).toBe(true)
    const ids = runs.flatMap((r) => r.results.map((x) => x.id))
    expect(new Set(ids).size).toBe(ids.length)
    expect(daemon.logs().some((l) => /^next scheduled run at \d{4}-/.test(l.msg))).toBe(true)

    const status = await runCli(['status', '--json'], env)
    expect(status.exitCode, status.all).toBe(0)
    const s = JSON.parse(status.stdout) as Status
    expect(s.healthy).toBe(true)
    expect(s.lastRun?.ok).toBe(true)
    expect(Date.parse(s.nextRun!) - Date.parse(s.checkedAt)).toBeLessThanOrEqual(1000)
    const db = s.sources[0]!.databases[0]!
    expect([s.sources[0]!.source, db.database, db.lastFailure]).toEqual(['app', 'app', null])
    // The daemon keeps running backups meanwhile: the one status saw is (or is about to be) journaled.
    await until(
      async () => (await readRuns(t.backupDir)).some((r) => r.results.some((x) => x.ok && x.id === db.lastSuccess?.id)),
      `the journal to record ${db.lastSuccess?.id}`,
      { timeoutMs: 10_000 },
    )

    const journalBefore = (await readRuns(t.backupDir)).length
    const metrics = await httpGet(t.healthPort, '/metrics')
    const journalAfter = (await readRuns(t.backupDir)).length
    expect(metrics.status).toBe(200)
    const runsTotal = metricValue(metrics.body, 'dbkeeper_runs_total')
    expect(runsTotal).toBeGreaterThanOrEqual(Math.max(2, journalBefore))
    expect(runsTotal).toBeLessThanOrEqual(journalAfter)
    const lastSuccess = metricValue(
      metrics.body,
      'dbkeeper_last_success_timestamp_seconds{source="app",database="app"}',
    )
    expect(lastSuccess).toBeGreaterThanOrEqual(Date.parse(db.lastSuccess!.at) / 1000 - 1)
    expect(lastSuccess).toBeLessThanOrEqual(Date.now() / 1000)
    expect(metricValue(metrics.body, 'dbkeeper_failures_total{source="app",database="app"}')).toBe(0)
    expect(metricValue(metrics.body, 'dbkeeper_last_backup_size_bytes{source="app",database="app"}')).toBeGreaterThan(0)

    const health = await httpGet(t.healthPort, '/healthz')
    expect(health.status, health.body).toBe(200)
    expect((JSON.parse(health.body) as Status).healthy).toBe(true)

    daemon.signal('SIGTERM')
    expect(await daemon.exited, daemon.output()).toEqual({ exitCode: 0, signal: undefined })
  })
})

describe('dbkeeper daemon: locking and shutdown', { timeout: LOADED_MACHINE_TIMEOUT_MS }, () => {
  it("a manual backup while the daemon's run holds the lock exits 3 naming it; the daemon's run then completes", async () => {
    makeSqliteDb(t.dbPath, 200)
    const hold = holdSqliteLock(t.dbPath)
    t.defer(() => hold.release())
    const env = t.env({ SCHEDULE: FAR_AWAY, BACKUP_ON_START: 'true' })
    const daemon = startDaemon(env)
    const lock = await until(
      async () => (await readLockFile(t.backupDir))?.command === 'daemon (start)' && readLockFile(t.backupDir),
      "the daemon's start run to take the lock",
      { context: daemon.output },
    )
    expect(lock).toMatchObject({ pid: daemon.pid })

    const manual = await runCli(['backup'], env)
    expect(manual.exitCode, manual.all).toBe(3)
    expect(manual.stderr).toContain(`another dbkeeper run holds the lock: pid ${daemon.pid}`)
    expect(manual.stderr).toContain('daemon (start)')

    hold.release()
    const runs = await until(
      async () => ((await readRuns(t.backupDir)).length >= 1 ? readRuns(t.backupDir) : undefined),
      'the start run to finish',
      { context: daemon.output },
    )
    expect(runs.map((r) => [r.trigger, r.ok])).toEqual([['start', true]])
    await until(async () => (await readLockFile(t.backupDir)) === undefined, 'the lock to be released')
    expect(await listJson(env)).toHaveLength(1)
    daemon.signal('SIGTERM')
    expect(await daemon.exited, daemon.output()).toEqual({ exitCode: 0, signal: undefined })
  })

  it('takes over the lock a killed manual run left behind, with a log line, and backs up', async () => {
    makeSqliteDb(t.dbPath, 200)
    const hold = holdSqliteLock(t.dbPath)
    t.defer(() => hold.release())
    const env = t.env({ SCHEDULE: FAR_AWAY, BACKUP_ON_START: 'true' })
    // A manual run that is killed while it holds the lock (it waits on the held database).
    const manual = startCli(['backup'], env)
    await until(async () => (await readLockFile(t.backupDir))?.command === 'backup', 'the manual run to take the lock')
    manual.kill('SIGKILL')
    await manual
    expect((await readLockFile(t.backupDir))?.pid).toBe(manual.pid)
    hold.release()

    const daemon = startDaemon(env)
    const took = await daemon.waitForLog(
      (l) => l.msg.startsWith('took over a stale lock'),
      'the stale lock to be taken over',
    )
    expect(took.msg).toBe(`took over a stale lock: process ${manual.pid} is not running`)
    const runs = await until(
      async () => ((await readRuns(t.backupDir)).length >= 1 ? readRuns(t.backupDir) : undefined),
      'the start run to finish',
      { context: daemon.output },
    )
    expect(runs.map((r) => [r.trigger, r.ok])).toEqual([['start', true]])
    daemon.signal('SIGTERM')
    expect(await daemon.exited, daemon.output()).toEqual({ exitCode: 0, signal: undefined })
    expect(await listJson(env)).toHaveLength(1)
  })

  it('SIGTERM mid-run lets the run finish and commit, then exits 0', async () => {
    makeSqliteDb(t.dbPath, 200)
    const hold = holdSqliteLock(t.dbPath)
    t.defer(() => hold.release())
    const env = t.env({ SCHEDULE: FAR_AWAY, BACKUP_ON_START: 'true' })
    const daemon = startDaemon(env)
    await until(
      async () => (await readLockFile(t.backupDir))?.command === 'daemon (start)',
      'the start run to take the lock',
      { context: daemon.output },
    )

    daemon.signal('SIGTERM')
    await daemon.waitForLog(
      msgIs('shutting down: letting the running backup finish'),
      'the shutdown to wait for the run',
    )
    expect(daemon.running()).toBe(true)
    expect(await readRuns(t.backupDir)).toEqual([])

    hold.release()
    expect(await daemon.exited, daemon.output()).toEqual({ exitCode: 0, signal: undefined })
    const runs = await readRuns(t.backupDir)
    expect(runs.map((r) => [r.trigger, r.ok])).toEqual([['start', true]])
    const backups = await listJson(env)
    expect(backups.map((b) => b.id)).toEqual([runs[0]!.results[0]!.id])
    expect(daemon.logs().map((l) => l.msg)).toContain('dbkeeper daemon stopped')
    expect(await readLockFile(t.backupDir)).toBeUndefined()
  })

  it('SIGTERM with a run that outlasts SHUTDOWN_TIMEOUT stops the run: nothing partial is left or listed, exit 0', async () => {
    makeSqliteDb(t.dbPath, 200)
    const hold = holdSqliteLock(t.dbPath)
    t.defer(() => hold.release())
    const env = t.env({ SCHEDULE: FAR_AWAY, BACKUP_ON_START: 'true', SHUTDOWN_TIMEOUT: '2s' })
    const daemon = startDaemon(env)
    await until(
      async () => (await readLockFile(t.backupDir))?.command === 'daemon (start)',
      'the start run to take the lock',
      { context: daemon.output },
    )

    const signalledAt = Date.now()
    daemon.signal('SIGTERM')
    const exit = await daemon.exited
    const took = Date.now() - signalledAt
    expect(exit, daemon.output()).toEqual({ exitCode: 0, signal: undefined })
    expect(took).toBeGreaterThanOrEqual(2000)
    expect(took).toBeLessThan(20_000)
    const messages = daemon.logs().map((l) => l.msg)
    expect(messages).toContain('shutting down: letting the running backup finish')
    expect(
      messages.some((m) => m.startsWith('the running backup did not finish within SHUTDOWN_TIMEOUT: stopping it')),
    ).toBe(true)

    hold.release()
    const runs = await readRuns(t.backupDir)
    expect(runs).toHaveLength(1)
    expect(runs[0]!.ok).toBe(false)
    expect(runs[0]!.results.map((r) => r.error?.code)).toEqual(['ABORTED'])
    expect(await listJson(env)).toEqual([])
    // Only the journal is left: no data file, no temporary file, no lock, and the run's work directory is gone.
    expect(await filesUnder(t.backupDir)).toEqual(['.dbkeeper/runs.jsonl'])
    expect(await readdir(join(t.backupDir, '.dbkeeper', 'tmp'))).toEqual([])
  })

  it('BACKUP_ON_SHUTDOWN=true after a run stopped at SHUTDOWN_TIMEOUT starts no last backup: the time is spent', async () => {
    makeSqliteDb(t.dbPath, 200)
    const hold = holdSqliteLock(t.dbPath)
    t.defer(() => hold.release())
    const env = t.env({
      SCHEDULE: FAR_AWAY,
      BACKUP_ON_START: 'true',
      BACKUP_ON_SHUTDOWN: 'true',
      SHUTDOWN_TIMEOUT: '1s',
    })
    const daemon = startDaemon(env)
    await until(
      async () => (await readLockFile(t.backupDir))?.command === 'daemon (start)',
      'the start run to take the lock',
      { context: daemon.output },
    )
    daemon.signal('SIGTERM')
    expect(await daemon.exited, daemon.output()).toEqual({ exitCode: 0, signal: undefined })
    hold.release()
    const runs = await readRuns(t.backupDir)
    // The stopped run only: no empty "shutdown" run recorded (and alerted) as a failure.
    expect(runs.map((r) => [r.trigger, r.results.map((x) => x.error?.code)])).toEqual([['start', ['ABORTED']]])
    expect(daemon.logs().map((l) => l.msg)).toContain(
      'BACKUP_ON_SHUTDOWN: no time left for the last backup (SHUTDOWN_TIMEOUT was spent on the running one)',
    )
  })

  it('BACKUP_ON_SHUTDOWN=true takes exactly one backup on SIGTERM when nothing ran before', async () => {
    makeSqliteDb(t.dbPath, 200)
    const env = t.env({ SCHEDULE: FAR_AWAY, BACKUP_ON_START: 'false', BACKUP_ON_SHUTDOWN: 'true' })
    const daemon = startDaemon(env)
    await daemon.waitForLog(msgIs('waiting for the first scheduled run'), 'the daemon to be up')
    await daemon.waitForLog((l) => l.msg.startsWith('preflight ok: source app'), 'the start-up check')
    expect(await readRuns(t.backupDir)).toEqual([])

    daemon.signal('SIGTERM')
    expect(await daemon.exited, daemon.output()).toEqual({ exitCode: 0, signal: undefined })
    const runs = await readRuns(t.backupDir)
    expect(runs.map((r) => [r.trigger, r.ok])).toEqual([['shutdown', true]])
    const backups = await listJson(env)
    expect(backups.map((b) => b.id)).toEqual([runs[0]!.results[0]!.id])
    expect(daemon.logs().map((l) => l.msg)).toContain('BACKUP_ON_SHUTDOWN: taking one last backup')
  })
})
