/**
 * Point-in-time recovery, engine-neutral: the contracts an engine fills to archive a database
 * continuously (Archiver: a supervised child the daemon runs) and to read that archive back
 * (Archive: its ranges, its lag, and the database as of a time, for restore/at-time.ts). SQLite
 * fills them with Litestream (sqlite/archiver.ts, sqlite/archive.ts); MySQL/MariaDB will with the
 * binlog (mariadb-binlog --stop-never), behind the same two interfaces.
 *
 * Also the pure rules of a window: which range holds a time, how a window is told to a person.
 */
import { formatDuration } from '../runtime/duration.js'
import { DbkeeperError } from '../runtime/errors.js'
import type { TableInfo } from './engine.js'

/**
 * A stretch of time a restore can reach without a hole: from the base it starts with (a Litestream
 * snapshot, a dump) to the newest archived change. A new range starts where the archive lost its
 * position (a new Litestream generation; a binlog purged before it was shipped): between two
 * ranges lies a gap no restore can reach.
 */
export interface ArchiveRange {
  from: Date
  to: Date
  /** The engine's name for the base of this range (a Litestream generation). */
  base: string
}

export interface ArchiveState {
  /** Oldest first; empty when nothing is archived yet. */
  ranges: ArchiveRange[]
  /** When the newest change was archived; undefined when nothing is. */
  archivedAt: Date | undefined
  /**
   * How far the archive is behind the live database: 0 when every change is archived, else the age
   * of the newest archived change (what would be lost now). Undefined when nothing is archived.
   */
  lagMs: number | undefined
}

/** The database as of a time, in a file: checked (integrity_check), its tables counted exactly. */
export interface Materialized {
  /** The content's kind, as a backup's: `db` an SQLite file. */
  format: 'db' | 'sql'
  tables: TableInfo[]
  /** The tool that rolled it forward, e.g. `litestream v0.3.13`. */
  tool: string
}

export interface Archive {
  /** Reads the archive where it lies; needs no running archiver. Never throws for a missing archive. */
  state(now: Date): Promise<ArchiveState>
  /**
   * Writes the database as it was at `at` into `outFile` (which must not exist), from `range`
   * (one of state()'s, holding `at`), and proves it readable. Rejects with a DbkeeperError naming
   * the tool's failure, or the check's (RESTORE_FAILED). `workDir`: private temporary files.
   */
  materialize(
    at: Date,
    range: ArchiveRange,
    outFile: string,
    workDir: string,
    signal: AbortSignal,
  ): Promise<Materialized>
}

/** The archiving child of one database, supervised (engines/supervisor.ts). */
export interface Archiver {
  /** Restarts after a death so far. */
  readonly restarts: number
  /** The running child's pid, undefined between a death and its restart. */
  readonly pid: number | undefined
  /** Stops it (idempotent), letting it archive what it has read. */
  stop(): Promise<void>
}

/** The range that holds `at`, if any. */
export function rangeAt(ranges: readonly ArchiveRange[], at: Date): ArchiveRange | undefined {
  return ranges.find((r) => r.from.getTime() <= at.getTime() && at.getTime() <= r.to.getTime())
}

/**
 * The range of `ranges` that holds `at`, or the refusal of a restore to that time (a time in the
 * future, outside the window or in a gap of it), naming `window` (what the archive reaches, told
 * by the engine's caller) and saying that nothing was changed.
 */
export function rangeOrRefuse(
  ranges: readonly ArchiveRange[],
  at: Date,
  now: Date,
  window: string,
  sourceLabel: string,
): ArchiveRange {
  if (at.getTime() > now.getTime()) {
    throw new DbkeeperError('USAGE', `--at ${at.toISOString()} is in the future: ${window}`, {
      hint: 'choose a time inside the window (dbkeeper status shows it)',
    })
  }
  const range = rangeAt(ranges, at)
  if (range) return range
  throw new DbkeeperError('NOT_FOUND', `no restore to ${at.toISOString()} is possible: ${window}`, {
    hint: `choose a time inside the window, or restore a scheduled backup (dbkeeper list --source ${sourceLabel}); nothing was changed`,
  })
}

/** "2026-12-04T10:00:00Z – 2026-12-05T06:40:12Z" (and the others, when the archive has gaps). */
export function describeRanges(ranges: readonly ArchiveRange[]): string {
  if (ranges.length === 0) return 'nothing archived yet'
  const iso = (d: Date) => `${d.toISOString().slice(0, 19)}Z`
  const parts = ranges.map((r) => `${iso(r.from)} – ${iso(r.to)}`)
  const gaps = ranges.length > 1 ? ` (${ranges.length - 1} gap${ranges.length > 2 ? 's' : ''} between)` : ''
  return `${parts.join(', ')}${gaps}`
}

/** "lag 0s" / "lag 3m 5s" / "nothing archived" */
export function describeLag(lagMs: number | undefined): string {
  return lagMs === undefined ? 'nothing archived' : `lag ${formatDuration(lagMs)}`
}
