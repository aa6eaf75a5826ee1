/**
 * Buckets are local calendar units of TZ. Around a DST change a local day is 23 or 25 hours long
 * and starts at a different UTC hour than the day before; keepDaily must still keep exactly one
 * backup per local day, the newest of that day.
 */
import { describe, expect, it } from 'vitest'
import { planRetention } from '../../src/retention/index.js'
import { withinBoundMs, parseWithin } from '../../src/retention/within.js'
import { timesEvery } from './helpers.js'

const NEW_YORK = 'America/New_York'
const NOW = new Date('2030-01-01T00:00:00Z')

/** The local calendar date, through a different Intl path than the code under test. */
const localDate = (d: Date, timeZone: string) =>
  new Intl.DateTimeFormat('en-CA', { timeZone, year: 'numeric', month: '2-digit', day: '2-digit' }).format(d)

function backupsEvery6h(from: string, to: string) {
  const last = new Date(to)
  const count = (last.getTime() - new Date(from).getTime()) / 21_600_000 + 1
  return timesEvery(6, count, last).map((t) => ({ id: t.toISOString(), time: t.toISOString() }))
}

function newestPerLocalDay(backups: { id: string; time: string }[], timeZone: string): Map<string, string> {
  const newest = new Map<string, string>()
  for (const b of backups) {
    const day = localDate(new Date(b.time), timeZone)
    const seen = newest.get(day)
    if (seen === undefined || b.time > seen) newest.set(day, b.id)
  }
  return newest
}

describe.each([
  ['fall back, 2026-11-01 (25-hour day)', '2026-10-28T00:00:00Z', '2026-11-05T18:00:00Z'],
  ['spring forward, 2026-03-08 (23-hour day)', '2026-03-04T00:00:00Z', '2026-03-11T18:00:00Z'],
])('TZ=America/New_York, backups every 6 hours around %s', (_, from, to) => {
  const backups = backupsEvery6h(from, to)
  const expected = newestPerLocalDay(backups, NEW_YORK)

  it('keepDaily=-1 keeps exactly one backup per local day, the newest of that day', () => {
    const plan = planRetention(backups, { keepDaily: -1 }, NOW, { tz: NEW_YORK })
    const keptDays = plan.keep.map((k) => localDate(new Date(k.id), NEW_YORK))
    expect(new Set(keptDays).size).toBe(keptDays.length)
    // The oldest backup (00:00Z = 19:00 or 20:00 the evening before) is alone on its local day,
    // so restic's "keep the oldest" rule adds no second backup to any day here.
    expect(plan.keep.map((k) => k.id).sort()).toEqual([...expected.values()].sort())
    expect(expected.size).toBeGreaterThanOrEqual(8)
  })

  it('keepDaily=3 keeps the newest backup of each of the 3 newest local days', () => {
    const plan = planRetention(backups, { keepDaily: 3 }, NOW, { tz: NEW_YORK })
    const days = [...expected.keys()].sort().reverse().slice(0, 3)
    expect(plan.keep.map((k) => k.id)).toEqual(days.map((d) => expected.get(d)))
  })
})

describe('the DST day itself', () => {
  it('puts 2026-11-02T00:00Z (19:00 EST) in local Nov 1, where UTC buckets would not', () => {
    const backups = backupsEvery6h('2026-10-31T00:00:00Z', '2026-11-02T00:00:00Z')
    const ny = planRetention(backups, { keepDaily: 2 }, NOW, { tz: NEW_YORK })
    // Local Nov 1 runs 04:00Z (00:00 EDT) to 05:00Z Nov 2 (00:00 EST): 25 hours.
    expect(ny.keep.map((k) => k.id)).toEqual(['2026-11-02T00:00:00.000Z', '2026-11-01T00:00:00.000Z'])
    const utc = planRetention(backups, { keepDaily: 2 }, NOW, { tz: 'UTC' })
    expect(utc.keep.map((k) => k.id)).toEqual(['2026-11-02T00:00:00.000Z', '2026-11-01T18:00:00.000Z'])
  })

  it('counts a backup on Sunday evening New York time in that ISO week, not the next', () => {
    // 2026-11-09T02:00Z is Sunday 21:00 EST, ISO week 45; in UTC it is Monday, week 46.
    const backups = [
      { id: 'sun-evening', time: '2026-11-09T02:00:00Z' },
      { id: 'sat', time: '2026-11-07T15:00:00Z' },
      { id: 'prev-week', time: '2026-11-01T15:00:00Z' },
    ]
    expect(planRetention(backups, { keepWeekly: 2 }, NOW, { tz: NEW_YORK }).keep.map((k) => k.id)).toEqual([
      'sun-evening',
      'prev-week',
    ])
    expect(planRetention(backups, { keepWeekly: 2 }, NOW, { tz: 'UTC' }).keep.map((k) => k.id)).toEqual([
      'sun-evening',
      'sat',
    ])
  })

  it('counts keepWithin days on the local calendar: 1d back from Nov 2 00:00 EST is Nov 1 00:00 EDT (25 h)', () => {
    const latest = Date.parse('2026-11-02T05:00:00Z')
    expect(new Date(withinBoundMs(latest, parseWithin('1d'), NEW_YORK)).toISOString()).toBe('2026-11-01T04:00:00.000Z')
    expect(new Date(withinBoundMs(latest, parseWithin('24h'), NEW_YORK)).toISOString()).toBe('2026-11-01T05:00:00.000Z')
  })
})
