/**
 * A restore to a time of a MySQL/MariaDB database: the newest proven base dump taken before T whose
 * binlog coordinates lie in a gap-free stretch of the source's binlog archive reaching T, restored
 * by the one restore flow (restore.ts) and rolled forward on the server, in the copy beside the
 * target, before the check and the swap (engines/mysql/binlog-replay.ts): a failed replay leaves
 * the live database as it was. A T no base and archive reach is refused with the window.
 */
import { join } from 'node:path'
import { listBackups, type CatalogEntry } from '../catalog/catalog.js'
import { isProvenBackup } from '../catalog/latest.js'
import { binlogArchiveDir } from '../catalog/naming.js'
import type { DecryptionKeys, SourceConfig } from '../config/types.js'
import type { FileReads } from '../runtime/file-reads.js'
import {
  binlogRanges,
  checkMysqlReplay,
  describeLag,
  describeRanges,
  MysqlArchive,
  rangeOrRefuse,
  reachableRanges,
  replayBinlog,
  replayFrom,
  type ArchiveRange,
  type BinlogBase,
  type ReplayPlan,
} from '../engines/index.js'
import { assertKeysOpen, backupFacts, openContent, verifyBackup } from './content.js'
import type { RestoreItem } from './restore.js'

export interface MysqlPointInTime {
  source: SourceConfig
  database: string
  at: Date
  range: ArchiveRange
  /** The source's binlog archive. */
  dir: string
  base: CatalogEntry
  plan: ReplayPlan
  keys: DecryptionKeys | undefined
}

/**
 * The proven backups of `database` (every database of the source when undefined: `status`'s one
 * window per binlog archive) with binlog coordinates: the bases a replay can start from. `reads`:
 * how the catalog is read (runtime/file-reads.ts; fs/promises when not given).
 */
export async function binlogBases(
  backupDir: string,
  source: Pick<SourceConfig, 'label'>,
  database?: string,
  reads?: FileReads,
) {
  const filter = database === undefined ? { source: source.label } : { source: source.label, database }
  const entries = (await listBackups(backupDir, filter, reads)).filter(
    (e) => isProvenBackup(e) && e.manifest.binlog !== undefined,
  )
  const asBase = (e: CatalogEntry): BinlogBase => ({
    id: e.manifest.id,
    file: e.manifest.binlog!.file,
    position: e.manifest.binlog!.position,
    takenAt: new Date(e.manifest.finishedAt),
  })
  return { entries, bases: entries.map(asBase) }
}

/** Where `at` is reached from; refused (NOT_FOUND) naming the window when nothing reaches it. */
export async function locateMysqlAt(
  backupDir: string,
  source: SourceConfig,
  database: string,
  at: Date,
  now: Date,
  keys: DecryptionKeys | undefined,
): Promise<MysqlPointInTime> {
  const dir = binlogArchiveDir(backupDir, source.label)
  const archive = await new MysqlArchive(dir).runs(now)
  const found = await binlogBases(backupDir, source, database)
  const ranges = reachableRanges(archive.runs, found.bases, archive.caughtUpAt)
  const where = `${source.label}/${database}`
  const window =
    ranges.length > 0
      ? `a restore of ${where} to a time reaches ${describeRanges(ranges)} (${describeLag(archive.lagMs)})`
      : archive.runs.length === 0
        ? `nothing of ${source.label} is archived yet in ${dir} (the daemon archives the binlog of DBnn_PITR sources while it runs: is it running?)`
        : `no proven backup of ${where} lies inside the binlog archive (${describeRanges(binlogRanges(archive.runs, archive.caughtUpAt))}): take one (dbkeeper backup --source ${source.label}), then times after it can be restored`
  const range = rangeOrRefuse(ranges, at, now, window, source.label)
  // A time inside a reachable range has a base before it in the same run (binlog-window.ts).
  const plan = replayFrom(archive.runs, found.bases, archive.caughtUpAt, at)
  if (!plan) throw new Error(`no base before ${at.toISOString()} in the range from ${range.base}`)
  const base = found.entries.find((e) => e.manifest.id === plan.base.id)!
  return { source, database, at, range, dir, base, plan, keys }
}

/** The state at a time as an item of the one restore flow: the base, proven, then rolled forward. */
export function mysqlPointInTimeItem(p: MysqlPointInTime): RestoreItem {
  const iso = `${p.at.toISOString().slice(0, 19)}Z`
  const m = p.base.manifest
  const from = `${p.plan.files[0]}:${p.plan.position}`
  let say = (_line: string) => {}
  return {
    id: `${p.database}@${iso}`,
    engine: 'mysql',
    database: p.database,
    facts: backupFacts(m),
    describe: [
      `  state   ${p.source.label}/${p.database} as of ${p.at.toISOString()}: backup ${m.id} (taken ${m.startedAt.slice(0, 19).replace('T', ' ')} UTC) rolled forward through the binlog archive from ${from}`,
    ],
    async beforeConfirm() {
      await checkMysqlReplay(p.source, new AbortController().signal)
      await assertKeysOpen(p.base, p.keys)
    },
    async prove(workDir, print, signal) {
      say = print
      print(`verifying ${m.id} …`)
      await verifyBackup(p.source, p.base, workDir, signal, p.keys)
      const { proven, unproven } = await new MysqlArchive(p.dir).prove(p.plan.files)
      print(
        `verified ${m.id}; binlog ${p.plan.files.join(', ')}: ${proven.length} proven by sha256${unproven.length ? `, ${unproven.join(', ')} checked event by event as it is replayed` : ''}`,
      )
      // Present is what is checked: the counts at T are not the base's.
      return { open: () => openContent(p.base, p.keys), tables: m.tables.map((t) => ({ name: t.name, rows: 0 })) }
    },
    async rollForward(into, workDir, signal) {
      say(`replaying the binlog from ${from} up to ${p.at.toISOString()} into \`${into}\` …`)
      await replayBinlog({
        source: p.source,
        paths: p.plan.files.map((f) => join(p.dir, f)),
        position: p.plan.position,
        at: p.at,
        database: m.database,
        into,
        label: `database \`${into}\``,
        workDir,
        signal,
        print: say,
      })
      say(`replayed the binlog into \`${into}\``)
    },
  }
}
