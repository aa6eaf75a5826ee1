/**
 * Scheduled restore drills (DRILL_SCHEDULE): the newest proven backup of every database of every
 * source is drilled under the volume lock; the outcome is one journal record with trigger `drill`
 * (so `status` and the metrics see it) and, when a drill failed, an alert through notifyRun.
 */
import { randomUUID } from 'node:crypto'
import { hostname } from 'node:os'
import { appendRun, failureRecord, type DatabaseResult, type RunRecord } from '../catalog/journal.js'
import { cronFor } from '../config/schedule.js'
import type { Config } from '../config/types.js'
import { acquireLock } from '../catalog/lock.js'
import { GLOBALS_DATABASE } from '../engines/index.js'
import { notifyRun } from '../notify/index.js'
import { describeError, toDbkeeperError } from '../runtime/errors.js'
import type { Logger } from '../runtime/logger.js'
import { drillBackup } from './drill.js'
import { sweepScratch } from './scratch.js'
import { latestBackups } from './locate.js'

/** Drills the latest backup of each database. The caller holds the lock. Never throws for one drill. */
export async function runDrills(config: Config, logger: Logger, signal: AbortSignal): Promise<RunRecord> {
  const startedAt = new Date()
  const results: DatabaseResult[] = []
  await sweepScratch(config, logger, signal)
  // The roles and tablespaces are not drilled: restoring them would change the live server.
  const entries = (await latestBackups(config, {}, { logger })).filter((e) => e.manifest.database !== GLOBALS_DATABASE)
  for (const entry of entries) {
    if (signal.aborted) break
    const m = entry.manifest
    const source = config.sources.find((s) => s.label === m.source)!
    const started = Date.now()
    try {
      const r = await drillBackup({ config, source, entry, signal, logger })
      logger.info(
        {
          source: m.source,
          database: m.database,
          backup: m.id,
          compared: r.compared,
          durationMs: r.durationMs,
          ...(r.server ? { drillServer: r.server } : {}),
        },
        `drill passed: ${m.id} restores to what it holds`,
      )
      results.push({
        source: m.source,
        database: m.database,
        ok: true,
        drilled: m.id,
        finishedAt: new Date().toISOString(),
        durationMs: Date.now() - started,
      })
    } catch (error) {
      const e = toDbkeeperError(error)
      logger.error({ source: m.source, database: m.database, backup: m.id, code: e.code, hint: e.hint }, e.message)
      results.push({
        source: m.source,
        database: m.database,
        ok: false,
        drilled: m.id,
        finishedAt: new Date().toISOString(),
        durationMs: Date.now() - started,
        error: { code: e.code, message: e.message, ...(e.hint ? { hint: e.hint } : {}) },
      })
    }
  }
  if (entries.length === 0) logger.warn('drill: there is no proven backup to drill yet')
  const record: RunRecord = {
    runId: `drill-${startedAt.toISOString().replace(/[-:.]/g, '')}-${randomUUID().slice(0, 8)}`,
    trigger: 'drill',
    host: hostname(),
    pid: process.pid,
    startedAt: startedAt.toISOString(),
    finishedAt: new Date().toISOString(),
    ok: results.every((r) => r.ok),
    results,
  }
  await appendRun(config.backupDir, record).catch((error: unknown) =>
    logger.error({ err: error }, 'could not append the drill to the run journal'),
  )
  return record
}

export interface DrillSchedule {
  /** Stops the schedule, aborts a running drill (its scratch database is still dropped) and waits for it. */
  stop(): Promise<void>
}

/** The daemon's second cron job. Does nothing when DRILL_SCHEDULE is unset. */
export function startDrillSchedule(config: Config, logger: Logger): DrillSchedule {
  const pattern = config.restore.drillSchedule
  if (pattern === undefined) return { stop: () => Promise.resolve() }
  const cron = cronFor(pattern, config.tz)
  const abort = new AbortController()
  let running: Promise<void> | undefined
  const job = async (): Promise<void> => {
    let record: RunRecord
    try {
      const lock = await acquireLock(config.backupDir, {
        command: 'daemon (drill)',
        wait: true,
        signal: abort.signal,
        logger,
      })
      try {
        record = await runDrills(config, logger, abort.signal)
      } finally {
        await lock.release()
      }
    } catch (error) {
      const e = toDbkeeperError(error)
      if (abort.signal.aborted) return
      logger.error({ code: e.code }, `drill could not run: ${describeError(e)}`)
      record = failureRecord('drill', 'drill', [{ code: e.code, message: describeError(e) }])
      // So that `status` and the metrics see it too (unless the volume is what failed).
      await appendRun(config.backupDir, record).catch((err: unknown) =>
        logger.error({ err }, 'could not append the failed drill to the run journal'),
      )
    }
    await notifyRun(record, config, logger)
  }
  cron.schedule(() => {
    if (running) return void logger.warn('the previous drill is still running; this scheduled drill is skipped')
    running = job().finally(() => {
      running = undefined
    })
  })
  logger.info({ drillSchedule: pattern, next: cron.nextRun()?.toISOString() }, 'restore drills scheduled')
  return {
    async stop() {
      cron.stop()
      abort.abort()
      await running
    },
  }
}
