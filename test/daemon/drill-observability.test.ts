/**
 * `dbkeeper daemon` with DRILL_SCHEDULE, end to end: the real CLI as its own process drilling a
 * real SQLite backup every second — first one that restores, then one whose content does not match
 * its manifest. Status (/healthz and `dbkeeper status`), /metrics and the webhook alert must show the
 * drills as drills: a passed drill is not a backup, a failed one is not a failed backup.
 */
import { hostname } from 'node:os'
import { describe, expect, it } from 'vitest'
import { readRuns, type RunRecord } from '../../src/catalog/journal.js'
import type { BackupJson } from '../../src/cli/commands/backup.js'
import type { Status } from '../../src/daemon/status.js'
import { runCli } from '../support/cli.js'
import {
  daemonTestContext,
  EVERY_SECOND,
  FAR_AWAY,
  httpGet,
  LOADED_MACHINE_TIMEOUT_MS,
  metricValue,
  startDaemon,
  until,
} from '../support/daemon.js'
import { makeSqliteDb } from '../support/sqlite.js'
import { startHook } from '../support/webhook-receiver.js'
import { readManifest, writeResignedBackup } from '../restore/support.js'

const t = daemonTestContext('dbk-drill-obs-')

const DB = 'source="app",database="app"'

describe(
  'dbkeeper daemon: restore drills in status, metrics and alerts',
  { timeout: LOADED_MACHINE_TIMEOUT_MS },
  () => {
    it('shows passed and failed drills as drills, never as backup runs or backup failures', async () => {
      makeSqliteDb(t.dbPath, 300)
      const hook = await startHook('hook', 'up')
      t.defer(() => hook.close())
      const env = t.env({
        SCHEDULE: FAR_AWAY,
        BACKUP_ON_START: 'false',
        DRILL_SCHEDULE: EVERY_SECOND,
        NOTIFY_ON: 'always',
        WEBHOOK_URL: `http://127.0.0.1:${hook.port}/hook`,
      })
      const backup = await runCli(['backup', '--json'], env)
      expect(backup.exitCode, backup.all).toBe(0)
      const {
        runId: backupRunId,
        results: [first],
      } = JSON.parse(backup.stdout) as BackupJson

      const daemon = startDaemon(env)
      const drills = async () => (await readRuns(t.backupDir)).filter((r) => r.trigger === 'drill')
      const passed = await until(
        async () => (await drills()).find((r) => r.ok && r.results[0]?.drilled === first!.id),
        'a passed drill',
        { context: daemon.output },
      )

      // A newer backup whose manifest says the table has other rows than it holds: proven as a file,
      // but it does not restore to what it claims. The drill must fail on it.
      const broken = await writeResignedBackup(first!.path!, (raw) => raw, 60, {
        tables: [{ name: 'items', rows: 299 }],
      })
      const failed: RunRecord = await until(
        async () => (await drills()).find((r) => !r.ok && r.results[0]?.drilled === broken.manifest.id),
        'a failed drill',
        { context: daemon.output },
      )
      const alert = await until(() => hook.bodies.find((b) => b.runId === failed.runId), "the failed drill's alert", {
        context: daemon.output,
      })
      const okAlert = await until(() => hook.bodies.find((b) => b.runId === passed.runId), "the passed drill's alert", {
        context: daemon.output,
      })
      const metrics = await until(
        async () => {
          const text = (await httpGet(t.healthPort, '/metrics')).body
          return (metricValue(text, `dbkeeper_drill_failures_total{${DB}}`) ?? 0) >= 1 && text
        },
        'a drill failure in /metrics',
        { context: daemon.output },
      )
      const health = await httpGet(t.healthPort, '/healthz')
      const human = await runCli(['status'], env)
      daemon.signal('SIGTERM')
      expect(await daemon.exited, daemon.output()).toEqual({ exitCode: 0, signal: undefined })

      // The alerts: a drill's, in words that cannot be read as a backup's.
      expect(alert).toMatchObject({
        kind: 'drill',
        trigger: 'drill',
        ok: false,
        subject: `[dbkeeper] restore drill FAILED on ${hostname()}: app/app`,
      })
      expect(alert.failures).toEqual([
        expect.objectContaining({
          source: 'app',
          database: 'app',
          code: 'RESTORE_FAILED',
          drilled: broken.manifest.id,
        }),
      ])
      expect(String(alert.text)).toContain(`DRILL FAILED  app/app  backup ${broken.manifest.id}`)
      expect(String(alert.text)).not.toContain('backup FAILED')
      expect(okAlert).toMatchObject({
        kind: 'drill',
        ok: true,
        subject: `[dbkeeper] restore drill OK on ${hostname()}: 1 backup restored and compared`,
      })

      // Health: a failed drill is shown, but is neither the last run nor a failure of the backups.
      expect(health.status).toBe(200)
      const status = JSON.parse(health.body) as Status
      expect(status.healthy).toBe(true)
      expect(status.lastRun).toMatchObject({ runId: backupRunId, trigger: 'manual', ok: true })
      expect(status.lastDrill).toMatchObject({ ok: false })
      const [db] = status.sources[0]!.databases
      expect(db).toMatchObject({ lastFailure: null, failing: false, lastSuccess: { id: broken.manifest.id } })
      expect(db!.lastDrill).toMatchObject({
        ok: false,
        backup: broken.manifest.id,
        code: 'RESTORE_FAILED',
        message: expect.stringContaining('items'),
      })
      expect(human.stdout).toMatch(/LAST DRILL/)
      expect(human.stdout).toContain(`app/app: restore drill of ${broken.manifest.id} FAILED at `)

      // Metrics: drills in their own series; the backup series did not move.
      const firstManifest = await readManifest(first!.path!)
      expect(metricValue(metrics, `dbkeeper_last_drill_ok{${DB}}`)).toBe(0)
      const lastPassed = metricValue(metrics, `dbkeeper_last_drill_success_timestamp_seconds{${DB}}`)!
      expect(lastPassed).toBeGreaterThanOrEqual(Date.parse(passed.startedAt) / 1000)
      expect(lastPassed).toBeLessThan(Date.parse(failed.startedAt) / 1000)
      expect(metricValue(metrics, 'dbkeeper_drill_runs_total')).toBeGreaterThanOrEqual(2)
      expect(metricValue(metrics, `dbkeeper_failures_total{${DB}}`)).toBe(0)
      expect(metricValue(metrics, 'dbkeeper_runs_total')).toBe(0)
      // The backup's own time (its manifest's), not a drill's, nor the end of the run it was part of.
      // (The planted backup was made by no run: the metrics follow the journal, status the volume.)
      const backupRun = (await readRuns(t.backupDir)).find((r) => r.runId === backupRunId)!
      expect(Date.parse(backupRun.finishedAt)).toBeGreaterThanOrEqual(Date.parse(firstManifest.finishedAt))
      expect(metricValue(metrics, `dbkeeper_last_success_timestamp_seconds{${DB}}`)).toBe(
        Date.parse(firstManifest.finishedAt) / 1000,
      )
    })
  },
)
