/**
 * Retention on the off-site target, with the volume's safety rules (safety.ts) on the backups
 * listed by their manifest objects under exactly `<source>/<enc(database)>/`. Only the three keys
 * of a backup the plan removes are deleted, each derived from a manifest we wrote and checked to
 * lie in that directory: manifest first (the backup stops existing), then data, then `.sha256`.
 * Objects without such a manifest — other jobs' backups, a README, look-alike names — are never
 * listed here, so never deleted.
 */
import { listEntries, type BackupEntry } from '../catalog/catalog.js'
import { remoteDir } from '../catalog/remote.js'
import { DbkeeperError } from '../runtime/errors.js'
import { failpoint } from '../runtime/failpoint.js'
import type { Target } from '../storage/target.js'
import type { ApplyRetentionArgs } from './apply.js'
import { decideRetention, type BackupVerdict } from './safety.js'

/** The local run's arguments, with the target in place of the backup directory. */
export interface RemoteRetentionArgs extends Omit<ApplyRetentionArgs, 'backupDir'> {
  target: Target
  /** The listing, when the caller has it already (the catch-up step lists first). */
  entries?: BackupEntry[]
}

export interface RemoteRetentionReport {
  backups: BackupVerdict[]
  /** Keys deleted, in deletion order; empty on a dry run. */
  deleted: string[]
}

export async function applyRemoteRetention(args: RemoteRetentionArgs): Promise<RemoteRetentionReport> {
  const entries = args.entries ?? (await listEntries(args.target, { source: args.source, database: args.database }))
  const { verdicts, remove } = decideRetention(entries, args)
  const report: RemoteRetentionReport = { backups: verdicts, deleted: [] }
  const log = args.logger?.child({ source: args.source, database: args.database, target: args.target.description })
  if (args.dryRun) return report
  const dir = remoteDir(args.source, args.database)
  for (const entry of remove) {
    const keys = [entry.manifestKey, entry.dataKey, entry.checksumKey]
    // The listing derived every key from the manifest; one outside the directory means a bug.
    if (keys.some((k) => !k.startsWith(dir) || k.slice(dir.length).includes('/'))) {
      throw new DbkeeperError('INTERNAL', `refusing to delete ${keys.join(', ')}: not inside ${dir}`)
    }
    await args.target.remove(keys)
    report.deleted.push(...keys)
    log?.info({ backup: entry.manifest.id, keys }, 'off-site retention: removed backup')
    failpoint('s3-retention.backup-removed')
  }
  return report
}
