/**
 * The bucket keys of restic's `forget` rules, computed from a backup's local wall clock. Two
 * backups share a bucket exactly when they fall in the same hour / day / ISO week / month / year.
 * The numbers are restic's (`ymdh`, `ymd`, `yw`, `ym`, `y` in internal/data/snapshot_policy.go).
 */
import type { WallClock } from './zoned.js'

export type CountRule = 'keepLast' | 'keepHourly' | 'keepDaily' | 'keepWeekly' | 'keepMonthly' | 'keepYearly'

export interface BucketRule {
  field: CountRule
  /** restic's reason string for a backup this rule keeps. */
  reason: string
  /** `index` is the backup's position in the newest-first list: `keepLast` gives each its own bucket. */
  key(local: WallClock, index: number): number
}

/** ISO 8601 week of a calendar date: weeks start on Monday; week 1 holds the year's first Thursday. */
export function isoWeek(year: number, month: number, day: number): { isoYear: number; week: number } {
  const date = new Date(0)
  date.setUTCFullYear(year, month - 1, day)
  const weekday = date.getUTCDay() === 0 ? 7 : date.getUTCDay()
  // The Thursday of the same ISO week decides the ISO year.
  const thursday = new Date(date.getTime() + (4 - weekday) * 86_400_000)
  const isoYear = thursday.getUTCFullYear()
  const jan1 = new Date(0)
  jan1.setUTCFullYear(isoYear, 0, 1)
  const dayOfYear = Math.round((thursday.getTime() - jan1.getTime()) / 86_400_000)
  return { isoYear, week: Math.floor(dayOfYear / 7) + 1 }
}

/** In the order restic evaluates them, which is also the order of the reasons it reports. */
export const BUCKET_RULES: readonly BucketRule[] = [
  { field: 'keepLast', reason: 'last snapshot', key: (_, index) => index },
  {
    field: 'keepHourly',
    reason: 'hourly snapshot',
    key: (t) => t.year * 1_000_000 + t.month * 10_000 + t.day * 100 + t.hour,
  },
  { field: 'keepDaily', reason: 'daily snapshot', key: (t) => t.year * 10_000 + t.month * 100 + t.day },
  {
    field: 'keepWeekly',
    reason: 'weekly snapshot',
    key: (t) => {
      const { isoYear, week } = isoWeek(t.year, t.month, t.day)
      return isoYear * 100 + week
    },
  },
  { field: 'keepMonthly', reason: 'monthly snapshot', key: (t) => t.year * 100 + t.month },
  { field: 'keepYearly', reason: 'yearly snapshot', key: (t) => t.year },
]
