/**
 * The watch's judgement, pure: a new range after the baseline is a gap (alerted, a fresh base asked
 * for), a lag past PITR_MAX_LAG is alerted once and its recovery logged, the first range of an
 * empty archive is no gap, nor a first range whose head retention removed, and what the baseline already held is not told again.
 */
import { describe, expect, it } from 'vitest'
import type { ArchiveRange, ArchiveState } from '../../src/engines/index.js'
import { pitrEvents, pitrWatchInterval } from '../../src/daemon/pitr-watch.js'
import type { PitrReading } from '../../src/daemon/pitr-status.js'

const T0 = Date.parse('2026-12-05T10:00:00Z')
const range = (base: string, fromS: number, toS: number): ArchiveRange => ({
  base,
  from: new Date(T0 + fromS * 1000),
  to: new Date(T0 + toS * 1000),
})
const reading = (ranges: ArchiveRange[], lagMs: number | undefined = 0): PitrReading[] => {
  const state: ArchiveState = { ranges, archivedAt: ranges.at(-1)?.to, lagMs }
  return [{ source: 'app', database: 'notes', archiver: 'litestream', state }]
}

describe('pitrEvents', () => {
  it('takes the first reading as the baseline, whatever it holds', () => {
    const seen = new Map()
    expect(pitrEvents(seen, reading([range('g1', 0, 10), range('g2', 20, 30)], 90_000), 60_000)).toEqual([])
  })

  it('names a new range after the baseline as a gap, once', () => {
    const seen = new Map()
    pitrEvents(seen, reading([range('g1', 0, 10)]), 60_000)
    expect(pitrEvents(seen, reading([range('g1', 0, 12)]), 60_000)).toEqual([])
    const events = pitrEvents(seen, reading([range('g1', 0, 12), range('g2', 40, 41)]), 60_000)
    expect(events).toHaveLength(1)
    expect(events[0]).toMatchObject({ kind: 'gap', source: 'app', database: 'notes' })
    expect(events[0]!.message).toContain('2026-12-05T10:00:40.000Z')
    expect(events[0]!.message).toContain('fresh base backup')
    expect(pitrEvents(seen, reading([range('g1', 0, 12), range('g2', 40, 50)]), 60_000)).toEqual([])
  })

  it('does not call the first range a gap when retention removed its head (its base renamed)', () => {
    const seen = new Map()
    pitrEvents(seen, reading([range('binlog.000001', 0, 10), range('binlog.000007', 20, 30)]), 60_000)
    expect(pitrEvents(seen, reading([range('binlog.000004', 5, 10), range('binlog.000007', 20, 31)]), 60_000)).toEqual(
      [],
    )
    expect(pitrEvents(seen, reading([range('binlog.000007', 20, 32)]), 60_000)).toEqual([])
    const gap = pitrEvents(seen, reading([range('binlog.000007', 20, 32), range('binlog.000001', 40, 41)]), 60_000)
    expect(gap.map((e) => e.kind)).toEqual(['gap'])
  })

  it("judges a binlog archive's gaps by what it holds, not by what its bases reach", () => {
    const seen = new Map()
    const mysql = (held: ArchiveRange[], reached: ArchiveRange[]): PitrReading[] => [
      {
        source: 'shop',
        database: '*',
        archiver: 'binlog',
        held,
        state: { ranges: reached, archivedAt: undefined, lagMs: 0 },
      },
    ]
    pitrEvents(seen, mysql([range('binlog.000001', 0, 10)], []), 60_000)
    // A base taken: the reachable range appears, no gap.
    expect(pitrEvents(seen, mysql([range('binlog.000001', 0, 12)], [range('id1', 5, 12)]), 60_000)).toEqual([])
    // The archive split while the reachable range stays one: a gap.
    const gap = pitrEvents(
      seen,
      mysql([range('binlog.000001', 0, 12), range('binlog.000004', 20, 21)], [range('id1', 5, 12)]),
      60_000,
    )
    expect(gap.map((e) => e.kind)).toEqual(['gap'])
    expect(gap[0]!.message).toContain('(binlog.000004)')
  })

  it('does not call the first range of an empty archive a gap', () => {
    const seen = new Map()
    pitrEvents(seen, reading([], undefined), 60_000)
    expect(pitrEvents(seen, reading([range('g1', 0, 1)]), 60_000)).toEqual([])
  })

  it('alerts a lag past PITR_MAX_LAG once, and logs its recovery', () => {
    const seen = new Map()
    pitrEvents(seen, reading([range('g1', 0, 10)], 0), 60_000)
    const late = pitrEvents(seen, reading([range('g1', 0, 10)], 61_000), 60_000)
    expect(late.map((e) => e.kind)).toEqual(['lagging'])
    expect(late[0]!.message).toContain('PITR_MAX_LAG')
    expect(late[0]!.message).toContain('archiver: "litestream"')
    expect(pitrEvents(seen, reading([range('g1', 0, 10)], 90_000), 60_000)).toEqual([])
    expect(pitrEvents(seen, reading([range('g1', 0, 95)], 0), 60_000).map((e) => e.kind)).toEqual(['recovered'])
  })

  it("names the binlog archiver in a MySQL source's lag alert", () => {
    const seen = new Map()
    const binlog = (lagMs: number): PitrReading[] => [
      {
        source: 'shop',
        database: '*',
        archiver: 'binlog',
        state: { ranges: [range('binlog.000001', 0, 10)], archivedAt: undefined, lagMs },
      },
    ]
    pitrEvents(seen, binlog(0), 60_000)
    const [late] = pitrEvents(seen, binlog(61_000), 60_000)
    expect(late!.message).toContain('the point-in-time archive of shop (its binlog) is behind')
    expect(late!.message).toContain('archiver: "binlog"')
  })

  it('reads a quarter of PITR_MAX_LAG, between 250 ms and 15 s', () => {
    expect(pitrWatchInterval(60_000)).toBe(15_000)
    expect(pitrWatchInterval(4_000)).toBe(1_000)
    expect(pitrWatchInterval(100)).toBe(250)
    expect(pitrWatchInterval(3_600_000)).toBe(15_000)
  })
})
