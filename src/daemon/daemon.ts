/**
 * The appliance's main process: backups on SCHEDULE (croner, in TZ), one at start, never two at
 * once (the volume lock is shared with manual `docker exec` runs), health/metrics over HTTP,
 * alerts after runs. SIGTERM/SIGINT stop the schedule and let a running backup finish for up to
 * SHUTDOWN_TIMEOUT; BACKUP_ON_SHUTDOWN takes one last backup first. DBnn_PITR sources are
 * archived continuously by supervised children (archivers.ts) from start to stop.
 */
import { hostname } from 'node:os'
import { failureRecord, type RunRecord, type RunTrigger } from '../catalog/journal.js'
import { cronFor } from '../config/schedule.js'
import type { Config } from '../config/types.js'
import { notifyRun } from '../notify/index.js'
import { prepareBackupDir } from '../config/backup-dir.js'
import { pingRunEnd, sendPing } from '../notify/ping.js'
import { runBackups } from '../pipeline/run.js'
import { startDrillSchedule } from '../restore/drill-run.js'
import { sweepScratch } from '../restore/scratch.js'
import { DbkeeperError, describeError, toDbkeeperError } from '../runtime/errors.js'
import type { Logger } from '../runtime/logger.js'
import { acquireLock } from '../catalog/lock.js'
import { startArchivers } from './archivers.js'
import { pitrDatabases, readPitrStates } from './pitr-status.js'
import { pitrWatchInterval, startPitrWatch, type PitrEvent } from './pitr-watch.js'
import { startObservability } from './observability.js'
import type { BackupNowResult } from './page/routes.js'
import { runPreflight } from './preflight.js'

export async function runDaemon(config: Config, logger: Logger, shutdown: AbortSignal): Promise<void> {
  const cron = cronFor(config.daemon.schedule, config.tz)
  // "Back up now" on the status page: bound once the run machinery below exists.
  const page: { backupNow?: (source: string) => BackupNowResult } = {}
  const obs = await startObservability(config, logger, {
    backupNow: (source) => page.backupNow?.(source) ?? { started: false, reason: 'the daemon is starting: try again' },
  }).catch((error: unknown) => {
    if ((error as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw error
    throw new DbkeeperError('CONFIG', `HEALTH_PORT ${config.daemon.healthPort} is already in use`, {
      hint: 'set HEALTH_PORT to a free port, or 0 for no health server (is another dbkeeper daemon running?)',
      cause: error,
    })
  })
  logger.info(
    {
      schedule: config.daemon.schedule,
      tz: config.tz,
      healthPort: obs.server?.port ?? 0,
      sources: config.sources.map((s) => s.label),
    },
    'dbkeeper daemon started',
  )

  // Runs are aborted only when a shutdown outlasts SHUTDOWN_TIMEOUT, not by the signal itself.
  const runAbort = new AbortController()
  let running: Promise<void> | undefined
  let pendingSchedule = false

  /** `only`: the sources of a "back up now" from the status page; all when undefined. */
  const runOnce = async (trigger: RunTrigger, only?: string[]): Promise<void> => {
    const startedAt = new Date().toISOString()
    let record: RunRecord
    try {
      await prepareBackupDir(config.backupDir)
      const lock = await acquireLock(config.backupDir, {
        command: `daemon (${trigger})`,
        wait: true,
        background: true,
        signal: runAbort.signal,
        logger,
      })
      // Once the lock is held: the time the ping service measures is the run's, not the wait's.
      await sendPing(config.notify.ping, 'start', logger)
      try {
        await sweepScratch(config, logger, runAbort.signal)
        record = (await runBackups({ config, logger, trigger, signal: runAbort.signal, only })).record
      } finally {
        await lock.release()
      }
      obs.observeRun(record)
      const failed = record.results.filter((r) => !r.ok)
      logger[record.ok ? 'info' : 'error'](
        { runId: record.runId, trigger, failed: failed.map((f) => `${f.source}/${f.database}`) },
        record.ok
          ? `run finished: ${record.results.length} backup(s) proven`
          : `run finished with ${failed.length} failure(s)`,
      )
    } catch (error) {
      const e = toDbkeeperError(error)
      logger.error({ trigger, code: e.code }, `run failed before any backup: ${describeError(e)}`)
      // No journal line is possible when the volume is what failed: the alert is the only trace.
      record = {
        runId: `${trigger}-${startedAt}`,
        trigger,
        host: hostname(),
        pid: process.pid,
        startedAt,
        finishedAt: new Date().toISOString(),
        ok: false,
        results: [],
        errors: [{ code: e.code, message: describeError(e) }],
      }
    }
    // After the lock is released: a mail server that hangs for its timeouts must not hold up a
    // manual `dbkeeper backup`, which would exit 3 meanwhile.
    await Promise.all([notifyRun(record, config, logger), pingRunEnd(config.notify.ping, record, logger)])
    const next = cron.nextRun()
    if (next && !shutdown.aborted)
      logger.info({ next: next.toISOString() }, `next scheduled run at ${next.toISOString()}`)
  }

  const trigger = (why: RunTrigger): void => {
    if (shutdown.aborted) return
    if (running) {
      // A run that outlasts the interval must not be stacked on: one catch-up run follows it.
      if (why === 'schedule' && !pendingSchedule)
        logger.warn('the previous run is still going; the scheduled run will start when it ends')
      pendingSchedule = why === 'schedule' || pendingSchedule
      return
    }
    start(why)
  }

  // Sources whose point-in-time archive has a new gap, waiting for the running backup to end.
  const pendingBases = new Set<string>()
  const start = (why: RunTrigger, only?: string[]): void => {
    running = runOnce(why, only).finally(() => {
      running = undefined
      if (pendingBases.size > 0 && !shutdown.aborted) {
        const sources = [...pendingBases]
        pendingBases.clear()
        start('pitr-gap', sources)
      } else if (pendingSchedule && !shutdown.aborted) {
        pendingSchedule = false
        trigger('schedule')
      }
    })
  }

  /** A fresh base backup of these sources now, or as soon as the running backup ended. */
  const freshBase = (sources: string[]): void => {
    if (shutdown.aborted) return
    logger.info(
      { sources },
      `taking a fresh base backup of ${sources.join(', ')} after a gap in its point-in-time archive`,
    )
    if (running) for (const s of sources) pendingBases.add(s)
    else start('pitr-gap', sources)
  }

  page.backupNow = (source) => {
    if (shutdown.aborted) return { started: false, reason: 'the daemon is shutting down' }
    if (running) return { started: false, reason: 'a run is going already: try again when it has finished' }
    logger.info({ source }, `back up now: ${source} (from the status page)`)
    start('manual', [source])
    return { started: true }
  }

  // Logged and alerted, never fatal: a source that is down at start may be back by the first run.
  runPreflight(config, logger)
    .then(async (checks) => {
      const failedChecks = checks.filter((c) => !c.ok)
      for (const c of checks)
        // A check that passed with a warning (a binlog in STATEMENT format) is logged as one.
        logger[!c.ok ? 'error' : c.detail.includes('warning: ') ? 'warn' : 'info'](
          { check: c.name },
          `preflight ${c.ok ? 'ok' : 'FAILED'}: ${c.name}: ${c.detail}`,
        )
      if (failedChecks.length > 0) {
        await notifyRun(
          failureRecord(
            'preflight',
            'start',
            failedChecks.map((c) => ({ code: 'PREFLIGHT', message: `${c.name}: ${c.detail}` })),
          ),
          config,
          logger,
        )
      }
    })
    .catch((error: unknown) => logger.error({ err: error }, `preflight could not run: ${describeError(error)}`))

  // DBnn_PITR: the archivers run from start to stop, beside the scheduled dumps; the watch reads
  // their archives, its baseline taken before they start.
  const watch =
    pitrDatabases(config.sources).length > 0
      ? await startPitrWatch({
          read: (now) => readPitrStates(config, now),
          maxLagMs: config.pitr.maxLagMs,
          intervalMs: pitrWatchInterval(config.pitr.maxLagMs),
          logger,
          backUp: freshBase,
          alert: async (events) => {
            await notifyRun(pitrAlertRecord(events), config, logger)
          },
        })
      : undefined
  const archivers = await startArchivers(config, logger)
  cron.schedule(() => trigger('schedule'))
  // DRILL_SCHEDULE: restore drills as a second job; they share the volume lock with the backups.
  const drills = startDrillSchedule(config, logger)
  if (config.daemon.backupOnStart) trigger('start')
  else logger.info({ next: cron.nextRun()?.toISOString() }, 'waiting for the first scheduled run')

  await new Promise<void>((resolve) => {
    if (shutdown.aborted) resolve()
    else shutdown.addEventListener('abort', () => resolve(), { once: true })
  })
  cron.stop()
  watch?.stop()
  await drills.stop()
  logger.info(
    { timeoutMs: config.daemon.shutdownTimeoutMs },
    running ? 'shutting down: letting the running backup finish' : 'shutting down',
  )
  const deadline = Date.now() + config.daemon.shutdownTimeoutMs
  if (running && !(await settlesWithin(running, config.daemon.shutdownTimeoutMs))) {
    logger.error(
      'the running backup did not finish within SHUTDOWN_TIMEOUT: stopping it (its partial file is removed, nothing is committed)',
    )
    runAbort.abort()
    await settlesWithin(running, 10_000)
  }
  if (config.daemon.backupOnShutdown && runAbort.signal.aborted) {
    // SHUTDOWN_TIMEOUT is spent: a backup started now would be aborted at once and only record
    // (and alert) an empty failed run.
    logger.error('BACKUP_ON_SHUTDOWN: no time left for the last backup (SHUTDOWN_TIMEOUT was spent on the running one)')
  } else if (config.daemon.backupOnShutdown) {
    logger.info('BACKUP_ON_SHUTDOWN: taking one last backup')
    const last = runOnce('shutdown')
    if (!(await settlesWithin(last, Math.max(1000, deadline - Date.now())))) {
      logger.error('the shutdown backup did not finish within SHUTDOWN_TIMEOUT: stopping it')
      runAbort.abort()
      await settlesWithin(last, 10_000)
    }
  }
  // After the last backup: the archivers keep archiving to the end, then sync once more on SIGTERM.
  await archivers.stop()
  await obs.close()
  logger.info('dbkeeper daemon stopped')
}

async function settlesWithin(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<false>((r) => {
    timer = setTimeout(() => r(false), ms)
  })
  const settled = await Promise.race([
    p.then(
      () => true,
      () => true,
    ),
    timeout,
  ])
  clearTimeout(timer)
  return settled
}

/** The alert of the watch's findings, sent as a failed run's is (email, webhook). */
function pitrAlertRecord(events: readonly PitrEvent[]): RunRecord {
  return failureRecord(
    'pitr',
    'pitr-gap',
    events.map((e) => ({ code: e.kind === 'gap' ? 'PITR_GAP' : 'PITR_LAG', message: e.message })),
  )
}
