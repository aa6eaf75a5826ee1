/** The status right now, read from the volume: the I/O shell around the pure computeStatus. */
import { listBackups, type CatalogEntry } from '../catalog/catalog.js'
import { readRuns, type RunRecord } from '../catalog/journal.js'
import { nextRuns } from '../config/schedule.js'
import { syncReads } from '../runtime/sync-reads.js'
import type { Config } from '../config/types.js'
import { readPitrStates, type PitrReading } from './pitr-status.js'
import { computeStatus, type Status } from './status.js'

export type StatusConfig = Pick<Config, 'backupDir' | 'sources' | 'tz' | 'daemon' | 'pitr'>

/**
 * Reads the journal and the catalog on every call: right for `dbkeeper status`, a process that
 * asks once. The daemon answers /healthz from its in-memory history instead (run-history.ts), which
 * computes the same Status from the same journal and catalog. The journal and the catalog are read
 * with node:fs's synchronous calls (runtime/sync-reads.ts): this process has nothing else to do
 * meanwhile, and the status build then does not load fs/promises (docs/PERFORMANCE.md, "Start-up").
 */
export async function readStatus(config: StatusConfig, now = new Date()): Promise<Status> {
  const [runs, backups, pitr] = await Promise.all([
    readRuns(config.backupDir, undefined, syncReads),
    listBackups(config.backupDir, {}, syncReads),
    readPitrStates(config, now, syncReads),
  ])
  return statusOf(config, runs, backups, pitr, now)
}

/** The Status of these runs, backups and archive readings under the config's schedule and limits. */
export function statusOf(
  config: StatusConfig,
  runs: readonly RunRecord[],
  backups: readonly CatalogEntry[],
  pitr: readonly PitrReading[],
  now: Date,
): Status {
  const nextRun = nextRuns(config.daemon.schedule, config.tz, now, 1)[0]
  return computeStatus(runs, backups, config.sources, now, {
    nextRun,
    maxAgeMs: config.daemon.healthMaxAgeMs,
    pitr: { readings: pitr, maxLagMs: config.pitr.maxLagMs },
  })
}
