/**
 * The off-site step of a run, per database, over every configured target (`S3_*`, `S3_2_*`, …):
 * each target in parallel and on its own (offsite-target.ts), so one target being down never
 * delays or fails another's copy, and the local backup stays committed whatever happens
 * off-site. A failure is reported in the outcome, naming the target (the run is then not ok).
 */
import type { CommittedBackup } from './backup.js'
import type { BackupEntry, CatalogEntry } from '../catalog/catalog.js'
import type { DatabaseResult, OffsiteResult } from '../catalog/journal.js'
import type { Config, SourceConfig } from '../config/types.js'
import type { Logger } from '../runtime/logger.js'
import { pitrScope } from '../retention/pitr.js'
import { openS3Target } from '../storage/s3/index.js'
import type { Target } from '../storage/target.js'
import { startStreamedCopy, type StreamedCopy } from './offsite-copy.js'
import {
  copyToTarget,
  listHeld,
  planForTarget,
  targetPolicy,
  type OffsiteScope,
  type OpenTarget,
} from './offsite-target.js'

/** Said with every off-site failure: what it means for the backup, whatever the cause. */
export const OFFSITE_NOTE = 'the local backup is committed; the next run uploads every backup still missing off-site'

/** What the off-site step starts with a database's dump, so that it runs while the dump does. */
export interface OffsiteJob {
  /** A copy to the first target, streamed during the dump (BackupJob.tee), when that target takes every new backup. */
  readonly copy: StreamedCopy | undefined
  /** Each target's backups of the database (listHeld), in target order: listed during the dump, not after it. */
  readonly held: readonly Promise<BackupEntry[]>[]
}

export interface Offsite {
  readonly targets: readonly OpenTarget[]
  begin(source: SourceConfig, database: string): OffsiteJob
  /** Every target's outcome, in target order. */
  afterCommit(job: OffsiteJob, committed: CommittedBackup, source: SourceConfig): Promise<OffsiteResult[]>
}

/** The first target's policy for a source (dry-run's catch-up preview). */
export function offsitePolicy(config: Config, source: SourceConfig) {
  return targetPolicy({ retention: config.s3?.retention }, source)
}

/**
 * Streaming during the dump sends the backup before anything is decided, so it is done only
 * where the answer is known to be "send": a policy with KEEP_LAST or a window keeps every new
 * backup. Not under Object Lock: relabelling the streamed object with its checksum (CopyObject onto
 * itself) would leave the first version locked in the bucket; nor with S3_NO_DELETE, where a
 * cancelled copy could not be deleted.
 */
function streams(t: OpenTarget, source: SourceConfig): boolean {
  const policy = targetPolicy(t.cfg, source)
  return (
    t.cfg.objectLock === undefined &&
    !t.cfg.noDelete &&
    ((policy.keepLast ?? 0) !== 0 || policy.keepWithin !== undefined)
  )
}

export function openOffsite(
  config: Config,
  logger: Logger,
  signal: AbortSignal,
  opened?: Target[],
): Offsite | undefined {
  if (config.s3Targets.length === 0) return undefined
  const targets: OpenTarget[] = config.s3Targets.map((cfg, i) => ({
    cfg,
    // Warm: loading the SDK overlaps the sources' probes, not the first dump.
    target: opened?.[i] ?? openS3Target(cfg, { logger: logger.child({ target: cfg.id }), signal, warm: true }),
  }))
  const first = targets[0]!
  return {
    targets,
    begin: (source, database) => ({
      copy: streams(first, source)
        ? startStreamedCopy(
            first.target,
            source.label,
            database,
            logger.child({ target: first.cfg.id, source: source.label }),
          )
        : undefined,
      held: targets.map((open) => {
        const held = listHeld(open.target, { source: source.label, database })
        // Awaited by afterCommit, or dropped with a backup that failed.
        held.catch(() => undefined)
        return held
      }),
    }),
    async afterCommit(job, committed, source) {
      const m = committed.manifest
      return Promise.all(
        targets.map((open, i) => {
          const scope: OffsiteScope = {
            source: source.label,
            database: m.database,
            policy: targetPolicy(open.cfg, source),
            tz: config.tz,
            now: new Date(),
            ...pitrScope(source, config.pitr),
          }
          return copyToTarget({
            open,
            backupDir: config.backupDir,
            copy: i === 0 ? job.copy : undefined,
            held: job.held[i]!,
            committed,
            scope,
            signal,
            logger: logger.child({ target: open.cfg.id, source: source.label, database: m.database }),
          })
        }),
      )
    },
  }
}

/** Proven local backups of the database missing on `target` that its policy would receive, oldest first. */
export async function missingOffsite(target: Target, backupDir: string, scope: OffsiteScope): Promise<CatalogEntry[]> {
  return (await planForTarget(target, backupDir, scope)).upload
}

/**
 * Marks a database's result with its off-site outcomes; a failed copy to any target fails the
 * database (and the run), and the error names every target that failed.
 */
export function recordOffsite(outcome: DatabaseResult, results: readonly OffsiteResult[]): void {
  outcome.offsites = [...results]
  // The first target's, under its old name: readers of journals written before several targets.
  if (results[0]) outcome.offsite = results[0]
  const failed = results.filter((r) => !r.ok)
  if (failed.length === 0) return
  outcome.ok = false
  const hints = [...new Set(failed.flatMap((r) => (r.hint ? [r.hint] : [])))]
  outcome.error = {
    code: 'OFFSITE',
    message: `off-site copy failed: ${failed.map((r) => r.error ?? `${r.target ?? 'S3'}: unknown error`).join('; ')}`,
    hint: [...hints, OFFSITE_NOTE].join('; '),
  }
}
