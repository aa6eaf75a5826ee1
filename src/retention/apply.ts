/**
 * Retention on the local volume: list one `<source>/<database>/` directory through the catalog,
 * decide (safety.ts), delete. Only the three files of a backup the plan removes are ever deleted,
 * by exact name derived from its manifest: no globbing, nothing the catalog did not list.
 */
import { unlink } from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'
import { listDatabaseDir, type CatalogEntry } from '../catalog/catalog.js'
import { CHECKSUM_SUFFIX, MANIFEST_SUFFIX, databaseDir } from '../catalog/naming.js'
import type { RetentionPolicy } from '../config/types.js'
import { DbkeeperError, toDbkeeperError } from '../runtime/errors.js'
import type { Logger } from '../runtime/logger.js'
import { failpoint } from '../runtime/failpoint.js'
import { fsyncDir } from '../storage/local/files.js'
import { decideRetention, type BackupVerdict } from './safety.js'

export interface ApplyRetentionArgs {
  backupDir: string
  /** The source's label: its directory under `backupDir`. */
  source: string
  /** The database name, not encoded. */
  database: string
  policy: RetentionPolicy
  /** IANA zone for the buckets (the configuration's `TZ`). */
  tz: string
  now: Date
  /** Plan and report, delete nothing. */
  dryRun: boolean
  logger?: Logger
}

export interface RetentionReport {
  source: string
  database: string
  /** The database directory that was pruned. */
  directory: string
  dryRun: boolean
  tz: string
  policy: RetentionPolicy
  /** Every backup with a manifest in the directory, newest first, with its verdict. */
  backups: BackupVerdict[]
  /** File names deleted from `directory`, in deletion order; empty on a dry run. */
  deleted: string[]
}

/**
 * Applies `policy` to one database's backups. Throws DbkeeperError('RETENTION') when the plan is
 * refused (nothing is deleted then), or an I/O DbkeeperError when a deletion fails (the report of
 * what was deleted before is in the log). Safe to run twice at once: a file already gone is fine.
 */
export async function applyRetention(args: ApplyRetentionArgs): Promise<RetentionReport> {
  const directory = databaseDir(args.backupDir, args.source, args.database)
  const entries = await listDatabaseDir(directory)
  const { verdicts, remove } = decideRetention(entries, args)
  const report: RetentionReport = {
    source: args.source,
    database: args.database,
    directory,
    dryRun: args.dryRun,
    tz: args.tz,
    policy: { ...args.policy },
    backups: verdicts,
    deleted: [],
  }
  const log = args.logger?.child({ source: args.source, database: args.database, dryRun: args.dryRun })
  for (const v of verdicts) log?.info({ backup: v.id, file: v.file, reasons: v.reasons }, `retention: ${v.action}`)
  if (args.dryRun) return report

  for (const entry of remove) {
    const names = await removeBackup(directory, entry)
    report.deleted.push(...names)
    log?.info({ backup: entry.manifest.id, files: names }, 'retention: removed backup')
    failpoint('retention.backup-removed')
  }
  return report
}

/**
 * Deletes one backup: the manifest first and durably, so that a crash in between leaves an unlisted
 * data file (debris), never a listed backup without its data; then the data file and its `.sha256`.
 * Returns the names it deleted.
 */
async function removeBackup(directory: string, entry: CatalogEntry): Promise<string[]> {
  const file = entry.manifest.file
  const dataPath = join(directory, file)
  const manifestPath = `${dataPath}${MANIFEST_SUFFIX}`
  // The catalog derived both paths the same way; if they ever differ, something is badly wrong.
  if (basename(file) !== file || dirname(dataPath) !== directory || manifestPath !== entry.manifestPath || dataPath !== entry.dataPath) {
    throw new DbkeeperError('INTERNAL', `refusing to delete ${entry.manifestPath}: its paths do not match its manifest`)
  }
  const deleted: string[] = []
  if (await unlinkIfPresent(manifestPath)) deleted.push(basename(manifestPath))
  await fsyncDir(directory).catch((e: unknown) => {
    throw toDbkeeperError(e, `retention: syncing ${directory}`)
  })
  failpoint('retention.manifest-removed')
  for (const path of [dataPath, `${dataPath}${CHECKSUM_SUFFIX}`]) {
    if (await unlinkIfPresent(path)) deleted.push(basename(path))
  }
  await fsyncDir(directory).catch((e: unknown) => {
    throw toDbkeeperError(e, `retention: syncing ${directory}`)
  })
  return deleted
}

/** true when it deleted the file; false when it was already gone (another prune, an operator). */
async function unlinkIfPresent(path: string): Promise<boolean> {
  try {
    await unlink(path)
    return true
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false
    throw toDbkeeperError(error, `retention: deleting ${path}`)
  }
}
