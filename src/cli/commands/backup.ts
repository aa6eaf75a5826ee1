import { offsitesOf, type OffsiteResult } from '../../catalog/journal.js'
import { acquireLock } from '../../catalog/lock.js'
import { printable } from '../../runtime/printable.js'
import { notifyRun } from '../../notify/index.js'
import { prepareBackupDir } from '../../config/backup-dir.js'
import { pingRunEnd, sendPing } from '../../notify/ping.js'
import { runBackups, selectSources, type DatabaseOutcome, type RunReport } from '../../pipeline/run.js'
import { formatBytes, formatDuration } from '../../pipeline/progress.js'
import { sweepScratch } from '../../restore/scratch.js'
import { describeDryRun, planDryRun } from '../../pipeline/dry-run.js'
import type { Command } from '../command.js'
import { parseCommandArgs } from '../args.js'

/** `backup --json`: the shape scripts read. Stable. */
export interface BackupJson {
  runId: string
  ok: boolean
  startedAt: string
  finishedAt: string
  results: {
    source: string
    database: string
    ok: boolean
    id?: string
    path?: string
    size?: number
    rawSize?: number
    durationMs: number
    tables?: number
    rows?: number
    /** `output`: the dump tool's last lines on stderr, when it failed. */
    error?: { code: string; message: string; hint?: string; output?: string }
    retention?: { ok: boolean; removed: string[]; error?: string }
    /** With S3: the off-site copy; when it failed, ok is false (error code OFFSITE) though id/path name the local backup. */
    offsite?: OffsiteResult
    /** Every target's copy (`S3`, `S3_2`, …), in target order; `offsite` is the first. */
    offsites?: OffsiteResult[]
  }[]
}

export function toBackupJson(report: RunReport): BackupJson {
  const { record } = report
  return {
    runId: record.runId,
    ok: record.ok,
    startedAt: record.startedAt,
    finishedAt: record.finishedAt,
    results: report.outcomes.map(({ committed, retention, ...r }) => ({
      ...r,
      ...(committed
        ? { tables: committed.manifest.tables.length, rows: committed.manifest.tables.reduce((n, t) => n + t.rows, 0) }
        : {}),
      ...(retention ? { retention } : {}),
    })),
  }
}

export function describeOutcome(o: DatabaseOutcome): string {
  const name = printable(`${o.source}/${o.database}`)
  if (!o.committed)
    return `FAILED ${name}: ${o.error?.message ?? 'unknown error'}${o.error?.hint ? `\n       → ${o.error.hint}` : ''}`
  const m = o.committed.manifest
  const ratio = m.raw.size > 0 ? `${((m.compressed.size / m.raw.size) * 100).toFixed(1)}%` : '-'
  const rows = m.tables.reduce((n, t) => n + t.rows, 0)
  const lines = [
    `ok     ${name}: ${o.committed.dataPath}`,
    `       ${formatBytes(m.raw.size)} → ${formatBytes(m.compressed.size)} (${ratio}) in ${formatDuration(m.durationMs)}, ${m.tables.length} tables, ~${rows.toLocaleString('en-US')} rows, verified`,
  ]
  for (const t of offsitesOf(o)) {
    const label = t.target ?? 'S3'
    if (!t.ok) {
      lines.push(`FAILED off-site copy of ${name} to ${label}: ${t.error ?? ''}\n       → ${o.error?.hint ?? ''}`)
      continue
    }
    const parts = [t.key ?? t.skipped ?? '']
    if (t.caughtUp?.length) parts.push(`caught up ${t.caughtUp.length} missing`)
    if (t.removed?.length) parts.push(`retention removed ${t.removed.length}`)
    if (t.wouldRemove?.length)
      parts.push(`S3_NO_DELETE: ${t.wouldRemove.length} past retention, for the lifecycle rule`)
    lines.push(`       off-site ${label}: ${parts.join('; ')}`)
  }
  if (o.retention && !o.retention.ok) lines.push(`       retention refused: ${o.retention.error ?? ''}`)
  else if (o.retention && o.retention.removed.length > 0)
    lines.push(`       retention removed ${o.retention.removed.length}: ${o.retention.removed.join(', ')}`)
  return lines.join('\n')
}

export const backupCommand: Command = {
  name: 'backup',
  usage: `Usage: dbkeeper backup [SOURCE...] [--json] [--wait] [--dry-run]

Takes a consistent dump of every configured database (or only the SOURCEs named, by
label or DBnn id), compresses it onto BACKUP_DIR, reads it back to prove it, commits it
with a manifest, and applies the retention policy to each database backed up.

  --json   print a JSON report on stdout (logs go to stderr)
  --wait   wait for a running backup to finish instead of exiting 3
  --dry-run  take no backup: check the S3 credentials and bucket (put, read, list and delete
           a probe object) and print where backups would go and what would be uploaded

With S3_BUCKET set, each backup is also copied off-site (and confirmed there); a failed
off-site copy keeps the local backup, fails the run (exit 1) and is retried by the next run.

Exit codes: 0 all backups proven, 1 at least one failed (the others still ran),
2 usage or configuration error, 3 another run holds the lock.`,
  needsConfig: true,
  usesVolume: true,
  async run(ctx) {
    const { values, positionals } = parseCommandArgs('backup', ctx.args, {
      json: { type: 'boolean' },
      wait: { type: 'boolean' },
      'dry-run': { type: 'boolean' },
    })
    const selected = selectSources(ctx.config, positionals)
    if (values['dry-run']) {
      const plan = await planDryRun(ctx.config, selected, ctx.logger, ctx.signal)
      ctx.print(values.json ? JSON.stringify(plan, null, 2) : describeDryRun(plan, ctx.config))
      return plan.ok ? 0 : 1
    }
    await prepareBackupDir(ctx.config.backupDir)
    const lock = await acquireLock(ctx.config.backupDir, {
      command: 'backup',
      wait: values.wait,
      signal: ctx.signal,
      logger: ctx.logger,
    })
    // After the lock: a run refused with exit 3 never started, and must not leave a /start unanswered.
    await sendPing(ctx.config.notify.ping, 'start', ctx.logger)
    let report: RunReport
    try {
      // Killed drills' and restores' scratch databases, next to the debris of killed runs: under the lock.
      await sweepScratch(ctx.config, ctx.logger, ctx.signal)
      report = await runBackups({
        config: ctx.config,
        logger: ctx.logger,
        trigger: 'manual',
        only: positionals,
        signal: ctx.signal,
        progress: ctx.isTTY && !values.json,
      })
    } finally {
      await lock.release()
    }
    // A manual run alerts like a scheduled one: a failed `docker exec … backup` is still a failure.
    await Promise.all([
      notifyRun(report.record, ctx.config, ctx.logger),
      pingRunEnd(ctx.config.notify.ping, report.record, ctx.logger),
    ])
    if (values.json) ctx.print(JSON.stringify(toBackupJson(report), null, 2))
    else {
      for (const o of report.outcomes) ctx.print(describeOutcome(o))
      const failed = report.outcomes.filter((o) => !o.committed).length
      const offsiteFailed = report.outcomes.filter((o) => o.committed && o.offsite && !o.offsite.ok).length
      ctx.print(
        failed === 0
          ? `${report.outcomes.length} backup(s) proven and committed`
          : `${failed} of ${report.outcomes.length} backup(s) FAILED`,
      )
      if (offsiteFailed > 0)
        ctx.print(
          `${offsiteFailed} off-site copy/copies FAILED (the local backups are kept; the next run uploads them)`,
        )
    }
    return report.record.ok ? 0 : 1
  },
}
