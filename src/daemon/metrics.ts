/**
 * Prometheus metrics of the daemon (prom-client), on a registry of their own so that tests and a
 * second daemon instance in one process never share series.
 *
 * Gauges start from history (journal + catalog) so that a restart does not turn "last success"
 * into "never" and fire every staleness alert; counters count since the process started (the
 * usual Prometheus contract: `increase()` copes with the reset) and start at 0 for every known
 * source/database, so that the first failure after a restart is an increase, not a new series.
 *
 * Restore drills (journal records with trigger `drill`) have series of their own and never touch
 * the backup series: a passed drill is not a backup, a failed one not a failed backup.
 */
import { Counter, Gauge, Registry } from 'prom-client'
import type { CatalogEntry } from '../catalog/catalog.js'
import { offsitesOf, isDrill, type DatabaseResult, type RunRecord } from '../catalog/journal.js'
import { latestProvenBackups } from '../catalog/latest.js'

export interface BackupMetrics {
  readonly registry: Registry
  /**
   * Updates every series with one finished run; call it after the run's journal record is written.
   * Idempotent per `runId`: a run seen before (in the history, or observed already) changes nothing.
   */
  observeRun(record: RunRecord): void
  /**
   * Observes the runs of the journal not seen yet: manual `docker exec` runs happen in another
   * process, so the daemon catches up with them from the journal before each scrape.
   */
  observeJournal(runs: readonly RunRecord[]): void
}

export interface MetricsHistory {
  /** The journal, oldest first (readRuns). */
  runs: readonly RunRecord[]
  /** The catalog (listBackups): proven backups count even when the journal lost them. */
  backups?: readonly CatalogEntry[]
  /** `source/database` pairs to create at 0, e.g. the configured ones (ALL sources: from history). */
  databases?: readonly { source: string; database: string }[]
}

const LABELS = ['source', 'database'] as const
const TARGET_LABELS = ['source', 'database', 'target'] as const

export function createBackupMetrics(history: MetricsHistory = { runs: [] }): BackupMetrics {
  const registry = new Registry()
  const lastSuccess = new Gauge({
    name: 'dbkeeper_last_success_timestamp_seconds',
    help: "Unix time at which the newest proven backup of each database finished (its manifest's finishedAt).",
    labelNames: LABELS,
    registers: [registry],
  })
  const lastSize = new Gauge({
    name: 'dbkeeper_last_backup_size_bytes',
    help: 'Size on disk (compressed) of the newest proven backup of each database.',
    labelNames: LABELS,
    registers: [registry],
  })
  const lastBackupDuration = new Gauge({
    name: 'dbkeeper_last_backup_duration_seconds',
    help: 'How long the newest proven backup of each database took (dump, compression, read-back proof).',
    labelNames: LABELS,
    registers: [registry],
  })
  const backupsTotal = new Counter({
    name: 'dbkeeper_backups_total',
    help: 'Database backups finished since the process started, by outcome (ok, failed); database "*" is a source that failed before any database.',
    labelNames: [...LABELS, 'outcome'],
    registers: [registry],
  })
  const lastDuration = new Gauge({
    name: 'dbkeeper_last_run_duration_seconds',
    help: 'Wall-clock duration of the last finished run (all databases).',
    registers: [registry],
  })
  const runsTotal = new Counter({
    name: 'dbkeeper_runs_total',
    help: 'Runs finished since the process started, manual runs included.',
    registers: [registry],
  })
  const failuresTotal = new Counter({
    name: 'dbkeeper_failures_total',
    help: 'Failed database backups since the process started; database "*" is a source that failed before any database.',
    labelNames: LABELS,
    registers: [registry],
  })
  const lastDrillSuccess = new Gauge({
    name: 'dbkeeper_last_drill_success_timestamp_seconds',
    help: 'Unix time of the newest passed restore drill (DRILL_SCHEDULE) of each database.',
    labelNames: LABELS,
    registers: [registry],
  })
  const lastDrillOk = new Gauge({
    name: 'dbkeeper_last_drill_ok',
    help: '1 when the newest restore drill of each database passed, 0 when it failed.',
    labelNames: LABELS,
    registers: [registry],
  })
  const drillRunsTotal = new Counter({
    name: 'dbkeeper_drill_runs_total',
    help: 'Restore drill runs (DRILL_SCHEDULE) finished since the process started.',
    registers: [registry],
  })
  const drillFailuresTotal = new Counter({
    name: 'dbkeeper_drill_failures_total',
    help: 'Failed restore drills since the process started; source and database "*" is a drill run that failed before drilling any database.',
    labelNames: LABELS,
    registers: [registry],
  })

  const offsiteSuccess = new Gauge({
    name: 'dbkeeper_offsite_last_success_timestamp_seconds',
    help: 'Unix time of the newest run whose off-site step succeeded on each target (S3, S3_2, …) for each database: its backup confirmed there, or not needed there by the target’s retention.',
    labelNames: TARGET_LABELS,
    registers: [registry],
  })
  const offsiteFailures = new Counter({
    name: 'dbkeeper_offsite_failures_total',
    help: 'Failed off-site copies per target (S3, S3_2, …) and database since the process started.',
    labelNames: TARGET_LABELS,
    registers: [registry],
  })
  const newestOffsite = new Map<string, number>()
  /** Each target's outcome of one database's result; `count` adds failures (not when replaying history). */
  function applyOffsite(r: DatabaseResult, at: number, count: boolean): void {
    for (const o of offsitesOf(r)) {
      const labels = { source: r.source, database: r.database, target: o.target ?? 'S3' }
      offsiteFailures.inc(labels, 0)
      if (!o.ok) {
        if (count) offsiteFailures.inc(labels)
        continue
      }
      const key = `${labels.source}/${labels.database}/${labels.target}`
      if ((newestOffsite.get(key) ?? -Infinity) > at) continue
      newestOffsite.set(key, at)
      offsiteSuccess.set(labels, at)
    }
  }

  /** Keeps the newest value only: history is replayed in any order, and a manual run may finish late. */
  const newest = new Map<string, number>()
  function setSuccess(
    source: string,
    database: string,
    atSeconds: number,
    size: number | undefined,
    durationMs: number | undefined,
  ): void {
    const key = `${source}/${database}`
    if ((newest.get(key) ?? -Infinity) > atSeconds) return
    newest.set(key, atSeconds)
    lastSuccess.set({ source, database }, atSeconds)
    if (size !== undefined) lastSize.set({ source, database }, size)
    if (durationMs !== undefined) lastBackupDuration.set({ source, database }, durationMs / 1000)
    zeroCounters(source, database)
  }

  /** Known series start at 0, so that the first failure after a restart is an increase. */
  function zeroCounters(source: string, database: string): void {
    failuresTotal.inc({ source, database }, 0)
    backupsTotal.inc({ source, database, outcome: 'ok' }, 0)
    backupsTotal.inc({ source, database, outcome: 'failed' }, 0)
  }

  /**
   * When a database's backup finished: its own time (the result's `finishedAt`, or for journal
   * lines written before that field, its manifest's), not the run's, which ends after the last
   * database of the run. The run's end only when neither is known.
   */
  const backupTimes = new Map(
    (history.backups ?? []).map((e) => [
      `${e.manifest.source}/${e.manifest.database}/${e.manifest.id}`,
      e.manifest.finishedAt,
    ]),
  )
  const finishedAt = (r: DatabaseResult, record: RunRecord): number =>
    Date.parse(r.finishedAt ?? backupTimes.get(`${r.source}/${r.database}/${r.id ?? ''}`) ?? record.finishedAt) / 1000

  let lastRunFinished = -Infinity
  function applyGauges(record: RunRecord, count = false): void {
    const finished = Date.parse(record.finishedAt) / 1000
    if (finished >= lastRunFinished) {
      lastRunFinished = finished
      lastDuration.set(Math.max(0, finished - Date.parse(record.startedAt) / 1000))
    }
    for (const r of record.results) {
      if (r.ok && r.id !== undefined) setSuccess(r.source, r.database, finishedAt(r, record), r.size, r.durationMs)
      else zeroCounters(r.source, r.database)
      applyOffsite(r, finishedAt(r, record), count)
    }
  }

  /** Newest first, as for backups: the verdict of the newest drill, the time of the newest passed one. */
  const newestDrill = new Map<string, number>()
  const newestDrillPassed = new Map<string, number>()
  function applyDrill(record: RunRecord): void {
    for (const r of record.results) {
      const labels = { source: r.source, database: r.database }
      const key = `${r.source}/${r.database}`
      const at = finishedAt(r, record)
      drillFailuresTotal.inc(labels, 0)
      if ((newestDrill.get(key) ?? -Infinity) <= at) {
        newestDrill.set(key, at)
        lastDrillOk.set(labels, r.ok ? 1 : 0)
      }
      if (r.ok && (newestDrillPassed.get(key) ?? -Infinity) <= at) {
        newestDrillPassed.set(key, at)
        lastDrillSuccess.set(labels, at)
      }
    }
  }

  const seen = new Set<string>()
  for (const run of history.runs) {
    seen.add(run.runId)
    if (isDrill(run)) applyDrill(run)
    else applyGauges(run)
  }
  // The history is read at start: "the future" is judged by the clock at start.
  for (const entry of latestProvenBackups(history.backups ?? [], new Date()).values()) {
    const m = entry.manifest
    setSuccess(m.source, m.database, Date.parse(m.finishedAt) / 1000, m.compressed.size, m.durationMs)
  }
  for (const d of history.databases ?? []) {
    zeroCounters(d.source, d.database)
    drillFailuresTotal.inc({ source: d.source, database: d.database }, 0)
  }
  runsTotal.inc(0)
  drillRunsTotal.inc(0)

  function observeRun(record: RunRecord): void {
    if (seen.has(record.runId)) return
    seen.add(record.runId)
    if (isDrill(record)) {
      applyDrill(record)
      drillRunsTotal.inc()
      for (const r of record.results) if (!r.ok) drillFailuresTotal.inc({ source: r.source, database: r.database })
      if (!record.ok && record.results.length === 0) drillFailuresTotal.inc({ source: '*', database: '*' })
      return
    }
    applyGauges(record, true)
    runsTotal.inc()
    for (const r of record.results) {
      if (!r.ok) failuresTotal.inc({ source: r.source, database: r.database })
      backupsTotal.inc({ source: r.source, database: r.database, outcome: r.ok ? 'ok' : 'failed' })
    }
  }
  return {
    registry,
    observeRun,
    observeJournal(runs: readonly RunRecord[]): void {
      for (const run of runs) observeRun(run)
    },
  }
}
