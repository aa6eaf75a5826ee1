/** DBnn_PITR, PITR_WINDOW, PITR_MAX_LAG: what is accepted, and what is refused with which words. */
import { describe, expect, it } from 'vitest'
import { expectProblems, MYSQL, parse, PASSWORD, SQLITE } from './support.js'

const POSTGRES = { DB01_TYPE: 'postgres', DB01_HOST: 'pg', DB01_NAME: 'app', DB01_PASS: PASSWORD }

describe('point-in-time recovery settings', () => {
  it('is off by default, with a 7 day window and a 60 s lag limit', () => {
    const config = parse(SQLITE)
    expect(config.sources[0]!.pitr).toBe(false)
    expect(config.pitr).toEqual({ windowMs: 7 * 86_400_000, maxLagMs: 60_000 })
  })

  it('turns on for an SQLite source and reads the window and lag as durations', () => {
    const config = parse({ ...SQLITE, DB01_PITR: 'true', PITR_WINDOW: '30d', PITR_MAX_LAG: '5m' })
    expect(config.sources[0]!.pitr).toBe(true)
    expect(config.pitr).toEqual({ windowMs: 30 * 86_400_000, maxLagMs: 300_000 })
  })

  it('turns on for a MySQL/MariaDB source: its binlog is streamed', () => {
    const config = parse({ ...MYSQL, DB01_PITR: 'true', PITR_WINDOW: '3d' })
    expect(config.sources[0]!.pitr).toBe(true)
    expect(config.pitr.windowMs).toBe(3 * 86_400_000)
  })

  it('refuses it on a PostgreSQL source: physical PITR is not supported yet', () => {
    expectProblems({ ...POSTGRES, DB01_PITR: 'yes' }, [
      {
        variable: 'DB01_PITR',
        value: 'yes',
        expected: 'physical point-in-time recovery for PostgreSQL is not supported yet',
      },
    ])
  })

  it('accepts DBnn_PITR=false on any engine', () => {
    expect(parse({ ...MYSQL, DB01_PITR: 'false' }).sources[0]!.pitr).toBe(false)
    expect(parse({ ...POSTGRES, DB01_PITR: 'off' }).sources[0]!.pitr).toBe(false)
  })

  it('names each bad value', () => {
    expectProblems({ ...SQLITE, DB01_PITR: 'maybe', PITR_WINDOW: 'a week', PITR_MAX_LAG: '8d' }, [
      { variable: 'DB01_PITR', value: 'maybe', expected: 'true or false' },
      { variable: 'PITR_WINDOW', value: 'a week', expected: 'a duration such as' },
      { variable: 'PITR_MAX_LAG', value: '8d', expected: 'a duration shorter than PITR_WINDOW (7d)' },
    ])
  })

  it('knows the variables (no unknown-variable problem, and a typo gets a suggestion)', () => {
    expect(() => parse({ ...SQLITE, DB01_PITR: 'true', PITR_WINDOW: '7d', PITR_MAX_LAG: '60s' })).not.toThrow()
    expectProblems({ ...SQLITE, PITR_WINDOWS: '7d' }, [
      { variable: 'PITR_WINDOWS', expected: 'did you mean PITR_WINDOW?' },
    ])
  })
})
