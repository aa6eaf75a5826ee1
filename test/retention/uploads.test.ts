/** planUploads: a target receives only what its own retention keeps, and never refills a period. */
import { describe, expect, it } from 'vitest'
import type { RetentionPolicy } from '../../src/config/types.js'
import { retainUntil } from '../../src/retention/lock-date.js'
import { planUploads } from '../../src/retention/uploads.js'
import { fakeEntry } from '../support/backups.js'

const NOW = new Date('2026-12-05T12:00:00Z')
const at = (iso: string) => fakeEntry('app', 'shop', new Date(iso))
const scope = (policy: RetentionPolicy) => ({ source: 'app', database: 'shop', policy, tz: 'UTC', now: NOW })
const files = (xs: { manifest: { startedAt: string } }[]) => xs.map((x) => x.manifest.startedAt.slice(0, 13))

/** Every six hours from `from` for `days` days. */
function sixHourly(from: string, days: number) {
  const start = Date.parse(from)
  return Array.from({ length: days * 4 }, (_, i) => at(new Date(start + i * 6 * 3_600_000).toISOString()))
}

describe('planUploads', () => {
  it('sends a monthly-only target the first backup of each month, once', () => {
    const monthly = scope({ keepMonthly: 12 })
    const held = [at('2026-11-01T00:00:10Z')]
    // A new six-hourly backup in a month the vault already holds: not sent.
    expect(planUploads(held, [at('2026-11-20T06:00:10Z')], monthly).upload).toEqual([])
    // The first backup of a new month is.
    const dec = at('2026-12-01T00:00:10Z')
    expect(planUploads(held, [dec], monthly).upload).toEqual([dec])
    // Catch-up after a month-long outage: one per month, the first, not 120 backups.
    const missing = sixHourly('2026-10-15T00:00:10Z', 45)
    const plan = planUploads([], missing, monthly)
    expect(files(plan.upload)).toEqual(['2026-10-15T00', '2026-11-01T00'])
    expect(plan.skipped).toHaveLength(missing.length - 2)
    expect(plan.skipped[0]!.why).toContain('is held on the target already')
  })

  it('does not send what the count of months would drop at once', () => {
    const held = [at('2026-11-01T00:00:10Z'), at('2026-10-01T00:00:10Z')]
    const plan = planUploads(held, [at('2026-09-01T00:00:10Z')], scope({ keepMonthly: 2 }))
    expect(plan.upload).toEqual([])
    expect(plan.skipped[0]!.why).toContain('would remove it')
  })

  it('sends every backup a window or KEEP_LAST keeps (the default 7-day window: every backup)', () => {
    const held = [at('2026-12-05T00:00:10Z')]
    const next = at('2026-12-05T06:00:10Z')
    expect(planUploads(held, [next], scope({ keepWithin: '7d' })).upload).toEqual([next])
    expect(planUploads(held, [next], scope({ keepLast: 3 })).upload).toEqual([next])
    // A daily rule alone: the day is held already, so the target keeps the day's first backup.
    expect(planUploads(held, [next], scope({ keepDaily: 7 })).upload).toEqual([])
  })
})

describe('retainUntil (Object Lock)', () => {
  const started = '2026-12-01T00:00:00Z'
  it('is the later of the lock days and the date the policy plans to keep the backup', () => {
    // Twelve monthlies: kept until a year after the start, far beyond 35 lock days.
    expect(retainUntil(started, { keepMonthly: 12 }, 35, NOW).toISOString()).toBe('2027-12-01T00:00:00.000Z')
    expect(retainUntil(started, { keepWithin: '90d', keepDaily: 7 }, 35, NOW).toISOString()).toBe(
      '2027-03-01T00:00:00.000Z',
    )
    // KEEP_LAST and unlimited counts plan no date: the lock days from now.
    expect(retainUntil(started, { keepLast: 5, keepYearly: -1 }, 35, NOW).getTime()).toBe(
      NOW.getTime() + 35 * 86_400_000,
    )
  })
})
