/**
 * Alerts as a JSON POST: the alert's facts plus `text`, which Slack, Mattermost, Rocket.Chat and
 * Discord-compatible receivers show as the message; generic receivers read the facts.
 */
import type { WebhookConfig } from '../config/daemon.js'
import type { Alert } from './message.js'
import { NOTIFY_TIMEOUT_MS, type Notifier } from './notifier.js'

export function createWebhookNotifier(config: WebhookConfig): Notifier {
  // The URL's path may be the receiver's token: errors and logs name scheme and host only.
  const target = `webhook ${config.display}`
  return {
    kind: 'webhook',
    target,
    async send(alert: Alert): Promise<void> {
      const body = JSON.stringify({ text: `*${alert.subject}*\n${alert.text}`, subject: alert.subject, ...alert.facts })
      let response: Response
      try {
        response = await fetch(config.url.reveal(), {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'user-agent': 'dbkeeper' },
          body,
          signal: AbortSignal.timeout(NOTIFY_TIMEOUT_MS),
        })
      } catch (error) {
        // undici says "fetch failed" and puts the reason (ECONNREFUSED, timeout) in its cause.
        const cause = (error as Error).cause as Error | undefined
        throw new Error(`${target}: ${cause?.message ?? (error as Error).message}`, { cause: error })
      }
      if (!response.ok) {
        const answer = (await response.text().catch(() => '')).slice(0, 200)
        throw new Error(`${target} answered ${response.status} ${response.statusText}${answer ? `: ${answer}` : ''}`)
      }
      await response.body?.cancel()
    },
  }
}
