/**
 * Health, metrics and the status page for the daemon in one call: the run history (journal and
 * catalog) is read once and then followed (run-history.ts); the HTTP server (unless HEALTH_PORT=0)
 * serves /healthz, /metrics, the page and its API from it, after catching up with runs other
 * processes appended to the journal.
 */
import type { RunRecord } from '../catalog/journal.js'
import type { Logger } from '../runtime/logger.js'
import type { StatusConfig } from './current-status.js'
import { startHealthServer, type HealthServer } from './http.js'
import { createBackupMetrics, type BackupMetrics } from './metrics.js'
import { pageRoutes, type BackupNowResult } from './page/routes.js'
import { registerPitrMetrics } from './pitr-metrics.js'
import { readPitrStates } from './pitr-status.js'
import { RunHistory } from './run-history.js'

export interface Observability {
  readonly metrics: BackupMetrics
  readonly history: RunHistory
  /** Undefined when HEALTH_PORT=0. */
  readonly server: HealthServer | undefined
  /** Call after each run's journal record is appended (idempotent per runId). */
  observeRun(record: RunRecord): void
  close(): Promise<void>
}

export async function startObservability(
  config: StatusConfig,
  logger: Logger,
  opts: { host?: string; backupNow?: (source: string) => BackupNowResult } = {},
): Promise<Observability> {
  const history = await RunHistory.open(config)
  const databases = config.sources.flatMap((s) =>
    s.databases === 'ALL' ? [] : s.databases.map((database) => ({ source: s.label, database })),
  )
  const metrics = createBackupMetrics({ runs: history.runs, backups: history.backups, databases })
  if (config.sources.some((s) => s.pitr)) registerPitrMetrics(metrics.registry, config)
  // Every catch-up feeds the metrics, the page's and the API's too: a run found there must not be
  // missing from /metrics.
  history.onNewRuns = (runs) => metrics.observeJournal(runs)
  const refresh = async (): Promise<void> => {
    await history.refresh()
  }
  const server =
    config.daemon.healthPort === 0
      ? undefined
      : await startHealthServer({
          port: config.daemon.healthPort,
          host: opts.host,
          getStatus: async () => {
            await refresh()
            const now = new Date()
            return history.status(now, await readPitrStates(config, now))
          },
          registry: metrics.registry,
          beforeMetrics: refresh,
          app: pageRoutes({
            history,
            sources: config.sources.map((s) => s.label),
            auth: config.daemon.statusAuth,
            backupNow: opts.backupNow,
            pitr: (now) => readPitrStates(config, now),
          }),
          logger,
        })
  return {
    metrics,
    history,
    server,
    observeRun: (record) => metrics.observeRun(record),
    close: async () => server?.close(),
  }
}
