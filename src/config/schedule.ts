/**
 * The backup schedule: a cron pattern read by croner in the configured time zone. Pure: a Cron
 * built without a callback never starts a timer, so this only computes dates.
 */
import { Cron } from 'croner'

export const DEFAULT_SCHEDULE = '0 */6 * * *'

/** How many upcoming runs the interval is measured over (see scheduleInterval). */
const INTERVAL_SAMPLES = 24

/**
 * A croner instance for `schedule` in `tz`; throws on an invalid pattern. UTC (the default TZ) as
 * an offset of 0: the same dates, without a pass through Intl for every candidate time — at
 * start-up the configuration computes ~100 run times (docs/PERFORMANCE.md, "Start-up").
 */
export function cronFor(schedule: string, tz: string): Cron {
  return new Cron(schedule, tz === 'UTC' ? { utcOffset: 0 } : { timezone: tz })
}

/** Why `schedule` cannot be used, or undefined when it can. */
export function scheduleProblem(schedule: string, tz: string, now = new Date()): string | undefined {
  try {
    if (cronFor(schedule, tz).nextRun(now) === null) return 'never fires'
    return undefined
  } catch (error) {
    return (error as Error).message.replace(/^CronPattern: /, '')
  }
}

/** The next `count` run times after `from` (fewer when the pattern ends), or [] when invalid. */
export function nextRuns(schedule: string, tz: string, from: Date, count = 1): Date[] {
  try {
    return cronFor(schedule, tz).nextRuns(count, from)
  } catch {
    return []
  }
}

/**
 * The longest gap between consecutive runs over the next few runs. Longer than "the gap between
 * the next two": `0 2 * * 1-5` has 24 h gaps on weekdays but 72 h over the weekend, and a health
 * limit taken from a Tuesday would turn every Monday morning unhealthy.
 */
export function scheduleInterval(schedule: string, tz: string, from: Date): number | undefined {
  const runs = nextRuns(schedule, tz, from, INTERVAL_SAMPLES)
  let longest: number | undefined
  for (let i = 1; i < runs.length; i++) {
    const gap = runs[i]!.getTime() - runs[i - 1]!.getTime()
    if (longest === undefined || gap > longest) longest = gap
  }
  return longest
}

/**
 * An IANA time zone name this Node.js knows (TZ, and the zone cron patterns are read in). UTC
 * without asking Intl, whose first use loads ICU's zone data (~15 ms of every CLI start).
 */
export function isTimeZone(tz: string): boolean {
  if (tz === 'UTC') return true
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz })
    return true
  } catch {
    return false
  }
}
