import { describe, expect, it } from 'vitest'
import { formatDuration, parseDuration } from '../../src/runtime/duration.js'

describe('parseDuration', () => {
  it.each([
    ['60', 60_000],
    ['60s', 60_000],
    ['5m', 300_000],
    ['13h', 46_800_000],
    ['90m', 5_400_000],
    ['1d12h', 129_600_000],
    ['1h30m', 5_400_000],
    ['2D', 172_800_000],
    [' 10s ', 10_000],
  ])('%s → %d ms', (text, ms) => expect(parseDuration(text)).toBe(ms))

  it.each(['', 'h', '1 minute', '5min', '1.5h', '-5s', '30m1h', '1y'])('refuses %j', (text) =>
    expect(parseDuration(text)).toBeUndefined(),
  )
})

describe('formatDuration', () => {
  it.each([
    [0, '0s'],
    [999, '0s'],
    [12_000, '12s'],
    [3_723_000, '1h 2m'],
    [13 * 3_600_000, '13h'],
    [(30 * 24 + 5) * 3_600_000 + 7000, '30d 5h'],
    [-60_000, '-1m'],
  ])('%d ms → %s', (ms, text) => expect(formatDuration(ms)).toBe(text))
})
