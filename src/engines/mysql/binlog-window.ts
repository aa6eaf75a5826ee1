/**
 * The window of a binlog archive, pure: which times a restore to a time can reach. Two views:
 * - binlogRanges: what the archive holds (for `status`): each run of consecutive files without a
 *   gap (binlog-archive.ts readBinlogArchive) is one range, from its first event to its last (the
 *   newest run: to the last time the archive was caught up with the server, when later).
 * - reachableRanges: what a restore can reach (for `restore --at`): a time T is reachable when a
 *   proven base dump's coordinates lie in a run and that run reaches T. A run without a base in it
 *   is archived but useless: nothing to replay it onto.
 * - binlogsNotNeeded: what retention may remove (retention/binlog.ts): the files before the first
 *   kept base's coordinates, in the archive's run order.
 * Event times have the binlog's one-second resolution; stopDatetime turns T into the argument of
 * `TZ=UTC mariadb-binlog --stop-datetime`, which stops at the first event of that second or later.
 */
import type { ArchiveRange } from '../archive.js'

/** One archived binlog file as read from its event headers (mysql/archive.ts). */
export interface BinlogFileSpan {
  file: string
  /**
   * The first and last event's timestamps; undefined when the file holds no whole event (`last`
   * also when it was not read: only the newest file of a run needs it).
   */
  first: Date | undefined
  last: Date | undefined
  /** The offset after its last whole event (the growing file may end in half an event). */
  end: number
}

/** Consecutive files without a gap, oldest first. */
export type BinlogRunSpans = readonly BinlogFileSpan[]

/** A proven base dump with its binlog coordinates. */
export interface BinlogBase {
  id: string
  file: string
  position: number
  /**
   * A time at which the dump's snapshot was surely taken (the manifest's finishedAt): every T at
   * or after it may start from this base, none before (the dump may hold changes made after T).
   */
  takenAt: Date
}

/** What to replay for a time: from `position` of `files[0]` through the end of the run. */
export interface ReplayPlan {
  base: BinlogBase
  files: string[]
  position: number
}

/** The archive's ranges: each run from its first event to its last (the newest: to `caughtUpAt` when later). */
export function binlogRanges(runs: readonly BinlogRunSpans[], caughtUpAt: Date | undefined): ArchiveRange[] {
  const out: ArchiveRange[] = []
  runs.forEach((run, i) => {
    const from = run.find((f) => f.first)?.first
    const last = run.findLast((f) => f.last)?.last
    if (!from || !last) return
    const newest = i === runs.length - 1
    const to = newest && caughtUpAt && caughtUpAt.getTime() > last.getTime() ? caughtUpAt : last
    out.push({ from, to, base: run[0]!.file })
  })
  return out
}

/** Whether the base's coordinates lie inside this run: its file is archived and holds the position. */
function holds(run: BinlogRunSpans, base: BinlogBase): boolean {
  const file = run.find((f) => f.file === base.file)
  return file !== undefined && base.position >= 4 && base.position <= file.end
}

/**
 * The times a restore can reach: for each run holding a base, from its oldest such base's
 * `takenAt` to the run's end (binlogRanges). `base` names that oldest base. Oldest first.
 */
export function reachableRanges(
  runs: readonly BinlogRunSpans[],
  bases: readonly BinlogBase[],
  caughtUpAt: Date | undefined,
): ArchiveRange[] {
  const out: ArchiveRange[] = []
  runs.forEach((run, i) => {
    const [range] = binlogRanges([run], i === runs.length - 1 ? caughtUpAt : undefined)
    if (!range) return
    const inRun = bases
      .filter((b) => holds(run, b) && b.takenAt.getTime() <= range.to.getTime())
      .sort((a, b) => a.takenAt.getTime() - b.takenAt.getTime())
    const oldest = inRun[0]
    if (!oldest) return
    out.push({ from: oldest.takenAt, to: range.to, base: oldest.id })
  })
  return out
}

/**
 * The newest base before `at` in a run that reaches `at`, and the files to replay from it; or
 * undefined when `at` lies in no reachable range.
 */
export function replayFrom(
  runs: readonly BinlogRunSpans[],
  bases: readonly BinlogBase[],
  caughtUpAt: Date | undefined,
  at: Date,
): ReplayPlan | undefined {
  for (const [i, run] of runs.entries()) {
    const [range] = binlogRanges([run], i === runs.length - 1 ? caughtUpAt : undefined)
    if (!range || at.getTime() > range.to.getTime()) continue
    const base = bases
      .filter((b) => holds(run, b) && b.takenAt.getTime() <= at.getTime())
      .sort((a, b) => b.takenAt.getTime() - a.takenAt.getTime())[0]
    if (!base) continue
    const start = run.findIndex((f) => f.file === base.file)
    return { base, files: run.slice(start).map((f) => f.file), position: base.position }
  }
  return undefined
}

/**
 * The archived files no kept base needs, oldest first: those of the runs before the first run
 * holding a base's file, and those before that base's file in its run. Runs are in the archive's
 * order (binlog-archive.ts readBinlogArchive); numbers are never compared, so files numbered anew
 * after RESET MASTER are judged by their run. A base whose file is not archived needs nothing of
 * the archive (it cannot roll forward through it); with no base inside the archive nothing goes.
 * The newest run's last file (the growing one) is never among them.
 */
export function binlogsNotNeeded(
  runs: readonly (readonly string[])[],
  bases: readonly Pick<BinlogBase, 'file'>[],
): string[] {
  const wanted = new Set(bases.map((b) => b.file))
  for (const [r, run] of runs.entries()) {
    const i = run.findIndex((f) => wanted.has(f))
    if (i >= 0) return [...runs.slice(0, r).flat(), ...run.slice(0, i)]
  }
  return []
}

/**
 * `2026-12-04 10:15:30`: `at` in UTC, cut to the second, for `TZ=UTC mariadb-binlog
 * --stop-datetime` (which reads it in the local zone). Events carry whole seconds, so every event
 * of the second of `at` is left out: nothing after `at` is replayed, at most the changes of the
 * last fraction of a second before it are missing.
 */
export function stopDatetime(at: Date): string {
  return at.toISOString().slice(0, 19).replace('T', ' ')
}
