/**
 * The point-in-time archives on /metrics, read at each scrape (like /healthz, from the volume):
 * `dbkeeper_pitr_lag_seconds`, and the window's start and end, per source and database.
 */
import { Gauge, type Registry } from 'prom-client'
import type { Config } from '../config/types.js'
import { readPitrStates } from './pitr-status.js'

const LABELS = ['source', 'database'] as const

export function registerPitrMetrics(registry: Registry, config: Pick<Config, 'backupDir' | 'sources'>): void {
  let reading: Promise<Awaited<ReturnType<typeof readPitrStates>>> | undefined
  // One read of the volume per scrape, shared by the three gauges.
  const read = () => {
    reading ??= readPitrStates(config, new Date()).finally(() => setTimeout(() => (reading = undefined), 500))
    return reading
  }
  const gauge = (
    name: string,
    help: string,
    value: (s: Awaited<ReturnType<typeof readPitrStates>>[number]) => number | undefined,
  ) =>
    new Gauge({
      name,
      help,
      labelNames: LABELS,
      registers: [registry],
      async collect() {
        this.reset()
        for (const r of await read()) {
          const v = value(r)
          if (v !== undefined) this.set({ source: r.source, database: r.database }, v)
        }
      },
    })
  gauge(
    'dbkeeper_pitr_lag_seconds',
    'How far the point-in-time archive of each DBnn_PITR database is behind the live database (0: caught up). Absent while nothing is archived.',
    (r) => (r.state.lagMs === undefined ? undefined : r.state.lagMs / 1000),
  )
  gauge(
    'dbkeeper_pitr_window_start_timestamp_seconds',
    'Unix time of the oldest moment a restore to a time can reach.',
    (r) => (r.state.ranges[0] ? r.state.ranges[0].from.getTime() / 1000 : undefined),
  )
  gauge(
    'dbkeeper_pitr_window_end_timestamp_seconds',
    'Unix time of the newest moment a restore to a time can reach.',
    (r) => (r.state.ranges.at(-1) ? r.state.ranges.at(-1)!.to.getTime() / 1000 : undefined),
  )
}
