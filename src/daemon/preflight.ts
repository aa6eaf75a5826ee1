/**
 * `dbkeeper check` and the daemon's start-up check: every source reachable with its credentials
 * and a compatible dump tool (the engine's probe), the backup volume writable with room for at
 * least the last backup, and the alert channels reachable. One line per check.
 */
import { randomUUID } from 'node:crypto'
import { mkdtemp, rm, statfs, writeFile } from 'node:fs/promises'
import { connect } from 'node:net'
import { join } from 'node:path'
import { listBackups } from '../catalog/catalog.js'
import { STATE_DIR } from '../catalog/naming.js'
import type { Config } from '../config/types.js'
import { createEngine } from '../engines/index.js'
import { formatBytes } from '../pipeline/progress.js'
import { checkBackupDir } from '../pipeline/run.js'
import { DbkeeperError, describeError } from '../runtime/errors.js'
import type { Logger } from '../runtime/logger.js'
import { ensureDir } from '../storage/local/files.js'

export interface CheckResult {
  name: string
  ok: boolean
  detail: string
}

const TIMEOUT_MS = 10_000

async function check(name: string, fn: () => Promise<string>): Promise<CheckResult> {
  try {
    return { name, ok: true, detail: await fn() }
  } catch (error) {
    return { name, ok: false, detail: describeError(error) }
  }
}

/** Whether `host:port` accepts a TCP connection; the error names the variables to check (`hint`). */
function tcpReachable(host: string, port: number, hint: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port, timeout: TIMEOUT_MS })
    socket.once('connect', () => {
      socket.destroy()
      resolve(`${host}:${port} accepts connections`)
    })
    socket.once('timeout', () => {
      socket.destroy()
      reject(new DbkeeperError('CONNECT', `${host}:${port} did not answer within ${TIMEOUT_MS / 1000} s`, { hint }))
    })
    // Node's message already names the address: "connect ECONNREFUSED 127.0.0.1:25".
    socket.once('error', (e) => reject(new DbkeeperError('CONNECT', e.message, { hint, cause: e })))
  })
}

export async function runPreflight(config: Config, logger?: Logger): Promise<CheckResult[]> {
  const results: CheckResult[] = []
  results.push(await check(`backup volume ${config.backupDir}`, async () => {
    await checkBackupDir(config.backupDir)
    const probe = join(config.backupDir, STATE_DIR, `.write-test-${randomUUID()}`)
    await ensureDir(join(config.backupDir, STATE_DIR))
    await writeFile(probe, 'ok')
    await rm(probe)
    const fs = await statfs(config.backupDir)
    const free = fs.bavail * fs.bsize
    const last = (await listBackups(config.backupDir))[0]
    const need = last?.manifest.compressed.size ?? 0
    if (free < need) throw new Error(`only ${formatBytes(free)} free, the last backup took ${formatBytes(need)} — free space or shorten retention`)
    return `writable, ${formatBytes(free)} free${last ? ` (last backup ${formatBytes(need)})` : ''}`
  }))
  const work = await mkdtemp(join(config.backupDir, STATE_DIR, 'check-')).catch(() => undefined)
  try {
    for (const source of config.sources) {
      results.push(await check(`source ${source.label} (${source.id}, ${source.engine})`, async () => {
        if (!work) throw new Error('no work directory on the backup volume')
        const probe = await createEngine(source, work).probe(AbortSignal.timeout(60_000))
        const dbs = probe.databases.map((d) => d.name)
        return `server ${probe.serverVersion}, ${probe.tool.name} ${probe.tool.version}, databases: ${dbs.join(', ') || '(none)'}`
      }))
    }
  } finally {
    if (work) await rm(work, { recursive: true, force: true })
  }
  const email = config.notify.email
  if (email) results.push(await check(`SMTP ${email.host}:${email.port}`, () => tcpReachable(email.host, email.port, 'check SMTP_HOST / SMTP_PORT and that the mail server is running and reachable from this container')))
  const webhook = config.notify.webhook
  if (webhook) {
    results.push(await check(`webhook ${webhook.display}`, async () => {
      const url = new URL(webhook.url.reveal())
      const port = Number(url.port || (url.protocol === 'https:' ? 443 : 80))
      return tcpReachable(url.hostname, port, 'check WEBHOOK_URL and that the receiver is running and reachable from this container')
    }))
  }
  logger?.debug({ checks: results.length }, 'preflight done')
  return results
}
