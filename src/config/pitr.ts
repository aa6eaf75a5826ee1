/**
 * Point-in-time recovery settings: DBnn_PITR per source, PITR_WINDOW and PITR_MAX_LAG globally.
 * SQLite sources are archived by Litestream (engines/sqlite/archiver.ts), MySQL/MariaDB sources by
 * streaming their binlog (engines/mysql/binlog-archiver.ts). PostgreSQL physical PITR is not
 * supported: asking for it is a problem here, so that nobody believes a source is archived when it
 * is not.
 */
import { formatDuration } from '../runtime/duration.js'
import { readDuration } from './daemon.js'
import type { EnvReader } from './reader.js'
import type { EngineKind, PitrConfig } from './types.js'

const DAY_MS = 86_400_000
export const DEFAULT_PITR_WINDOW_MS = 7 * DAY_MS
export const DEFAULT_PITR_MAX_LAG_MS = 60_000

const NOT_SUPPORTED =
  'false or unset: physical point-in-time recovery for PostgreSQL is not supported yet (sqlite and mysql sources can be archived continuously); the scheduled dumps still run'

export function readSourcePitr(r: EnvReader, id: string, engine: EngineKind): boolean {
  const variable = `${id}_PITR`
  const on = r.bool(variable, false)
  if (on && engine === 'postgres') r.problem(variable, r.raw(variable), NOT_SUPPORTED)
  return on && engine !== 'postgres'
}

export function readPitrConfig(r: EnvReader): PitrConfig {
  const windowMs = readDuration(r, 'PITR_WINDOW', DEFAULT_PITR_WINDOW_MS)
  const maxLagMs = readDuration(r, 'PITR_MAX_LAG', DEFAULT_PITR_MAX_LAG_MS)
  if (maxLagMs >= windowMs && r.has('PITR_MAX_LAG'))
    r.problem(
      'PITR_MAX_LAG',
      r.raw('PITR_MAX_LAG'),
      `a duration shorter than PITR_WINDOW (${formatDuration(windowMs)})`,
    )
  return Object.freeze({ windowMs, maxLagMs })
}
