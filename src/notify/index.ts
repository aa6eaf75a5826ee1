/**
 * Sending the alert of a finished run: `notifyRun` is what the run (daemon or manual) calls after
 * appending its journal record. It never throws: an alert that cannot go out is logged with its
 * cause, and the run and the daemon carry on.
 */
import { listBackups, type CatalogEntry } from '../catalog/catalog.js'
import type { RunRecord } from '../catalog/journal.js'
import type { Config } from '../config/types.js'
import type { Logger } from '../runtime/logger.js'
import { scrubSecrets } from '../runtime/secrets.js'
import { createEmailNotifier } from './email.js'
import { buildAlert, scrubAlert, type Alert } from './message.js'
import type { Notifier } from './notifier.js'
import { buildTestAlert } from './test-alert.js'
import { createWebhookNotifier } from './webhook.js'

export type { Notifier } from './notifier.js'
export type { Alert, AlertFacts, AlertFailure } from './message.js'
export { buildAlert } from './message.js'

export type NotifyRunConfig = Pick<Config, 'backupDir' | 'notify' | 'sources'>

export interface NotifyResult {
  /** Whether NOTIFY_ON asked for an alert for this run. */
  wanted: boolean
  sent: string[]
  failed: { target: string; error: string }[]
}

export function notifiersFor(config: NotifyRunConfig['notify']): Notifier[] {
  const out: Notifier[] = []
  if (config.email) out.push(createEmailNotifier(config.email))
  if (config.webhook) out.push(createWebhookNotifier(config.webhook))
  return out
}

export interface Delivery {
  target: string
  kind: Notifier['kind']
  /** The cause, scrubbed of secrets; undefined when the alert went out. */
  error?: string
  /** The error's code (`EAUTH`, `ECONNREFUSED`), when it has one. */
  code?: string
  /** What to check when it failed. */
  hint: string
}

/**
 * Sends one (scrubbed) alert on every channel at once; never throws: each channel's outcome is
 * returned, and handed to `onOutcome` as soon as it is known (a hung channel delays no other's log).
 */
export async function deliver(
  alert: Alert,
  notifiers: readonly Notifier[],
  onOutcome?: (d: Delivery) => void,
): Promise<Delivery[]> {
  return Promise.all(
    notifiers.map(async (n): Promise<Delivery> => {
      const hint = `check the ${n.kind === 'email' ? 'SMTP_* settings and that the mail server is reachable' : 'WEBHOOK_URL receiver'}`
      let outcome: Delivery
      try {
        await n.send(alert)
        outcome = { target: n.target, kind: n.kind, hint }
      } catch (error) {
        const code = (error as { code?: unknown } | undefined)?.code
        outcome = {
          target: n.target,
          kind: n.kind,
          hint,
          error: scrubSecrets(error instanceof Error ? error.message : String(error)),
          ...(typeof code === 'string' ? { code } : {}),
        }
      }
      onOutcome?.(outcome)
      return outcome
    }),
  )
}

/** `dbkeeper alert --test`: the test alert (test-alert.ts) on every configured channel. */
export async function sendTestAlert(
  config: NotifyRunConfig['notify'],
  host: string,
  now = new Date(),
): Promise<Delivery[]> {
  return deliver(scrubAlert(buildTestAlert(host, now)), notifiersFor(config))
}

/** Sends the run's alert on every configured channel, per NOTIFY_ON (failure: only failed runs). */
export async function notifyRun(
  record: RunRecord,
  config: NotifyRunConfig,
  logger: Logger,
  now = new Date(),
): Promise<NotifyResult> {
  const result: NotifyResult = { wanted: !record.ok || config.notify.on === 'always', sent: [], failed: [] }
  const notifiers = notifiersFor(config.notify)
  if (!result.wanted || notifiers.length === 0) return result

  let backups: CatalogEntry[] = []
  try {
    backups = await listBackups(config.backupDir)
  } catch (error) {
    // The alert matters more than the ages in it (the volume may be what failed).
    logger.warn({ err: error }, 'alert: cannot list backups for the "last good backup" ages; sending without them')
  }
  const sourceIds = new Map(config.sources.map((s) => [s.label, s.id]))
  let alert: Alert
  try {
    alert = scrubAlert(buildAlert(record, backups, now, sourceIds))
  } catch (error) {
    logger.error({ err: error }, 'alert: cannot build the alert message')
    return result
  }
  await deliver(alert, notifiers, (d) => {
    if (d.error === undefined) {
      result.sent.push(d.target)
      logger.info({ notifier: d.target, runId: record.runId }, `alert sent: ${d.target}`)
      return
    }
    result.failed.push({ target: d.target, error: d.error })
    // The message and the code, not the stack: an operator reads this line, and a stack of
    // nodemailer or undici internals hides the one line that matters.
    logger.error(
      { notifier: d.target, runId: record.runId, ...(d.code ? { code: d.code } : {}) },
      `alert NOT sent: ${d.error} — ${d.hint}; the next alert is tried again`,
    )
  })
  return result
}
