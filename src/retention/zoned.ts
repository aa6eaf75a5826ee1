/**
 * Wall-clock time in an IANA time zone, pure (Intl only). Retention buckets are calendar days,
 * weeks and months of the operator's `TZ`, not of UTC: a backup at 23:30 in New York belongs to
 * that New York day although its UTC date is the next one.
 */
import { DbkeeperError } from '../runtime/errors.js'

/** The local calendar fields of one instant; `month` 1–12, `hour` 0–23. */
export interface WallClock {
  year: number
  month: number
  day: number
  hour: number
  minute: number
  second: number
  millisecond: number
}

const formatters = new Map<string, Intl.DateTimeFormat>()

function formatterFor(timeZone: string): Intl.DateTimeFormat {
  let f = formatters.get(timeZone)
  if (!f) {
    try {
      f = new Intl.DateTimeFormat('en-US', {
        timeZone,
        hourCycle: 'h23',
        era: 'short',
        year: 'numeric',
        month: 'numeric',
        day: 'numeric',
        hour: 'numeric',
        minute: 'numeric',
        second: 'numeric',
      })
    } catch (error) {
      throw new DbkeeperError('CONFIG', `unknown time zone "${timeZone}"`, {
        hint: 'set TZ to an IANA time zone such as UTC or Europe/Berlin',
        cause: error,
      })
    }
    formatters.set(timeZone, f)
  }
  return f
}

export function wallClock(instantMs: number, timeZone: string): WallClock {
  const fields: Record<string, string> = {}
  for (const part of formatterFor(timeZone).formatToParts(instantMs)) fields[part.type] = part.value
  const yearOfEra = Number(fields.year)
  // Intl counts years BC from 1 (1 BC = year 0): only reachable through absurd inputs, but exact.
  const year = fields.era === 'BC' || fields.era === 'B' ? 1 - yearOfEra : yearOfEra
  return {
    year,
    month: Number(fields.month),
    day: Number(fields.day),
    hour: Number(fields.hour),
    minute: Number(fields.minute),
    second: Number(fields.second),
    millisecond: ((instantMs % 1000) + 1000) % 1000,
  }
}

/** The wall clock read as if it were UTC; months and days out of range roll over (Go's `time.Date`). */
export function wallAsUtcMs(w: WallClock): number {
  const d = new Date(0)
  // setUTCFullYear, not Date.UTC: Date.UTC maps years 0–99 to 1900–1999.
  d.setUTCFullYear(w.year, w.month - 1, w.day)
  d.setUTCHours(w.hour, w.minute, w.second, w.millisecond)
  return d.getTime()
}

/** Local time minus UTC at an instant, in ms (New York in winter: −5 h). */
export function zoneOffsetMs(instantMs: number, timeZone: string): number {
  return wallAsUtcMs(wallClock(instantMs, timeZone)) - instantMs
}

/**
 * The instant at which the zone's clocks show `w` (normalised). In a DST gap or overlap the wall
 * time has no or two instants; like Go's `time.Date`, one of the nearby candidates is returned.
 */
export function instantOfWallClock(w: WallClock, timeZone: string): number {
  const asUtc = wallAsUtcMs(w)
  // Within a day of Date's range limit the zone lookups below could step outside it.
  if (!(Math.abs(asUtc) < 8.64e15 - 86_400_000)) return Number.NaN
  const guess = asUtc - zoneOffsetMs(asUtc, timeZone)
  return asUtc - zoneOffsetMs(guess, timeZone)
}
