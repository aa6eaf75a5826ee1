/**
 * The dead-man's switch (PING_URL, healthchecks.io style): `<url>/start` when a backup run starts,
 * `<url>` when it succeeded, `<url>/fail` with the cause in the body when it failed. The service
 * alerts when the pings stop — the one alarm that still works when the appliance itself is dead.
 * Never throws: a ping that cannot go out is logged (with the URL's host only: its path is the
 * check's secret) and the run carries on.
 */
import type { RunRecord } from '../catalog/journal.js'
import type { WebhookConfig } from '../config/daemon.js'
import type { Logger } from '../runtime/logger.js'
import { scrubSecrets } from '../runtime/secrets.js'
import { NOTIFY_TIMEOUT_MS } from './notifier.js'

export type PingEvent = 'start' | 'success' | 'fail'

/** healthchecks.io takes up to 100 kB; the cause fits in far less. */
const MAX_BODY = 10_000

export function pingUrl(base: string, event: PingEvent): string {
  if (event === 'success') return base
  const u = new URL(base)
  u.pathname = `${u.pathname.replace(/\/+$/, '')}/${event}`
  return u.toString()
}

/** The body of a `/fail` ping: one line per failed database or run-wide error, secrets masked. */
export function failureText(record: RunRecord): string {
  const lines = [
    ...record.results
      .filter((r) => !r.ok)
      .map(
        (r) =>
          `${r.source}/${r.database}: ${r.error?.code ?? 'INTERNAL'} ${r.error?.message ?? 'failed without an error message'}${
            r.error?.hint ? ` — ${r.error.hint}` : ''
          }`,
      ),
    ...(record.errors ?? []).map((e) => `${e.code} ${e.message}`),
  ]
  const text = `dbkeeper run ${record.runId} on ${record.host} failed:\n${lines.join('\n') || 'no cause recorded'}\n`
  return scrubSecrets(text).slice(0, MAX_BODY)
}

export async function sendPing(
  ping: WebhookConfig | undefined,
  event: PingEvent,
  logger: Logger,
  body = '',
): Promise<void> {
  if (!ping) return
  try {
    const response = await fetch(pingUrl(ping.url.reveal(), event), {
      method: 'POST',
      headers: { 'content-type': 'text/plain; charset=utf-8', 'user-agent': 'dbkeeper' },
      body,
      signal: AbortSignal.timeout(NOTIFY_TIMEOUT_MS),
    })
    await response.body?.cancel()
    if (!response.ok) {
      logger.warn(
        { ping: ping.display, event },
        `ping ${event}: ${ping.display} answered ${response.status}; check PING_URL`,
      )
      return
    }
    logger.debug({ ping: ping.display, event }, `ping ${event} sent`)
  } catch (error) {
    // undici says "fetch failed" and puts the reason (ECONNREFUSED, timeout) in its cause.
    const cause = ((error as Error).cause as Error | undefined)?.message ?? (error as Error).message
    logger.warn(
      { ping: ping.display, event },
      `ping ${event}: cannot reach ${ping.display}: ${scrubSecrets(cause)}; check PING_URL and that the service is reachable`,
    )
  }
}

/** The ping at the end of a backup run: success, or `/fail` with the cause. */
export function pingRunEnd(ping: WebhookConfig | undefined, record: RunRecord, logger: Logger): Promise<void> {
  return record.ok ? sendPing(ping, 'success', logger) : sendPing(ping, 'fail', logger, failureText(record))
}
