/**
 * `dbkeeper backup --dry-run`: what a run would do off-site, without writing a backup. It checks
 * the S3 credentials and the bucket for real (put, read, list and delete one probe object under
 * S3_PREFIX), then lists per source where new backups would go and which proven local backups a
 * run would upload because they are missing off-site (catch-up).
 */
import { randomUUID } from 'node:crypto'
import { hostname } from 'node:os'
import { listBackups } from '../catalog/catalog.js'
import { remoteDir } from '../catalog/remote.js'
import type { Config, SourceConfig } from '../config/types.js'
import { describeError } from '../runtime/errors.js'
import type { Logger } from '../runtime/logger.js'
import { pitrScope } from '../retention/pitr.js'
import { openS3Target } from '../storage/s3/index.js'
import type { Target } from '../storage/target.js'
import { missingOffsite, offsitePolicy } from './offsite.js'

/** `backup --dry-run --json`. Stable. */
export interface DryRunReport {
  ok: boolean
  /** null when S3 is not configured. */
  s3: { target: string; checks: { step: string; ok: boolean; error?: string }[] } | null
  sources: {
    source: string
    engine: string
    databases: string[] | 'ALL'
    /** Where each new backup would go: `s3://bucket/prefix/<source>/<db>/`. */
    s3Dirs: string[]
    /** Proven local backups a run would upload (missing off-site), oldest first. */
    catchUp: string[]
    error?: string
  }[]
}

/** Put, read, list and delete one small object: every permission a run needs. */
async function checkBucket(target: Target, signal: AbortSignal): Promise<DryRunReport['s3'] & object> {
  const key = `.dbkeeper-probe-${hostname().replace(/[^A-Za-z0-9-]/g, '-')}-${randomUUID().slice(0, 8)}`
  const checks: { step: string; ok: boolean; error?: string }[] = []
  const steps: [string, () => Promise<unknown>][] = [
    [
      `write ${target.url(key)}`,
      () => target.put(key, 'dbkeeper access check: safe to delete\n', { contentType: 'text/plain', signal }),
    ],
    [
      'read it back',
      async () => {
        if (!(await target.head(key))) throw new Error('the object just written is not there')
      },
    ],
    [
      `list ${target.description}`,
      async () => {
        for await (const o of target.list(key)) if (o.key === key) return
        throw new Error('the object just written is not listed')
      },
    ],
    ['delete it', () => target.remove([key])],
  ]
  for (const [step, run] of steps) {
    try {
      await run()
      checks.push({ step, ok: true })
    } catch (error) {
      checks.push({ step, ok: false, error: describeError(error) })
      if (checks.length > 1) await target.remove([key]).catch(() => undefined)
      break
    }
  }
  return { target: target.description, checks }
}

export async function planDryRun(
  config: Config,
  sources: readonly SourceConfig[],
  logger: Logger,
  signal: AbortSignal,
): Promise<DryRunReport> {
  const report: DryRunReport = { ok: true, s3: null, sources: [] }
  const target = config.s3 ? openS3Target(config.s3, { logger, signal, attempts: 2 }) : undefined
  if (target) {
    report.s3 = await checkBucket(target, signal)
    report.ok = report.s3.checks.length === 4 && report.s3.checks.every((c) => c.ok)
  }
  for (const source of sources) {
    const local = [
      ...new Set((await listBackups(config.backupDir, { source: source.label })).map((e) => e.manifest.database)),
    ]
    const names = source.databases === 'ALL' ? local : [...source.databases]
    const entry: DryRunReport['sources'][number] = {
      source: source.label,
      engine: source.engine,
      databases: source.databases === 'ALL' ? 'ALL' : [...source.databases],
      s3Dirs: [],
      catchUp: [],
    }
    if (target) {
      entry.s3Dirs = names.map((db) => target.url(remoteDir(source.label, db)))
      if (report.ok) {
        try {
          for (const database of names) {
            const scope = {
              source: source.label,
              database,
              policy: offsitePolicy(config, source),
              tz: config.tz,
              now: new Date(),
              ...pitrScope(source, config.pitr),
            }
            entry.catchUp.push(...(await missingOffsite(target, config.backupDir, scope)).map((e) => e.dataPath))
          }
        } catch (error) {
          entry.error = describeError(error)
          report.ok = false
        }
      }
    }
    report.sources.push(entry)
  }
  return report
}

export function describeDryRun(r: DryRunReport, config: Config): string {
  const lines = ['dry run: no backup is taken, nothing is uploaded or deleted']
  if (!r.s3) lines.push('S3: not configured (S3_BUCKET is not set): backups stay on the volume only')
  else {
    lines.push(`S3: ${r.s3.target}`)
    for (const c of r.s3.checks) lines.push(`  ${c.ok ? 'ok    ' : 'FAILED'} ${c.step}${c.error ? `: ${c.error}` : ''}`)
  }
  for (const s of r.sources) {
    const dbs = s.databases === 'ALL' ? 'ALL (listed when the run starts)' : s.databases.join(', ')
    lines.push(`${s.source} (${s.engine}): databases ${dbs}; new backups in ${config.backupDir}/${s.source}/`)
    for (const dir of s.s3Dirs) lines.push(`  would upload each new backup to ${dir}`)
    for (const file of s.catchUp) lines.push(`  would upload (missing off-site): ${file}`)
    if (s.error) lines.push(`  FAILED: ${s.error}`)
  }
  lines.push(r.ok ? 'dry run ok' : 'dry run FAILED')
  return lines.join('\n')
}
