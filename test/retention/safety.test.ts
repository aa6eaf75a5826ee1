/**
 * The product's rules around the restic plan (src/retention/safety.ts), on in-memory catalog
 * entries: what counts, what is never touched, the newest proven backup, the refusals.
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import type { CatalogEntry } from '../../src/catalog/catalog.js'
import { DbkeeperError } from '../../src/runtime/errors.js'
import { isFromTheFuture } from '../../src/catalog/order.js'
import {
  FROM_THE_FUTURE,
  NEWEST_PROVEN,
  PRE_RESTORE,
  decideRetention,
  type RetentionScope,
} from '../../src/retention/safety.js'
import { NUM_RUNS, anyPolicyArb, distinctSecondsArb, nowArb, policyArb, zoneArb } from './arbitraries.js'
import { fakeEntry, timesEvery } from './helpers.js'

const scope = (policy: RetentionScope['policy'], extra: Partial<RetentionScope> = {}): RetentionScope => ({
  source: 'app',
  database: 'shop',
  policy,
  tz: 'UTC',
  now: new Date('2030-01-01T00:00:00Z'),
  ...extra,
})
const daily = (count: number) => timesEvery(24, count, new Date('2026-01-10T12:00:00Z')).reverse()
const verdictOf = (entries: CatalogEntry[], s: RetentionScope) =>
  decideRetention(entries, s).verdicts.map((v) => [v.action, v.reasons.join(', ')])

/** A random entry: mostly proven backups, some damaged, pre-restore, not verified or foreign. */
const entryKindArb = fc.constantFrom(
  'proven',
  'proven',
  'proven',
  'proven',
  'proven',
  'damaged',
  'pre-restore',
  'foreign',
  'unverified',
)
function makeEntry(kind: string, at: Date): CatalogEntry {
  if (kind === 'damaged') return fakeEntry('app', 'shop', at, { problem: 'the data file is missing' })
  if (kind === 'pre-restore') return fakeEntry('app', 'shop', at, { kind: 'pre-restore' })
  if (kind === 'foreign') return fakeEntry('app', 'shop', at, { manifestSource: 'web' })
  const e = fakeEntry('app', 'shop', at)
  if (kind === 'unverified') (e.manifest as { verification: unknown }).verification = { ok: false }
  return e
}
const entriesArb = distinctSecondsArb(40).chain((times) =>
  fc.array(entryKindArb, { minLength: times.length, maxLength: times.length }).map((kinds) =>
    // The catalog's order: newest first.
    times
      .map((t, i) => makeEntry(kinds[i]!, t))
      .sort((a, b) => b.manifest.startedAt.localeCompare(a.manifest.startedAt)),
  ),
)
const isCounted = (e: CatalogEntry, now = scope({}).now) =>
  e.problem === undefined &&
  e.manifest.kind === 'backup' &&
  e.manifest.source === 'app' &&
  e.manifest.verification.ok &&
  !isFromTheFuture(e.manifest, now)

describe('decideRetention', () => {
  it('keeps the newest proven backup even when it is not the newest entry', () => {
    const [t1, t2, t3] = daily(3) as [Date, Date, Date]
    const entries = [
      fakeEntry('app', 'shop', t1, { problem: 'the data file is missing' }),
      fakeEntry('app', 'shop', t2),
      fakeEntry('app', 'shop', t3),
    ]
    expect(verdictOf(entries, scope({ keepLast: 1 }))).toEqual([
      ['keep', 'damaged (the data file is missing): left for inspection'],
      ['keep', `last snapshot, ${NEWEST_PROVEN}`],
      ['remove', ''],
    ])
  })

  it('never counts or removes pre-restore, foreign or unverified backups', () => {
    const [t1, t2, t3, t4] = daily(4) as [Date, Date, Date, Date]
    const unverified = fakeEntry('app', 'shop', t4)
    ;(unverified.manifest as { verification: unknown }).verification = { ok: false }
    const entries = [
      fakeEntry('app', 'shop', t1),
      fakeEntry('app', 'shop', t2, { kind: 'pre-restore' }),
      fakeEntry('app', 'shop', t3, { manifestDatabase: 'shop2' }),
      unverified,
    ]
    expect(verdictOf(entries, scope({ keepLast: 1 }))).toEqual([
      ['keep', `last snapshot, ${NEWEST_PROVEN}`],
      ['keep', PRE_RESTORE],
      ['keep', 'belongs to app/shop2, not app/shop: left alone'],
      ['keep', 'not verified: left for inspection'],
    ])
  })

  it('never counts a backup stamped in the future: it keeps no slot from the new backup, and is kept itself', () => {
    const now = new Date('2026-01-10T12:00:00Z')
    const future = fakeEntry('app', 'shop', new Date('2027-01-10T12:00:00Z'))
    const almostNow = fakeEntry('app', 'shop', new Date(now.getTime() + 4 * 60_000)) // within the 5-minute tolerance
    const [t1, t2] = daily(2) as [Date, Date]
    const entries = [future, almostNow, fakeEntry('app', 'shop', t1), fakeEntry('app', 'shop', t2)]
    expect(verdictOf(entries, scope({ keepLast: 1 }, { now }))).toEqual([
      ['keep', FROM_THE_FUTURE],
      ['keep', `last snapshot, ${NEWEST_PROVEN}`],
      ['remove', ''],
      ['remove', ''],
    ])
    // Alone, it is not counted: nothing to refuse, nothing removed.
    expect(decideRetention([future], scope({ keepLast: 1 }, { now })).remove).toEqual([])
    // Once real time has passed its stamp, it is an ordinary backup again.
    expect(verdictOf([future], scope({ keepLast: 1 }, { now: new Date('2027-02-01T00:00:00Z') }))).toEqual([
      ['keep', `last snapshot, ${NEWEST_PROVEN}`],
    ])
  })

  it('refuses an empty policy, naming the database and the number of backups, and removes nothing', () => {
    const entries = daily(5).map((t) => fakeEntry('app', 'shop', t))
    for (const policy of [{}, { keepLast: 0 }, { keepWithin: '0d' }]) {
      let error: unknown
      try {
        decideRetention(entries, scope(policy))
      } catch (e) {
        error = e
      }
      expect(error).toBeInstanceOf(DbkeeperError)
      expect((error as DbkeeperError).code).toBe('RETENTION')
      expect((error as DbkeeperError).message).toMatch(
        /^retention for app\/shop refused: the policy .* keeps nothing and would remove all 5 backups; nothing was deleted$/,
      )
      expect((error as DbkeeperError).hint).toMatch(/KEEP_DAILY/)
    }
  })

  it('does nothing, and refuses nothing, in a directory without proven backups', () => {
    expect(decideRetention([], scope({ keepLast: 1 }))).toEqual({ verdicts: [], remove: [] })
  })

  it(`always keeps the newest proven backup and never touches what does not count (${NUM_RUNS} random cases)`, () => {
    fc.assert(
      fc.property(entriesArb, policyArb, zoneArb, nowArb, (entries, policy, tz, now) => {
        const { verdicts, remove } = decideRetention(entries, scope(policy, { tz, now }))
        expect(verdicts.map((v) => v.file)).toEqual(entries.map((e) => e.manifest.file))
        const counted = entries.filter((e) => isCounted(e, now))
        const newest = counted[0]
        const withNewest = verdicts.filter((v) => v.reasons.includes(NEWEST_PROVEN))
        expect(withNewest.map((v) => v.file)).toEqual(newest ? [newest.manifest.file] : [])
        expect(withNewest.every((v) => v.action === 'keep')).toBe(true)
        const removed = new Set(remove.map((e) => e.manifest.file))
        for (const [i, e] of entries.entries()) {
          expect(verdicts[i]!.action).toBe(removed.has(e.manifest.file) ? 'remove' : 'keep')
          if (!isCounted(e, now)) expect(removed.has(e.manifest.file)).toBe(false)
        }
        if (counted.length > 0) expect(removed.size).toBeLessThan(counted.length)
      }),
      { numRuns: NUM_RUNS },
    )
  })

  it(`with any policy at all, either refuses or keeps at least one proven backup (${NUM_RUNS} random cases)`, () => {
    fc.assert(
      fc.property(entriesArb, anyPolicyArb, (entries, policy) => {
        try {
          const { remove } = decideRetention(entries, scope(policy))
          const counted = entries.filter((e) => isCounted(e))
          if (counted.length > 0) expect(remove.length).toBeLessThan(counted.length)
        } catch (error) {
          expect((error as DbkeeperError).code).toBe('RETENTION')
        }
      }),
      { numRuns: NUM_RUNS },
    )
  })
})
