/**
 * `dbkeeper check` and the daemon's start-up check: every source reachable with its credentials
 * and a compatible dump tool (the engine's probe), the backup volume writable with room for at
 * least the last backup, the S3 bucket written, read back and cleaned (preflight-s3.ts), the SMTP
 * server's TLS and login, and the webhook receiver answering — without sending an alert. One line
 * per check.
 */
import { randomUUID } from 'node:crypto'
import { mkdtemp, rm, statfs, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { listBackups } from '../catalog/catalog.js'
import { STATE_DIR } from '../catalog/naming.js'
import type { Config } from '../config/types.js'
import { checkArchiving, createEngine } from '../engines/index.js'
import { formatBytes } from '../pipeline/progress.js'
import { prepareBackupDir } from '../config/backup-dir.js'
import { createEmailNotifier } from '../notify/email.js'
import { createWebhookNotifier } from '../notify/webhook.js'
import { describeError } from '../runtime/errors.js'
import type { Logger } from '../runtime/logger.js'
import { ensureDir } from '../runtime/durable.js'
import { checkS3 } from './preflight-s3.js'

export interface CheckResult {
  name: string
  ok: boolean
  detail: string
}

async function check(name: string, fn: () => Promise<string>): Promise<CheckResult> {
  try {
    return { name, ok: true, detail: await fn() }
  } catch (error) {
    return { name, ok: false, detail: describeError(error) }
  }
}

export interface PreflightOptions {
  /**
   * Ask the bucket for its versioning and Object Lock state (`dbkeeper check`). The daemon does
   * not: it would load the AWS SDK into the main thread for a line of information.
   */
  bucketState?: boolean
  signal?: AbortSignal
}

export async function runPreflight(
  config: Config,
  logger?: Logger,
  opts: PreflightOptions = {},
): Promise<CheckResult[]> {
  const results: CheckResult[] = []
  results.push(
    await check(`backup volume ${config.backupDir}`, async () => {
      await prepareBackupDir(config.backupDir)
      const probe = join(config.backupDir, STATE_DIR, `.write-test-${randomUUID()}`)
      await ensureDir(join(config.backupDir, STATE_DIR))
      await writeFile(probe, 'ok')
      await rm(probe)
      const fs = await statfs(config.backupDir)
      const free = fs.bavail * fs.bsize
      const last = (await listBackups(config.backupDir))[0]
      const need = last?.manifest.compressed.size ?? 0
      if (free < need)
        throw new Error(
          `only ${formatBytes(free)} free, the last backup took ${formatBytes(need)} — free space or shorten retention`,
        )
      return `writable, ${formatBytes(free)} free${last ? ` (last backup ${formatBytes(need)})` : ''}`
    }),
  )
  const work = await mkdtemp(join(config.backupDir, STATE_DIR, 'check-')).catch(() => undefined)
  try {
    for (const source of config.sources) {
      results.push(
        await check(`source ${source.label} (${source.id}, ${source.engine})`, async () => {
          if (!work) throw new Error('no work directory on the backup volume')
          const engine = await createEngine(source, work)
          const probe = await engine.probe(AbortSignal.timeout(60_000)).finally(() => engine.close?.())
          const dbs = probe.databases.map((d) => d.name)
          return `server ${probe.serverVersion}, ${probe.tool.name} ${probe.tool.version}, databases: ${dbs.join(', ') || '(none)'}`
        }),
      )
    }
  } finally {
    if (work) await rm(work, { recursive: true, force: true })
  }
  for (const source of config.sources.filter((s) => s.pitr))
    results.push(
      await check(`point-in-time archiving of ${source.label} (${source.id}_PITR)`, () =>
        checkArchiving(source, config.pitr.windowMs, opts.signal),
      ),
    )
  for (const s3 of config.s3Targets)
    results.push(
      await check(`${s3.id === 'S3' ? 'S3' : `S3 target ${s3.id}`} s3://${s3.bucket}/${s3.prefix}`, () =>
        checkS3(s3, { bucketState: opts.bucketState ?? false, signal: opts.signal }),
      ),
    )
  // Both channels are proven without an alert going out: SMTP up to the login, the webhook by a HEAD.
  const { email, webhook } = config.notify
  if (email) results.push(await check(`SMTP ${email.host}:${email.port}`, () => createEmailNotifier(email).probe()))
  if (webhook) results.push(await check(`webhook ${webhook.display}`, () => createWebhookNotifier(webhook).probe()))
  logger?.debug({ checks: results.length }, 'preflight done')
  return results
}
