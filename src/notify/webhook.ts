/**
 * Alerts as a JSON POST: the alert's facts plus `text`, which Slack, Mattermost, Rocket.Chat and
 * Discord-compatible receivers show as the message; generic receivers read the facts.
 */
import type { WebhookConfig } from '../config/daemon.js'
import { DbkeeperError } from '../runtime/errors.js'
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
        // Some receivers echo the request path in an error page ("Cannot POST /hooks/<token>").
        const answer = withoutUrl(await response.text().catch(() => ''), config.url.reveal()).slice(0, 200)
        throw new Error(`${target} answered ${response.status} ${response.statusText}${answer ? `: ${answer}` : ''}`)
      }
      await response.body?.cancel()
    },
    /**
     * A HEAD request: it proves DNS, TCP, TLS (certificate included) and an HTTP answer, and no
     * receiver treats a HEAD as a message (a POST would be an alert; an OPTIONS some receivers
     * log as an event). Any answer below 500 counts as reachable: Slack and others refuse HEAD
     * with a 4xx, which is still the receiver answering. `dbkeeper alert --test` proves delivery.
     */
    async probe(): Promise<string> {
      let response: Response
      try {
        response = await fetch(config.url.reveal(), {
          method: 'HEAD',
          headers: { 'user-agent': 'dbkeeper' },
          redirect: 'manual',
          signal: AbortSignal.timeout(NOTIFY_TIMEOUT_MS),
        })
      } catch (error) {
        const cause = (error as Error).cause as Error | undefined
        throw new DbkeeperError('CONNECT', cause?.message ?? (error as Error).message, {
          hint: 'check WEBHOOK_URL and that the receiver is running and reachable from this container',
          cause: error,
        })
      }
      await response.body?.cancel()
      const answer = `${response.status}${response.statusText ? ` ${response.statusText}` : ''}`
      if (response.status >= 500) {
        throw new DbkeeperError('CONNECT', `the receiver answered HEAD with ${answer}`, {
          hint: 'the receiver (or a proxy in front of it) is failing: check it and WEBHOOK_URL',
        })
      }
      return `reachable: HEAD answered ${answer}; no alert sent (\`dbkeeper alert --test\` proves delivery)`
    },
  }
}

/**
 * `body` with the URL's path and query taken out: whole, and every segment and query value on its
 * own, raw and decoded, longest first (a receiver may echo any of them, encoded or not).
 */
export function withoutUrl(body: string, url: string): string {
  const u = new URL(url)
  const pieces = new Set<string>([u.pathname + u.search, u.pathname, u.search, u.search.slice(1)])
  for (const seg of u.pathname.split('/')) pieces.add(seg)
  for (const [k, v] of u.searchParams) {
    pieces.add(v)
    pieces.add(encodeURIComponent(v))
    pieces.add(`${k}=${v}`)
  }
  for (const p of [...pieces]) {
    try {
      pieces.add(decodeURIComponent(p))
    } catch {
      // not valid percent-encoding: the raw form is enough
    }
  }
  let out = body
  for (const p of [...pieces].filter((x) => x.length > 1 && x !== '/').sort((a, b) => b.length - a.length))
    out = out.split(p).join('…')
  return out
}
