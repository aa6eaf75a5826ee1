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

/**
 * The runs the configuration computed (the interval's sample), kept for the next-run question
 * that follows in the same process (`status`): croner computes a schedule once per start, not
 * three times (docs/PERFORMANCE.md, "Start-up"). `runs` are all the runs in (`from`, last].
 */
let sampled: { schedule: string; tz: string; from: number; runs: Date[] } | undefined

/**
 * The schedule judged once: why it cannot be used (as scheduleProblem), else the longest gap over
 * its next runs (as scheduleInterval), from one croner instance and one pass.
 */
export function judgeSchedule(
  schedule: string,
  tz: string,
  from: Date,
): { problem: string; interval?: undefined } | { problem?: undefined; interval: number | undefined } {
  let runs: Date[]
  try {
    runs = cronFor(schedule, tz).nextRuns(INTERVAL_SAMPLES, from)
  } catch (error) {
    return { problem: (error as Error).message.replace(/^CronPattern: /, '') }
  }
  if (runs.length === 0) return { problem: 'never fires' }
  sampled = { schedule, tz, from: from.getTime(), runs }
  return { interval: longestGap(runs) }
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
  if (count === 1 && sampled && sampled.schedule === schedule && sampled.tz === tz && sampled.from <= from.getTime()) {
    // croner's next run is the first one strictly after `from`; the sample holds every run
    // after its own `from`, so its first run after this `from` is croner's, if it has one.
    const t = from.getTime()
    const next = sampled.runs.find((run) => run.getTime() > t)
    if (next) return [new Date(next.getTime())]
  }
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
  return longestGap(nextRuns(schedule, tz, from, INTERVAL_SAMPLES))
}

function longestGap(runs: readonly Date[]): number | undefined {
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
