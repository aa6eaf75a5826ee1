import { readdir } from 'node:fs/promises'
import { join } from 'node:path'
import { listDatabaseDir } from '../../catalog/catalog.js'
import { decodeName, encodeName, isShortenedName } from '../../catalog/naming.js'
import type { Config, RetentionPolicy, SourceConfig } from '../../config/types.js'
import { acquireLock } from '../../catalog/lock.js'
import { pruneTargets, type PrunedOnTarget } from '../../pipeline/offsite-prune.js'
import { applyRetention } from '../../retention/apply.js'
import { pitrScope } from '../../retention/pitr.js'
import { policyText, type BackupVerdict } from '../../retention/safety.js'
import { DbkeeperError, toDbkeeperError } from '../../runtime/errors.js'
import type { Command, CommandContext } from '../command.js'
import { parseCommandArgs } from '../args.js'

/**
 * `prune --json` prints one PruneOutput. Stable: scripts and monitors depend on it.
 *
 *   { "dryRun": false,
 *     "databases": [ { "source": "app", "database": "shop", "directory": "/backups/app/shop",
 *       "status": "ok" | "refused" | "failed", "policy": { "keepDaily": 7, … }, "tz": "UTC",
 *       "backups": [ { "id", "file", "startedAt", "kind": "backup" | "pre-restore",
 *                      "action": "keep" | "remove", "reasons": ["daily snapshot", …], "problem"? } ],
 *       "deleted": ["shop_20260101T000000Z.sql.gz.manifest.json", …],
 *       "error"?: { "code": "RETENTION", "message", "hint"? } } ],
 *     "targets": [ { "target": "S3_2", "location": "s3://bucket/prefix/app/shop/", "source", "database",
 *       "status", "policy", "tz", "noDelete": false, "backups": [ … as above ], "deleted": [keys],
 *       "error"? } ] }
 *
 * `backups` is newest first; on a refused or failed database it is empty. `deleted` lists file
 * names inside `directory` in deletion order (manifest, data, .sha256 per backup); empty on a dry run.
 */
export interface PruneOutput {
  dryRun: boolean
  databases: PrunedDatabase[]
  /** Each off-site target's databases (S3_BUCKET, S3_n_BUCKET), in target order; `[]` without S3. */
  targets: PrunedOnTarget[]
}

export interface PrunedDatabase {
  source: string
  database: string
  directory: string
  status: 'ok' | 'refused' | 'failed'
  policy: RetentionPolicy
  tz: string
  backups: BackupVerdict[]
  deleted: string[]
  error?: { code: string; message: string; hint?: string }
}

/** The databases with a directory under `<backupDir>/<label>/`: canonical encoded names only. */
async function databasesOnVolume(backupDir: string, label: string): Promise<string[]> {
  const entries = await readdir(join(backupDir, label), { withFileTypes: true }).catch((error: unknown) => {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return []
    throw toDbkeeperError(error, `reading ${join(backupDir, label)}`)
  })
  const out = new Set<string>()
  for (const e of entries) {
    if (!e.isDirectory() || e.name.startsWith('.')) continue
    if (isShortenedName(e.name)) {
      // A long name, shortened: the real one is in its manifests (those that encode to this directory).
      for (const b of await listDatabaseDir(join(backupDir, label, e.name))) {
        if (encodeName(b.manifest.database) === e.name) out.add(b.manifest.database)
      }
    } else if (encodeName(decodeName(e.name)) === e.name) {
      // A directory whose name is not how we encode its decoded name was not made by dbkeeper.
      out.add(decodeName(e.name))
    }
  }
  return [...out].sort()
}

async function pruneDatabase(
  config: Config,
  source: SourceConfig,
  database: string,
  dryRun: boolean,
  ctx: CommandContext,
): Promise<PrunedDatabase> {
  const base = { source: source.label, database, policy: { ...source.retention }, tz: config.tz }
  try {
    const r = await applyRetention({
      backupDir: config.backupDir,
      ...base,
      ...pitrScope(source, config.pitr),
      now: new Date(),
      dryRun,
      logger: ctx.logger,
    })
    return { ...base, directory: r.directory, status: 'ok', backups: r.backups, deleted: r.deleted }
  } catch (error) {
    const e = toDbkeeperError(error)
    if (e.code === 'ABORTED') throw e
    const status = e.code === 'RETENTION' ? 'refused' : 'failed'
    ctx.logger.error({ source: source.label, database, err: e }, `prune: ${e.message}`)
    return {
      ...base,
      directory: join(config.backupDir, source.label, encodeName(database)),
      status,
      backups: [],
      deleted: [],
      error: { code: e.code, message: e.message, ...(e.hint ? { hint: e.hint } : {}) },
    }
  }
}

/** A kept backup's reasons; a removed one's is that no rule of the policy keeps it. */
function reasonText(b: BackupVerdict, policy: RetentionPolicy): string {
  return b.reasons.length > 0 ? b.reasons.join(', ') : `no rule of ${policyText(policy)} keeps it`
}

/** One line per backup, ids aligned: "  keep    <id>  daily snapshot"; a removal is called `removal`. */
function verdictLines(backups: readonly BackupVerdict[], policy: RetentionPolicy, removal: string): string[] {
  const idWidth = Math.max(0, ...backups.map((b) => b.id.length))
  return backups.map((b) =>
    `  ${(b.action === 'remove' ? removal : b.action).padEnd(6)}  ${b.id.padEnd(idWidth)}  ${reasonText(b, policy)}`.trimEnd(),
  )
}

function humanReport(out: PruneOutput): string {
  const lines: string[] = out.dryRun ? ['dry run: nothing is deleted'] : []
  for (const d of out.databases) {
    lines.push(`${d.source}/${d.database}  (policy: ${policyText(d.policy)}; TZ ${d.tz})`)
    if (d.error) {
      lines.push(`  ${d.status.toUpperCase()}: ${d.error.message}${d.error.hint ? ` — ${d.error.hint}` : ''}`)
      continue
    }
    if (d.backups.length === 0) lines.push('  no backups')
    lines.push(...verdictLines(d.backups, d.policy, 'remove'))
    const removed = d.backups.filter((b) => b.action === 'remove').length
    if (!out.dryRun && removed > 0)
      lines.push(`  removed ${removed} backup${removed === 1 ? '' : 's'} (${d.deleted.length} files)`)
  }
  if (out.databases.length === 0) lines.push('no backup directories to prune')
  for (const t of out.targets) {
    lines.push(`off-site ${t.target} ${t.location}  (policy: ${policyText(t.policy)}; TZ ${t.tz})`)
    if (t.error) {
      lines.push(`  ${t.status.toUpperCase()}: ${t.error.message}${t.error.hint ? ` — ${t.error.hint}` : ''}`)
      continue
    }
    // S3_NO_DELETE: nothing is deleted; what retention would remove is the lifecycle rule's to expire.
    const removal = t.noDelete ? 'expire' : 'remove'
    lines.push(...verdictLines(t.backups, t.policy, removal))
    const removed = t.backups.filter((b) => b.action === 'remove').length
    if (t.noDelete && removed > 0)
      lines.push(
        `  S3_NO_DELETE: ${removed} backup${removed === 1 ? '' : 's'} past retention left in place for the bucket's lifecycle rule (docs/OPERATIONS.md)`,
      )
    else if (!out.dryRun && removed > 0)
      lines.push(`  removed ${removed} backup${removed === 1 ? '' : 's'} (${t.deleted.length} objects)`)
  }
  return lines.join('\n')
}

export const pruneCommand: Command = {
  name: 'prune',
  usage: `Usage: dbkeeper prune [SOURCE] [--dry-run] [--json]

Applies each source's retention policy (BACKUP_RETENTION_DAYS, KEEP_*, DBnn_KEEP_*) to every
database directory of that source on the volume, and prints for every backup "keep" or
"remove" with the reasons ("daily snapshot", "within 7d", "newest proven backup", ...).
With S3_BUCKET (and S3_n_BUCKET), each off-site target is pruned too, by its own policy
(S3_KEEP_*, S3_n_KEEP_*), reported per target; a target with S3_NO_DELETE=true is never
deleted from: its removals are shown as "expire", for the bucket's lifecycle rule.
Only backups with a manifest count; the newest of them is always kept; a policy that would
remove every backup is refused. Exit code 1 when any database's plan was refused or failed.

  SOURCE     only the source with this label
  --dry-run  show the plan, delete nothing
  --json     machine-readable output (see PruneOutput in src/cli/commands/prune.ts)`,
  needsConfig: true,
  usesVolume: true,
  async run(ctx) {
    const { values, positionals } = parseCommandArgs('prune', ctx.args, {
      'dry-run': { type: 'boolean' },
      json: { type: 'boolean' },
    })
    if (positionals.length > 1)
      throw new DbkeeperError('USAGE', 'prune takes at most one SOURCE', { hint: 'see dbkeeper prune --help' })
    const { config } = ctx
    const wanted = positionals[0]
    const sources = wanted === undefined ? config.sources : config.sources.filter((s) => s.label === wanted)
    if (wanted !== undefined && sources.length === 0) {
      throw new DbkeeperError('USAGE', `no source labelled "${wanted}"`, {
        hint: `configured sources: ${config.sources.map((s) => s.label).join(', ') || 'none'}`,
      })
    }
    const dryRun = values['dry-run'] === true
    // A real prune deletes, so like a backup run it holds the run lock (LOCKED, exit 3, while
    // another run holds it); a dry run only reads and may run alongside.
    const lock = dryRun
      ? undefined
      : await acquireLock(config.backupDir, { command: 'prune', signal: ctx.signal, logger: ctx.logger })
    const out: PruneOutput = { dryRun, databases: [], targets: [] }
    try {
      for (const source of sources) {
        for (const database of await databasesOnVolume(config.backupDir, source.label)) {
          if (ctx.signal.aborted)
            throw new DbkeeperError('ABORTED', 'prune stopped by a signal; the databases not yet pruned are unchanged')
          out.databases.push(await pruneDatabase(config, source, database, dryRun, ctx))
        }
      }
      out.targets = await pruneTargets({ config, sources, dryRun, logger: ctx.logger, signal: ctx.signal })
    } finally {
      await lock?.release()
    }
    ctx.print(values.json ? JSON.stringify(out, null, 2) : humanReport(out))
    return [...out.databases, ...out.targets].every((d) => d.status === 'ok') ? 0 : 1
  },
}
