/**
 * Retention over any Target, written once: the volume through a LocalTarget, an off-site bucket
 * through its S3 Target. List one `<source>/<enc(database)>/` directory (catalog.ts: only backups
 * with a manifest of this directory are listed), decide (safety.ts: what counts, what is refused),
 * delete. Only the three keys of a backup the plan removes are ever deleted, each derived from its
 * manifest and checked to lie in that directory: no globbing, nothing the catalog did not list.
 *
 * Decided once for both targets:
 * - Order: per backup, the manifest alone first (the backup stops existing), then the data and
 *   its `.sha256`. Each `Target.remove` call is done when it resolves — the LocalTarget fsyncs the
 *   directory after each key, S3 answers each DELETE before the next — so a crash in between
 *   leaves an unlisted data object (debris, removed by the next run on the volume), never a listed
 *   backup without its data.
 * - Report: `deleted` holds the keys removed that the listing saw, in deletion order. A key already
 *   missing (a backup without `.sha256`) is still asked to go (removal is idempotent) but not
 *   reported: S3 answers a DELETE of a missing key as a success, so the listing is the only honest
 *   witness on every target. Concurrent prunes of the volume are excluded by its lock.
 * - Failpoints: `<name>.manifest-removed` (manifest gone, data not yet) and `<name>.backup-removed`
 *   (between two backups), where `name` is `retention` on the volume and `s3-retention` off-site:
 *   the same points, named per target, so a fault test can stop one prune and not the other.
 */
import { listEntries, type BackupEntry } from '../catalog/catalog.js'
import { databaseDir } from '../catalog/naming.js'
import { remoteDir } from '../catalog/remote.js'
import type { RetentionPolicy } from '../config/types.js'
import { DbkeeperError } from '../runtime/errors.js'
import { failpoint } from '../runtime/failpoint.js'
import type { Logger } from '../runtime/logger.js'
import { LocalTarget } from '../storage/local/target.js'
import type { Target } from '../storage/target.js'
import { decideRetention, type BackupVerdict, type RetentionScope } from './safety.js'

export interface TargetRetentionArgs extends RetentionScope {
  target: Target
  /** Plan and report, delete nothing. */
  dryRun: boolean
  /** Compare each `.sha256` with its manifest while listing (cheap on the volume; catalog.ts). */
  sidecars?: boolean
  /** The prefix of log lines and failpoints: `retention` (the default) or `s3-retention`. */
  name?: string
  /**
   * The directory's backups, when the caller has them: listed earlier, plus what it has written
   * since (the off-site step lists during the dump). A backup missing here is only kept, never
   * the cause of a removal: the rules keep the newest n, the newest of each period and what lies
   * in a window, so what they keep of all the backups they keep of any part of them; a key
   * deleted meanwhile is fine (removal is idempotent).
   */
  entries?: readonly BackupEntry[]
  logger?: Logger
}

export interface TargetRetentionReport {
  source: string
  database: string
  dryRun: boolean
  tz: string
  policy: RetentionPolicy
  /** Every backup with a manifest in the directory, newest first, with its verdict. */
  backups: BackupVerdict[]
  /** Keys removed (that the listing saw), in deletion order; empty on a dry run. */
  deleted: string[]
}

/**
 * Applies `policy` to one database's backups on `target`. Throws DbkeeperError('RETENTION') when
 * the plan is refused (nothing is deleted then), or the target's error when a deletion fails (what
 * was deleted before is in the log). Safe to repeat: a key already gone is fine.
 */
export async function applyRetentionOn(args: TargetRetentionArgs): Promise<TargetRetentionReport> {
  const { target, source, database } = args
  const name = args.name ?? 'retention'
  const entries = args.entries
    ? [...args.entries]
    : await listEntries(target, { source, database, sidecars: args.sidecars === true })
  const decision = decideRetention(entries, args)
  const { verdicts } = decision
  // Object Lock: a backup whose lock has not expired is kept and reported, never asked to go
  // (the store would refuse, and a half-deleted backup is worse than a kept one).
  const remove: BackupEntry[] = []
  for (const entry of decision.remove) {
    const until = await lockedUntil(entry, args.now)
    if (until === undefined) {
      remove.push(entry)
      continue
    }
    const v = verdicts.find((x) => x.file === entry.manifest.file)
    if (v) {
      v.action = 'keep'
      v.reasons = [`${LOCKED} until ${until.toISOString()}: the policy would remove it once the lock expires`]
    }
  }
  const report: TargetRetentionReport = {
    source,
    database,
    dryRun: args.dryRun,
    tz: args.tz,
    policy: { ...args.policy },
    backups: verdicts,
    deleted: [],
  }
  const log = args.logger?.child({ source, database, target: target.description, dryRun: args.dryRun })
  for (const v of verdicts) log?.info({ backup: v.id, file: v.file, reasons: v.reasons }, `${name}: ${v.action}`)
  if (args.dryRun) return report

  for (const entry of remove) {
    const keys = await removeBackup(entry, () => failpoint(`${name}.manifest-removed`))
    report.deleted.push(...keys)
    log?.info({ backup: entry.manifest.id, keys }, `${name}: removed backup`)
    failpoint(`${name}.backup-removed`)
  }
  return report
}

export const LOCKED = 'locked by Object Lock'

/** The latest retain-until date of the backup's manifest and data objects still in the future, if any. */
async function lockedUntil(entry: BackupEntry, now: Date): Promise<Date | undefined> {
  let until: Date | undefined
  for (const key of [entry.manifestKey, entry.dataKey]) {
    const head = await entry.target.head(key)
    const date = head?.retainUntil
    if (date && date.getTime() > now.getTime() && (!until || date > until)) until = date
  }
  return until
}

/**
 * Deletes one listed backup from its target in the safe order (above): the manifest, then the data
 * and `.sha256`. `between` runs when the manifest is durably gone. Returns the keys it removed that
 * the listing saw. Used by retention and by the expiry of pre-restore safety backups.
 */
export async function removeBackup(entry: BackupEntry, between?: () => void): Promise<string[]> {
  const dir = remoteDir(entry.manifest.source, entry.manifest.database)
  const keys = [entry.manifestKey, entry.dataKey, entry.checksumKey]
  // The catalog derived every key from the manifest; one outside its directory means a bug.
  if (
    keys.some((k) => !k.startsWith(dir) || k.slice(dir.length).includes('/')) ||
    entry.dataKey !== `${dir}${entry.manifest.file}`
  ) {
    throw new DbkeeperError(
      'INTERNAL',
      `refusing to delete ${keys.join(', ')}: not the keys of ${entry.manifest.file} inside ${dir}`,
    )
  }
  const wasListed = (k: string) =>
    k === entry.manifestKey || (k === entry.dataKey ? entry.size : entry.checksumSize) !== undefined
  const removed: string[] = []
  const remove = async (batch: string[]) => {
    await entry.target.remove(batch)
    removed.push(...batch.filter(wasListed))
  }
  await remove([entry.manifestKey])
  between?.()
  await remove([entry.dataKey, entry.checksumKey])
  return removed
}

export interface ApplyRetentionArgs extends Omit<TargetRetentionArgs, 'target' | 'sidecars' | 'name'> {
  /** The volume: the LocalTarget's root. */
  backupDir: string
}

/** The volume's report: `deleted` as file names inside `directory`, as `prune --json` prints them. */
export interface RetentionReport extends TargetRetentionReport {
  /** The database directory that was pruned. */
  directory: string
}

/** Retention on the volume: the one applier over a LocalTarget, `.sha256` sidecars compared. */
export async function applyRetention(args: ApplyRetentionArgs): Promise<RetentionReport> {
  const { backupDir, ...rest } = args
  const report = await applyRetentionOn({ ...rest, target: new LocalTarget(backupDir), sidecars: true })
  const dir = remoteDir(args.source, args.database)
  return {
    ...report,
    directory: databaseDir(backupDir, args.source, args.database),
    deleted: report.deleted.map((k) => k.slice(dir.length)),
  }
}
