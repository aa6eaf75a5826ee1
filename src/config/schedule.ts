/**
 * The backup schedule: a cron pattern read by croner in the configured time zone. Pure: a Cron
 * built without a callback never starts a timer, so this only computes dates.
 */
import { createRequire } from 'node:module'
import type { Cron } from 'croner'

export const DEFAULT_SCHEDULE = '0 */6 * * *'

/** How many upcoming runs the interval is measured over (see longestGap). */
const INTERVAL_SAMPLES = 24

let CronClass: typeof Cron | undefined

const DAY_MS = 86_400_000
const MINUTE_FIELD = /^(?:[0-9]|[1-5][0-9])$/
const HOUR_FIELD = /^(?:[0-9]|1[0-9]|2[0-3])$/
const HOUR_STEP = /^\*\/([1-9]|1[0-9]|2[0-3])$/

/**
 * The next `count` runs after `from` of `M H * * *` in UTC, H `*`, `*\/N` or a list of hours, as
 * croner computes them (property-tested against it, test/config/schedule-simple.test.ts); undefined
 * for any other pattern or zone, which croner computes. Runs fall on whole minutes, so "the first
 * run strictly after `from`" is croner's "after `from` rounded down to the second".
 */
export function simpleRuns(schedule: string, tz: string, from: Date, count: number): Date[] | undefined {
  if (tz !== 'UTC') return undefined
  const fields = schedule.split(' ')
  if (fields.length !== 5 || fields[2] !== '*' || fields[3] !== '*' || fields[4] !== '*') return undefined
  const [minute, hour] = fields as [string, string]
  if (!MINUTE_FIELD.test(minute)) return undefined
  let hours: number[]
  const step = HOUR_STEP.exec(hour)
  if (hour === '*') hours = Array.from({ length: 24 }, (_, h) => h)
  else if (step) hours = Array.from({ length: Math.ceil(24 / Number(step[1])) }, (_, i) => i * Number(step[1]))
  else {
    const parts = hour.split(',')
    if (!parts.every((p) => HOUR_FIELD.test(p))) return undefined
    hours = [...new Set(parts.map(Number))].sort((a, b) => a - b)
  }
  const t0 = from.getTime()
  if (!Number.isFinite(t0)) return undefined
  const offset = Number(minute) * 60_000
  const runs: Date[] = []
  for (let day = Math.floor(t0 / DAY_MS) * DAY_MS; runs.length < count; day += DAY_MS) {
    for (const h of hours) {
      const t = day + h * 3_600_000 + offset
      if (t > t0 && runs.length < count) runs.push(new Date(t))
    }
  }
  return runs
}

/**
 * A croner instance for `schedule` in `tz`; throws on an invalid pattern. UTC (the default TZ) as
 * an offset of 0: the same dates, without a pass through Intl for every candidate time — at
 * start-up the configuration computes ~100 run times (docs/PERFORMANCE.md, "Start-up").
 */
export function cronFor(schedule: string, tz: string): Cron {
  // Loaded on first use: a start whose schedule is a simple daily shape in UTC (simpleRuns) does
  // not load croner at all (~9 M instructions, docs/PERFORMANCE.md, "Start-up").
  CronClass ??= (createRequire(import.meta.url)('croner') as typeof import('croner')).Cron
  return new CronClass(schedule, tz === 'UTC' ? { utcOffset: 0 } : { timezone: tz })
}

/**
 * The runs the configuration computed (the interval's sample), kept for the next-run question
 * that follows in the same process (`status`): croner computes a schedule once per start, not
 * three times (docs/PERFORMANCE.md, "Start-up"). `runs` are all the runs in (`from`, last].
 */
let sampled: { schedule: string; tz: string; from: number; runs: Date[] } | undefined

/**
 * The schedule judged once: why it cannot be used (as scheduleProblem), else the longest gap over
 * its next runs (longestGap), from one croner instance and one pass.
 */
export function judgeSchedule(
  schedule: string,
  tz: string,
  from: Date,
): { problem: string; interval?: undefined } | { problem?: undefined; interval: number | undefined } {
  let runs: Date[]
  try {
    runs = simpleRuns(schedule, tz, from, INTERVAL_SAMPLES) ?? cronFor(schedule, tz).nextRuns(INTERVAL_SAMPLES, from)
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
  const simple = simpleRuns(schedule, tz, from, count)
  if (simple) return simple
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
