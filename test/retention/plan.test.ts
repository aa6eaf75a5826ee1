/**
 * The edges of planRetention that restic's vectors do not pin down: the exact keepWithin bound,
 * ties, the clock, ISO weeks at year ends, and refusing input that would make a plan wrong.
 */
import { describe, expect, it } from 'vitest'
import { isoWeek } from '../../src/retention/buckets.js'
import { isActivePolicy, planRetention } from '../../src/retention/index.js'
import { formatWithin, parseWithin, withinBoundMs } from '../../src/retention/within.js'

const NOW = new Date('2030-01-01T00:00:00Z')
const at = (id: string, time: string) => ({ id, time })

describe('keepWithin', () => {
  it('subtracts months like Go AddDate: Mar 31 − 1 month is Mar 3 (2026 is no leap year)', () => {
    const bound = withinBoundMs(Date.parse('2026-03-31T12:00:00Z'), parseWithin('1m'), 'UTC')
    expect(new Date(bound).toISOString()).toBe('2026-03-03T12:00:00.000Z')
  })

  it('subtracts hours after the calendar part', () => {
    const bound = withinBoundMs(Date.parse('2026-03-01T01:00:00Z'), parseWithin('1d2h'), 'UTC')
    expect(new Date(bound).toISOString()).toBe('2026-02-27T23:00:00.000Z')
  })

  it('keeps backups strictly newer than the bound, not one at the bound', () => {
    const plan = planRetention(
      [at('new', '2026-03-31T12:00:00Z'), at('edge', '2026-03-03T12:00:00Z'), at('inside', '2026-03-03T12:00:00.001Z')],
      { keepWithin: '1m' },
      NOW,
    )
    expect(plan.keep.map((k) => k.id)).toEqual(['new', 'inside'])
    expect(plan.remove).toEqual([{ id: 'edge' }])
  })

  it('counts back from the newest backup, not from now', () => {
    const plan = planRetention(
      [at('a', '2020-01-10T00:00:00Z'), at('b', '2020-01-05T00:00:00Z'), at('c', '2019-12-01T00:00:00Z')],
      { keepWithin: '7d' },
      NOW,
    )
    expect(plan.keep).toEqual([
      { id: 'a', reasons: ['within 7d'] },
      { id: 'b', reasons: ['within 7d'] },
    ])
  })

  it('does not let a backup stamped in the future anchor the window (restic findLatestTimestamp)', () => {
    const now = new Date('2026-01-10T00:00:00Z')
    const plan = planRetention(
      [at('future', '2027-01-01T00:00:00Z'), at('a', '2026-01-09T00:00:00Z'), at('b', '2026-01-05T00:00:00Z')],
      { keepWithin: '7d' },
      now,
    )
    expect(plan.keep.map((k) => k.id)).toEqual(['future', 'a', 'b'])
  })

  it('keeps everything when no backup is older than the clock (a clock reset to 1970 only keeps more)', () => {
    const plan = planRetention(
      [at('a', '2026-01-09T00:00:00Z'), at('b', '2020-01-05T00:00:00Z')],
      { keepWithin: '1d' },
      new Date(0),
    )
    expect(plan.remove).toEqual([])
  })

  it('parses units in any order like restic and prints them in y m d h order', () => {
    expect(formatWithin(parseWithin('1y1d1m'))).toBe('1y1m1d')
    expect(formatWithin(parseWithin('12h'))).toBe('12h')
    expect(() => parseWithin('7 days')).toThrow(/not a duration/)
    expect(() => parseWithin('-7d')).toThrow(/not a duration/)
    expect(() => parseWithin('')).toThrow(/empty/)
  })

  it('treats a zero window as no rule, and a window beyond the calendar as keeping everything', () => {
    expect(isActivePolicy({ keepWithin: '0d' })).toBe(false)
    const plan = planRetention(
      [at('a', '2026-01-09T00:00:00Z'), at('b', '1990-01-05T00:00:00Z')],
      { keepWithin: '999999999y' },
      NOW,
    )
    expect(plan.remove).toEqual([])
  })
})

describe('bucket rules', () => {
  it('sorts newest first and keeps input order for equal times (stable)', () => {
    const t = '2026-01-01T00:00:00Z'
    const plan = planRetention(
      [at('x', t), at('older', '2025-12-31T00:00:00Z'), at('y', t), at('z', t)],
      { keepLast: -1 },
      NOW,
    )
    expect(plan.keep.map((k) => k.id)).toEqual(['x', 'y', 'z', 'older'])
  })

  it('keeps the oldest backup while counts are left, and says so', () => {
    const plan = planRetention(
      [at('a', '2026-01-01T12:00:00Z'), at('b', '2026-01-01T08:00:00Z'), at('c', '2026-01-01T04:00:00Z')],
      { keepDaily: 5 },
      NOW,
    )
    expect(plan.keep).toEqual([
      { id: 'a', reasons: ['daily snapshot'] },
      { id: 'c', reasons: ['oldest daily snapshot'] },
    ])
    expect(plan.remove).toEqual([{ id: 'b' }])
  })

  it('lets one backup use a count in several rules', () => {
    const plan = planRetention(
      [at('a', '2026-01-01T12:00:00Z'), at('b', '2025-12-01T12:00:00Z')],
      { keepDaily: 1, keepMonthly: 1 },
      NOW,
    )
    expect(plan.keep).toEqual([{ id: 'a', reasons: ['daily snapshot', 'monthly snapshot'] }])
  })

  it('keeps nothing with an empty policy (the product refuses one before planning)', () => {
    const plan = planRetention([at('a', '2026-01-01T00:00:00Z')], {}, NOW)
    expect(plan).toEqual({ keep: [], remove: [{ id: 'a' }] })
    expect(isActivePolicy({})).toBe(false)
    expect(isActivePolicy({ keepLast: 0 })).toBe(false)
    expect(planRetention([], { keepLast: 3 }, NOW)).toEqual({ keep: [], remove: [] })
  })

  it('refuses input that would make the plan wrong instead of guessing', () => {
    expect(() =>
      planRetention([at('a', '2026-01-01T00:00:00Z'), at('a', '2026-01-02T00:00:00Z')], { keepLast: 1 }, NOW),
    ).toThrow(/twice/)
    expect(() => planRetention([at('a', 'yesterday')], { keepLast: 1 }, NOW)).toThrow(/unreadable time/)
    expect(() => planRetention([at('a', '2026-01-01T00:00:00Z')], { keepDaily: -2 }, NOW)).toThrow(/keepDaily is -2/)
    expect(() => planRetention([at('a', '2026-01-01T00:00:00Z')], { keepDaily: 1.5 }, NOW)).toThrow(/keepDaily/)
    expect(() =>
      planRetention([at('a', '2026-01-01T00:00:00Z')], { keepLast: 1 }, NOW, { tz: 'Mars/Olympus' }),
    ).toThrow(/unknown time zone/)
    expect(() => planRetention([], { keepWithin: '7 days' }, NOW)).toThrow(/not a duration/)
  })
})

describe('ISO weeks', () => {
  it.each([
    ['2026-01-01', 2026, 1], // a Thursday: week 1
    ['2027-01-01', 2026, 53], // a Friday: still the last week of 2026
    ['2024-12-30', 2025, 1], // a Monday whose Thursday is in 2025
    ['2021-01-03', 2020, 53], // a Sunday
    ['2026-12-28', 2026, 53],
  ])('%s is ISO week %i-W%i', (date, isoYear, week) => {
    const [y, m, d] = date.split('-').map(Number) as [number, number, number]
    expect(isoWeek(y, m, d)).toEqual({ isoYear, week })
  })
})
