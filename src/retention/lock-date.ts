/**
 * Object Lock's retain-until date of a backup sent to a locked target, pure: no earlier than
 * S3_OBJECT_LOCK_DAYS from now, and no earlier than the date the target's retention plans to keep
 * it — its start plus the longest horizon of the policy's rules (`KEEP_MONTHLY=12`: twelve months;
 * `KEEP_WITHIN=90d`: 90 days). A lock that ended before the plan lets a compromised key delete a
 * backup the policy still counts on; one that lasts longer only delays retention (which never
 * deletes a locked object: apply.ts reports it). Unlimited counts (-1) and KEEP_LAST have no
 * horizon: their backups are locked for the lock days, and again by nothing later.
 */
import type { RetentionPolicy } from '../config/types.js'
import { parseWithin } from './within.js'

const HOUR = 3_600_000

function addCalendar(ms: number, d: { years: number; months: number; days: number; hours: number }): number {
  const t = new Date(ms)
  t.setUTCFullYear(t.getUTCFullYear() + d.years, t.getUTCMonth() + d.months, t.getUTCDate() + d.days)
  return t.getTime() + d.hours * HOUR
}

/** When the policy stops keeping a backup started at `startedMs`, at the latest. */
export function plannedKeepUntil(startedMs: number, policy: RetentionPolicy): number {
  const n = (v: number | undefined) => (v !== undefined && v > 0 ? v : 0)
  const horizons = [
    addCalendar(startedMs, { years: 0, months: 0, days: 0, hours: n(policy.keepHourly) }),
    addCalendar(startedMs, { years: 0, months: 0, days: n(policy.keepDaily), hours: 0 }),
    addCalendar(startedMs, { years: 0, months: 0, days: 7 * n(policy.keepWeekly), hours: 0 }),
    addCalendar(startedMs, { years: 0, months: n(policy.keepMonthly), days: 0, hours: 0 }),
    addCalendar(startedMs, { years: n(policy.keepYearly), months: 0, days: 0, hours: 0 }),
  ]
  if (policy.keepWithin !== undefined && policy.keepWithin !== '0')
    horizons.push(addCalendar(startedMs, parseWithin(policy.keepWithin)))
  return Math.max(startedMs, ...horizons)
}

export function retainUntil(startedAt: string, policy: RetentionPolicy, lockDays: number, now: Date): Date {
  const byLock = now.getTime() + lockDays * 24 * HOUR
  return new Date(Math.max(byLock, plannedKeepUntil(Date.parse(startedAt), policy)))
}
