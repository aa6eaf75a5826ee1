/**
 * `keepWithin` durations (`1y2m3d4h`) as restic parses, prints and applies them.
 */
import { DbkeeperError } from '../runtime/errors.js'
import { instantOfWallClock, wallClock } from './zoned.js'

export interface CalendarDuration {
  years: number
  months: number
  days: number
  hours: number
}

const UNITS: Record<string, keyof CalendarDuration> = { y: 'years', m: 'months', d: 'days', h: 'hours' }

/**
 * Parses like restic's `ParseDuration`: number+unit pairs in any order (restic's own test uses
 * `1y1d1m`); a repeated unit replaces the earlier one. Negative numbers are refused (restic takes
 * them; a window that reaches into the future has no meaning for a backup).
 * The configuration is stricter (units in y m d h order, see src/config/retention.ts).
 */
export function parseWithin(text: string): CalendarDuration {
  const d: CalendarDuration = { years: 0, months: 0, days: 0, hours: 0 }
  const pair = /(\d+)([ymdh])/y
  let at = 0
  while (at < text.length) {
    pair.lastIndex = at
    const m = pair.exec(text)
    if (!m) {
      throw new DbkeeperError('CONFIG', `keepWithin "${text}" is not a duration`, {
        hint: 'use numbers with units y, m, d, h, such as 30d, 1y2m or 12h (KEEP_WITHIN)',
      })
    }
    d[UNITS[m[2]!]!] = Number(m[1])
    at = pair.lastIndex
  }
  if (text === '')
    throw new DbkeeperError('CONFIG', 'keepWithin is empty', { hint: 'use a duration such as 30d (KEEP_WITHIN)' })
  return d
}

export function isZeroWithin(d: CalendarDuration): boolean {
  return d.years === 0 && d.months === 0 && d.days === 0 && d.hours === 0
}

/** Prints like restic's `Duration.String()`: `1y1d1m` → `1y1m1d`; the reason reads `within 1y1m1d`. */
export function formatWithin(d: CalendarDuration): string {
  return (
    (d.years ? `${d.years}y` : '') +
    (d.months ? `${d.months}m` : '') +
    (d.days ? `${d.days}d` : '') +
    (d.hours ? `${d.hours}h` : '')
  )
}

/**
 * restic's bound: `latest.AddDate(-y, -m, -d).Add(-h hours)`. Years, months and days go back on
 * the wall clock of `timeZone` with Go's overflow rule (Mar 31 − 1m = "Feb 31" = Mar 3), so 7d
 * is seven local days even across a DST change; hours are then taken off as elapsed time.
 * A bound beyond the range of Date is −Infinity: a window that long keeps everything.
 */
export function withinBoundMs(latestMs: number, d: CalendarDuration, timeZone: string): number {
  const w = wallClock(latestMs, timeZone)
  const shifted = { ...w, year: w.year - d.years, month: w.month - d.months, day: w.day - d.days }
  const bound = instantOfWallClock(shifted, timeZone) - d.hours * 3_600_000
  return Number.isFinite(bound) && Math.abs(bound) <= 8.64e15 ? bound : Number.NEGATIVE_INFINITY
}
