/**
 * Retention of a DBnn_PITR MySQL/MariaDB source's binlog archive (`<source>/.pitr/.binlog/`): after
 * the bases are decided, the archived files no base inside PITR_WINDOW needs are removed.
 *
 *   needed bases  per database of the source, the proven backups with binlog coordinates that
 *                 pitrKeeps keeps (the window's base and every one after it), all databases together
 *   removed       the files before the first needed base's coordinates, in the archive's run order
 *                 (engines binlogsNotNeeded: never numbers across a gap, never the growing file)
 *
 * A source with no needed base inside the archive removes nothing. A restore to a time then
 * starts at the oldest base kept, as `status` shows (the window is what the files reach).
 */
import { listBackups } from '../catalog/catalog.js'
import { isProvenBackup } from '../catalog/latest.js'
import { binlogArchiveDir } from '../catalog/naming.js'
import type { SourceConfig } from '../config/types.js'
import { binlogsNotNeeded, readBinlogArchive, readBinlogIndex, removeBinlogs } from '../engines/index.js'
import type { Logger } from '../runtime/logger.js'
import { pitrKeeps } from './pitr.js'

export interface BinlogRetention {
  /** The files removed, oldest first. */
  removed: string[]
  /** The archive's first file after it, undefined when it is empty. */
  startsAt: string | undefined
}

export async function pruneBinlogArchive(args: {
  backupDir: string
  source: Pick<SourceConfig, 'label' | 'engine' | 'pitr'>
  now: Date
  windowMs: number
  logger: Logger
}): Promise<BinlogRetention> {
  const { backupDir, source, now, windowMs, logger } = args
  if (source.engine !== 'mysql' || !source.pitr) return { removed: [], startsAt: undefined }
  const dir = binlogArchiveDir(backupDir, source.label)
  const byDatabase = new Map<string, { id: string; finishedAt: string; file: string }[]>()
  for (const e of await listBackups(backupDir, { source: source.label })) {
    if (!isProvenBackup(e) || e.manifest.binlog === undefined) continue
    const list = byDatabase.get(e.manifest.database) ?? []
    list.push({ id: e.manifest.id, finishedAt: e.manifest.finishedAt, file: e.manifest.binlog.file })
    byDatabase.set(e.manifest.database, list)
  }
  const needed = [...byDatabase.values()].flatMap((bases) => {
    const keep = pitrKeeps(bases, now, windowMs)
    return bases.filter((b) => keep.has(b.id))
  })
  const archive = await readBinlogArchive(dir, now)
  const runs = archive.runs.map((r) => r.files)
  const removed = notAfter(binlogsNotNeeded(runs, needed), await readBinlogIndex(dir), needed)
  const startsAt = runs.flat().find((f) => !removed.includes(f))
  if (removed.length > 0) {
    await removeBinlogs(dir, removed, now)
    logger.info(
      { source: source.label, removed, startsAt },
      `binlog archive of ${source.label}: removed ${removed.length} file(s) no base inside PITR_WINDOW needs (${removed[0]}${removed.length > 1 ? ` … ${removed.at(-1)}` : ''}); it now starts at ${startsAt ?? 'nothing'}`,
    )
  }
  return { removed, startsAt }
}

/**
 * A second rule under the run order, which falls back on modification times where no gap links two
 * runs (a volume copied without its times, a clock set back): only a file proven closed, proven
 * before every needed base's file was (index.jsonl is append-only, so its order is the order the
 * files closed), may go: never the growing file, which has no `closed` line.
 */
function notAfter(
  candidates: string[],
  index: readonly { kind: string; file?: string }[],
  needed: readonly { file: string }[],
): string[] {
  const closedAt = new Map<string, number>()
  index.forEach((e, i) => {
    if (e.kind === 'closed' && e.file !== undefined) closedAt.set(e.file, i)
  })
  const limit = Math.min(...needed.map((b) => closedAt.get(b.file) ?? Infinity))
  return candidates.filter((f) => (closedAt.get(f) ?? Infinity) < limit)
}
