/** The simple daily shapes in UTC, computed without croner: the same runs as croner, or croner's own. */
import { Cron } from 'croner'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { nextRuns, simpleRuns } from '../../src/config/schedule.js'

const hourField = fc.oneof(
  fc.constant('*'),
  fc.integer({ min: 1, max: 30 }).map((n) => `*/${n}`),
  fc.array(fc.integer({ min: 0, max: 25 }), { minLength: 1, maxLength: 6 }).map((hs) => hs.join(',')),
  fc.integer({ min: 0, max: 23 }).map(String),
)
const minuteField = fc.oneof(fc.integer({ min: 0, max: 61 }).map(String), fc.constantFrom('00', '05', '*', '*/5'))
const pattern = fc
  .tuple(minuteField, hourField, fc.constantFrom('*', '*', '*', '1', '1-5'))
  .map(([m, h, tail]) => `${m} ${h} * * ${tail}`)
// 1990–2100, with whole minutes, whole seconds and odd milliseconds all likely.
const instant = fc
  .tuple(fc.integer({ min: 631_152_000, max: 4_102_444_800 }), fc.constantFrom(0, 0, 1, 999), fc.boolean())
  .map(([s, ms, onMinute]) => new Date((onMinute ? s - (s % 60) : s) * 1000 + ms))

function croner(p: string, from: Date, count: number): string[] | string {
  try {
    return new Cron(p, { utcOffset: 0 }).nextRuns(count, from).map((d) => d.toISOString())
  } catch (error) {
    return (error as Error).message
  }
}

describe('simpleRuns', () => {
  it('computes the runs croner computes, for thousands of patterns and instants', () => {
    let simple = 0
    fc.assert(
      fc.property(pattern, instant, fc.integer({ min: 1, max: 30 }), (p, from, count) => {
        const fast = simpleRuns(p, 'UTC', from, count)
        if (fast === undefined) return
        simple++
        expect(
          fast.map((d) => d.toISOString()),
          `${p} from ${from.toISOString()}`,
        ).toEqual(croner(p, from, count))
      }),
      { numRuns: 8000 },
    )
    expect(simple).toBeGreaterThan(1500)
  })

  it('leaves other zones, fields and shapes to croner', () => {
    const from = new Date('2026-11-18T12:00:00Z')
    for (const p of ['0 2 * * *', '0 */6 * * *', '15 1,13 * * *']) {
      expect(simpleRuns(p, 'UTC', from, 1)).toHaveLength(1)
      expect(simpleRuns(p, 'Europe/Berlin', from, 1)).toBeUndefined()
    }
    for (const p of ['0 2 * * 1-5', '0 0 2 * * *', '00 2 * * *', '60 2 * * *', '0 24 * * *', '@daily', '0 2 1 * *']) {
      expect(simpleRuns(p, 'UTC', from, 1), p).toBeUndefined()
    }
    expect(nextRuns('0 2 * * 1-5', 'UTC', from, 3).map((d) => d.toISOString())).toEqual(croner('0 2 * * 1-5', from, 3))
  })
})
