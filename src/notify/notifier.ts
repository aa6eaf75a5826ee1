import type { Alert } from './message.js'

/**
 * One channel alerts go out on (email, webhook).
 *
 * Contract:
 * - `send` delivers one alert once, or rejects with an Error whose message names the channel
 *   (never its secret: no password, no webhook token) and whose `cause` is the original error.
 * - It does not retry: an alert that cannot go out now is logged by the caller, and the next run's
 *   alert is tried afresh. No state survives a failed call (no broken pooled connection), so a
 *   channel that was down is used normally as soon as it is back.
 * - It is bounded in time (connection and response timeouts), so a hung server cannot hold up
 *   the daemon's next run.
 * - The alert it receives is already scrubbed of secrets; it adds none (headers, URLs in errors).
 */
export interface Notifier {
  readonly kind: 'email' | 'webhook'
  /** For logs: `email to ops@example.com via smtp.example.com:587`. No secrets. */
  readonly target: string
  send(alert: Alert): Promise<void>
  /**
   * Proves the channel can be used without delivering anything (`dbkeeper check`): resolves with
   * what was proven, or rejects with a DbkeeperError whose message and hint name the cause and the
   * variables to check (not the channel itself: the caller names it). Never sends an alert, never
   * shows a secret, bounded in time like `send`.
   */
  probe(): Promise<string>
}

/** How long one delivery may take at most, per step (connect, greeting, response). */
export const NOTIFY_TIMEOUT_MS = 15_000
