/**
 * fast-check generators for retention: backup sets (with ties and clusters), policies, zones, clocks.
 */
import fc from 'fast-check'
import type { RetentionPolicy } from '../../src/config/types.js'
import { isActivePolicy } from '../../src/retention/index.js'

/** How many random cases each property runs; the lead quotes these numbers. */
export const NUM_RUNS = 1000
export const NUM_RUNS_ON_DISK = 200

export const BASE_MS = Date.parse('2024-01-01T00:00:00Z')
const MINUTES_IN_3_YEARS = 3 * 366 * 24 * 60

/** Zones with 1-hour DST (New York, Berlin), a 30-minute DST (Lord Howe), a :45 offset (Kathmandu). */
export const zoneArb = fc.constantFrom(
  'UTC',
  'America/New_York',
  'Europe/Berlin',
  'Australia/Lord_Howe',
  'Asia/Kathmandu',
)

/** Minutes after BASE_MS: spread over three years, or clustered in a few hours (ties, shared buckets). */
const minuteArb = fc.oneof(
  fc.integer({ min: 0, max: MINUTES_IN_3_YEARS }),
  fc.integer({ min: 0, max: 6 }).map((h) => h * 60),
)

/** A backup set in random input order; equal times happen. */
export const backupsArb = fc
  .array(minuteArb, { maxLength: 60 })
  .map((minutes) => minutes.map((m, i) => ({ id: `b${i}`, time: new Date(BASE_MS + m * 60_000).toISOString() })))

/** Distinct whole seconds (a file name holds the second), for backups that become files. */
export const distinctSecondsArb = (maxLength: number) =>
  fc
    .uniqueArray(fc.integer({ min: 0, max: MINUTES_IN_3_YEARS * 60 }), { maxLength })
    .map((secs) => secs.map((s) => new Date(BASE_MS + s * 1000)))

const countArb = fc.oneof(fc.constant(-1), fc.integer({ min: 1, max: 12 }))
const withinArb = fc
  .tuple(fc.nat(2), fc.nat(13), fc.nat(40), fc.nat(48))
  .filter((parts) => parts.some((n) => n > 0))
  .map(([y, m, d, h]) => (y ? `${y}y` : '') + (m ? `${m}m` : '') + (d ? `${d}d` : '') + (h ? `${h}h` : ''))

/** Any policy, including empty ones. */
export const anyPolicyArb: fc.Arbitrary<RetentionPolicy> = fc.record(
  {
    keepLast: countArb,
    keepHourly: countArb,
    keepDaily: countArb,
    keepWeekly: countArb,
    keepMonthly: countArb,
    keepYearly: countArb,
    keepWithin: withinArb,
  },
  { requiredKeys: [] },
)

/** A policy that keeps something: what the configuration lets through. */
export const policyArb = anyPolicyArb.filter(isActivePolicy)

/** Mostly after every backup; sometimes in the middle of them (a clock behind the newest backup). */
export const nowArb = fc.oneof(
  fc.constant(new Date('2030-01-01T00:00:00Z')),
  fc.integer({ min: 0, max: MINUTES_IN_3_YEARS }).map((m) => new Date(BASE_MS + m * 60_000)),
)
