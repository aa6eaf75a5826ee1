/**
 * Health and metrics for the daemon in one call: the metrics start from the journal and the
 * catalog, the HTTP server (unless HEALTH_PORT=0) serves /healthz from the volume and /metrics
 * after catching up with runs other processes appended to the journal.
 */
import { listBackups } from '../catalog/catalog.js'
import { readRuns, type RunRecord } from '../catalog/journal.js'
import type { Logger } from '../runtime/logger.js'
import { readStatus, type StatusConfig } from './current-status.js'
import { startHealthServer, type HealthServer } from './http.js'
import { createBackupMetrics, type BackupMetrics } from './metrics.js'

export interface Observability {
  readonly metrics: BackupMetrics
  /** Undefined when HEALTH_PORT=0. */
  readonly server: HealthServer | undefined
  /** Call after each run's journal record is appended (idempotent per runId). */
  observeRun(record: RunRecord): void
  close(): Promise<void>
}

export async function startObservability(
  config: StatusConfig,
  logger: Logger,
  opts: { host?: string } = {},
): Promise<Observability> {
  const [runs, backups] = await Promise.all([readRuns(config.backupDir), listBackups(config.backupDir)])
  const databases = config.sources.flatMap((s) =>
    s.databases === 'ALL' ? [] : s.databases.map((database) => ({ source: s.label, database })),
  )
  const metrics = createBackupMetrics({ runs, backups, databases })
  const server =
    config.daemon.healthPort === 0
      ? undefined
      : await startHealthServer({
          port: config.daemon.healthPort,
          host: opts.host,
          getStatus: () => readStatus(config),
          registry: metrics.registry,
          beforeMetrics: async () => metrics.observeJournal(await readRuns(config.backupDir)),
          logger,
        })
  return {
    metrics,
    server,
    observeRun: (record) => metrics.observeRun(record),
    close: async () => server?.close(),
  }
}
