/**
 * The daemon's settings (schedule, shutdown, health) and the alert settings (SMTP, webhook).
 * Pure like the rest of config/: every problem goes to the EnvReader, the result is frozen.
 */
import { hostname as osHostname } from 'node:os'
import { formatDuration, parseDuration } from '../runtime/duration.js'
import { MASK, Secret } from '../runtime/secrets.js'
import type { EnvReader } from './reader.js'
import { DEFAULT_SCHEDULE, isTimeZone, judgeSchedule as judgeScheduleOnce } from './schedule.js'

export interface DaemonConfig {
  /** A cron pattern (5 or 6 fields, or @daily…), read in the configured TZ. */
  readonly schedule: string
  readonly backupOnStart: boolean
  readonly backupOnShutdown: boolean
  /** How long SIGTERM waits for the running backup. */
  readonly shutdownTimeoutMs: number
  /** 0 = no health/metrics server. */
  readonly healthPort: number
  /** A source whose last proven backup is older than this is unhealthy. */
  readonly healthMaxAgeMs: number
  /** STATUS_AUTH(_FILE): protects the status page and /api/*; undefined: the page is open and read-only. */
  readonly statusAuth: StatusAuth | undefined
}

/** A bearer token, or a basic-auth user and password (`user:password` in the file). */
export type StatusAuth =
  | { readonly kind: 'token'; readonly token: Secret }
  | { readonly kind: 'basic'; readonly user: string; readonly password: Secret }

export type NotifyOn = 'failure' | 'always'

export interface EmailConfig {
  readonly host: string
  readonly port: number
  /** TLS from the first byte (port 465); otherwise STARTTLS when the server offers it. */
  readonly secure: boolean
  readonly user: string | undefined
  readonly password: Secret | undefined
  readonly from: string
  readonly to: readonly string[]
}

export interface WebhookConfig {
  /** The whole URL is a secret: Slack-style URLs carry their token in the path. */
  readonly url: Secret
  /** `https://hooks.example.com/…`: what logs and `config` may show. */
  readonly display: string
}

export interface NotifyConfig {
  readonly on: NotifyOn
  readonly email: EmailConfig | undefined
  readonly webhook: WebhookConfig | undefined
  /** PING_URL(_FILE): a dead-man's switch (healthchecks.io style), pinged at start, success and failure. */
  readonly ping: WebhookConfig | undefined
}

const ONE_HOUR_MS = 3_600_000
/** 2 × 6 h + 1 h: the default schedule's limit, used when SCHEDULE is invalid (already a problem). */
const FALLBACK_MAX_AGE_MS = 13 * ONE_HOUR_MS
const DURATION_EXPECTED = 'a duration such as 60 (seconds), 90s, 5m, 13h or 1d12h'

/**
 * `judgeSchedule` false only for config/index.ts's measuring of the known names: the same names
 * are read, but the schedule is not run through croner (24 run times; ~5% of a CLI start each).
 */
export function readDaemonConfig(r: EnvReader, now = new Date(), judgeSchedule = true): DaemonConfig {
  const tzRaw = r.string('TZ', 'UTC')!
  // An invalid TZ is reported by parseConfig; compute the schedule in UTC meanwhile.
  const tz = isTimeZone(tzRaw) ? tzRaw : 'UTC'
  const schedule = r.string('SCHEDULE', DEFAULT_SCHEDULE)!
  // One croner pass: the validity and the interval (whose runs also answer `status`'s next run).
  const judged = judgeSchedule ? judgeScheduleOnce(schedule, tz, now) : undefined
  const problem = judged?.problem
  if (problem) r.problem('SCHEDULE', schedule, `a cron pattern such as "0 */6 * * *" or "30 2 * * *" (${problem})`)

  const interval = judged?.interval
  const defaultMaxAge = interval === undefined ? FALLBACK_MAX_AGE_MS : 2 * interval + ONE_HOUR_MS
  const healthMaxAgeMs = readDuration(r, 'HEALTH_MAX_AGE', defaultMaxAge)
  if (interval !== undefined && healthMaxAgeMs <= interval && r.has('HEALTH_MAX_AGE')) {
    // A limit shorter than the gap between runs reports unhealthy between every two runs.
    r.problem(
      'HEALTH_MAX_AGE',
      r.raw('HEALTH_MAX_AGE'),
      `a duration longer than the schedule's interval (${formatDuration(interval)})`,
    )
  }
  return Object.freeze({
    schedule,
    backupOnStart: r.bool('BACKUP_ON_START', true),
    backupOnShutdown: r.bool('BACKUP_ON_SHUTDOWN', false),
    shutdownTimeoutMs: readDuration(r, 'SHUTDOWN_TIMEOUT', 60_000),
    healthPort: r.int('HEALTH_PORT', {
      min: 0,
      max: 65535,
      fallback: 8080,
      expected: 'a port number from 1 to 65535, or 0 for no health server',
    })!,
    healthMaxAgeMs,
    statusAuth: readStatusAuth(r),
  })
}

const STATUS_AUTH_EXPECTED = 'a token of at least 16 characters, or user:password for basic auth'

function readStatusAuth(r: EnvReader): StatusAuth | undefined {
  const secret = r.secret('STATUS_AUTH')
  if (!secret) return undefined
  const text = secret.reveal()
  const colon = text.indexOf(':')
  if (colon === -1) {
    // A short token is guessable by anyone who can reach the port.
    if (text.length < 16 || /\s/.test(text)) {
      r.problem('STATUS_AUTH', MASK, STATUS_AUTH_EXPECTED)
      return undefined
    }
    return Object.freeze({ kind: 'token', token: secret })
  }
  const user = text.slice(0, colon)
  const password = text.slice(colon + 1)
  if (user === '' || password.length < 8) {
    r.problem('STATUS_AUTH', MASK, `${STATUS_AUTH_EXPECTED} (a user name and a password of at least 8 characters)`)
    return undefined
  }
  return Object.freeze({ kind: 'basic', user, password: new Secret(password) })
}

/** `hostname`: MAIL_FROM's default domain; this machine's name when not given (asked only with SMTP_HOST). */
export function readNotifyConfig(r: EnvReader, hostname?: string): NotifyConfig {
  const onSet = r.has('NOTIFY_ON')
  const on = r.oneOf('NOTIFY_ON', ['failure', 'always'] as const, 'failure')
  const email = readEmail(r, hostname)
  const webhook = readWebhook(r, 'WEBHOOK_URL')
  const ping = readWebhook(r, 'PING_URL')
  if (onSet && !r.has('SMTP_HOST') && !r.has('WEBHOOK_URL') && !r.has('WEBHOOK_URL_FILE')) {
    r.problem(
      'NOTIFY_ON',
      r.raw('NOTIFY_ON'),
      'SMTP_HOST (with MAIL_TO) or WEBHOOK_URL to be set as well: there is nowhere to send alerts',
    )
  }
  return Object.freeze({ on, email, webhook, ping })
}

function readEmail(r: EnvReader, hostname: string | undefined): EmailConfig | undefined {
  const host = r.raw('SMTP_HOST')
  const toRaw = r.raw('MAIL_TO')
  const port = r.int('SMTP_PORT', {
    min: 1,
    max: 65535,
    fallback: 587,
    expected: 'a port number from 1 to 65535 (587 for STARTTLS, 465 for TLS)',
  })!
  const secure = r.bool('SMTP_SECURE', port === 465)
  const user = r.raw('SMTP_USER')
  const password = r.secret('SMTP_PASS')
  const mailFrom = r.raw('MAIL_FROM')
  if (mailFrom !== undefined && !isAddress(mailFrom))
    r.problem('MAIL_FROM', mailFrom, 'an email address such as backup@example.com')
  const to =
    toRaw === undefined
      ? []
      : toRaw
          .split(',')
          .map((s) => s.trim())
          .filter((s) => s !== '')
  const bad = to.filter((a) => !isAddress(a))
  if (bad.length > 0)
    r.problem('MAIL_TO', toRaw, `email addresses separated by commas (not an address: ${bad.join(', ')})`)
  if (host === undefined) {
    if (toRaw !== undefined) r.problem('SMTP_HOST', undefined, 'the SMTP server that sends the alerts to MAIL_TO')
    return undefined
  }
  if (to.length === 0) r.problem('MAIL_TO', toRaw, 'one or more recipients, separated by commas (SMTP_HOST is set)')
  if (password && user === undefined) r.problem('SMTP_USER', undefined, 'the SMTP user name that goes with SMTP_PASS')
  if (user !== undefined && !password)
    r.problem('SMTP_PASS', undefined, 'the password of SMTP_USER (or SMTP_PASS_FILE)')
  // The machine's name only with an SMTP server: `status` loads no node:os (scripts/build.mjs).
  const from = mailFrom ?? `dbkeeper@${hostname ?? osHostname()}`
  return Object.freeze({ host, port, secure, user, password, from, to: Object.freeze(to) })
}

/** WEBHOOK_URL or PING_URL: the whole URL is a secret (its path is the receiver's token). */
function readWebhook(r: EnvReader, name: 'WEBHOOK_URL' | 'PING_URL'): WebhookConfig | undefined {
  const url = r.secret(name)
  if (!url) return undefined
  const display = displayUrl(url.reveal())
  if (display === undefined) {
    r.problem(name, MASK, 'an http:// or https:// URL')
    return undefined
  }
  // A password in the URL's user part may be printed by a library on its own: register it too.
  const password = new URL(url.reveal()).password
  if (password) new Secret(decodeURIComponent(password))
  return Object.freeze({ url, display })
}

/** `https://hooks.example.com/…`: scheme and host only, since the path or query may be a token. */
export function displayUrl(text: string): string | undefined {
  let u: URL
  try {
    u = new URL(text)
  } catch {
    return undefined
  }
  if ((u.protocol !== 'http:' && u.protocol !== 'https:') || u.hostname === '') return undefined
  return `${u.protocol}//${u.host}/…`
}

/** Loose on purpose: `root@localhost` and `Ops <ops@example.com>` are fine; typos like `ops.example.com` are not. */
function isAddress(text: string): boolean {
  const inner = /^[^<>]*<([^<>]+)>$/.exec(text)?.[1] ?? text
  return /^[^\s@<>,;"]+@[^\s@<>,;"]+$/.test(inner)
}

/** A duration variable (`60`, `90s`, `5m`, `13h`, `1d12h`): the fallback when unset, a problem when not a duration. */
export function readDuration(r: EnvReader, name: string, fallback: number): number {
  const v = r.raw(name)
  if (v === undefined) return fallback
  const ms = parseDuration(v)
  if (ms === undefined || ms === 0) {
    r.problem(name, v, DURATION_EXPECTED)
    return fallback
  }
  return ms
}
