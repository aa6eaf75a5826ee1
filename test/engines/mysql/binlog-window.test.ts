/**
 * The binlog window's rules, pure: the archive's ranges from its runs, the times a restore can
 * reach from the bases' coordinates, which base and files a time replays, the stop time's text.
 */
import { describe, expect, it } from 'vitest'
import {
  binlogRanges,
  reachableRanges,
  replayFrom,
  stopDatetime,
  type BinlogBase,
  type BinlogFileSpan,
} from '../../../src/engines/mysql/binlog-window.js'

const T0 = Date.parse('2026-12-05T12:00:00Z')
const at = (s: number) => new Date(T0 + s * 1000)
const span = (file: string, first: number | undefined, last: number | undefined, end = 1000): BinlogFileSpan => ({
  file,
  first: first === undefined ? undefined : at(first),
  last: last === undefined ? undefined : at(last),
  end,
})
const base = (id: string, file: string, position: number, takenAt: number): BinlogBase => ({
  id,
  file,
  position,
  takenAt: at(takenAt),
})

// Two runs: binlog.000001–2 (0 s – 200 s), a gap, then binlog.000005–6 (500 s – 700 s).
const runs = [
  [span('binlog.000001', 0, 100), span('binlog.000002', 100, 200)],
  [span('binlog.000005', 500, 600), span('binlog.000006', 600, 700, 400)],
]

describe('binlogRanges', () => {
  it('is one range per run, from its first event to its last, the newest to its catch-up when later', () => {
    expect(binlogRanges(runs, at(730))).toEqual([
      { from: at(0), to: at(200), base: 'binlog.000001' },
      { from: at(500), to: at(730), base: 'binlog.000005' },
    ])
    expect(binlogRanges(runs, at(650))[1]!.to).toEqual(at(700))
    expect(binlogRanges(runs, undefined)[1]!.to).toEqual(at(700))
  })

  it('leaves out a run without a whole event, and is empty for an empty archive', () => {
    expect(binlogRanges([[span('binlog.000001', undefined, undefined, 0)]], at(5))).toEqual([])
    expect(binlogRanges([], at(5))).toEqual([])
    expect(
      binlogRanges([[span('binlog.000001', undefined, undefined), span('binlog.000002', 3, 9)]], undefined),
    ).toEqual([{ from: at(3), to: at(9), base: 'binlog.000001' }])
  })
})

describe('reachableRanges', () => {
  it('starts each run at its oldest base inside it; a run without a base is unreachable', () => {
    const bases = [base('b1', 'binlog.000001', 800, 50), base('b2', 'binlog.000002', 4, 150)]
    expect(reachableRanges(runs, bases, at(730))).toEqual([{ from: at(50), to: at(200), base: 'b1' }])
  })

  it('refuses a base whose file lies in a gap, or whose position is past the archived end', () => {
    const bases = [
      base('in-gap', 'binlog.000003', 4, 300),
      base('past-end', 'binlog.000006', 401, 690),
      base('ok', 'binlog.000006', 400, 695),
    ]
    expect(reachableRanges(runs, bases, at(730))).toEqual([{ from: at(695), to: at(730), base: 'ok' }])
  })

  it('ignores a base taken after the run ends', () => {
    expect(reachableRanges(runs, [base('late', 'binlog.000002', 900, 300)], undefined)).toEqual([])
  })
})

describe('replayFrom', () => {
  const bases = [
    base('b1', 'binlog.000001', 800, 50),
    base('b2', 'binlog.000002', 120, 150),
    base('b5', 'binlog.000005', 4, 510),
  ]

  it('picks the newest base before the time and replays from its position through the run', () => {
    expect(replayFrom(runs, bases, at(730), at(140))).toEqual({
      base: bases[0],
      files: ['binlog.000001', 'binlog.000002'],
      position: 800,
    })
    expect(replayFrom(runs, bases, at(730), at(150))).toEqual({
      base: bases[1],
      files: ['binlog.000002'],
      position: 120,
    })
    expect(replayFrom(runs, bases, at(730), at(720))).toEqual({
      base: bases[2],
      files: ['binlog.000005', 'binlog.000006'],
      position: 4,
    })
  })

  it('has nothing for a time before the first base, in the gap, or past the end', () => {
    expect(replayFrom(runs, bases, at(730), at(49))).toBeUndefined()
    expect(replayFrom(runs, bases, at(730), at(300))).toBeUndefined()
    expect(replayFrom(runs, bases, at(730), at(505))).toBeUndefined()
    expect(replayFrom(runs, bases, at(730), at(731))).toBeUndefined()
  })
})

describe('stopDatetime', () => {
  it('is the UTC wall time cut to the second', () => {
    expect(stopDatetime(new Date('2026-12-04T10:15:30.999Z'))).toBe('2026-12-04 10:15:30')
    expect(stopDatetime(new Date('2026-12-04T23:59:59+01:00'))).toBe('2026-12-04 22:59:59')
  })
})
