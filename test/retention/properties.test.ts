/**
 * Properties of planRetention on random backup sets, policies, zones and clocks. The case counts
 * are in the test names (NUM_RUNS each).
 *
 * "Planning again on the kept set removes nothing" does hold for restic's semantics: a rule that
 * skipped a backup did so because its bucket equalled the rule's last kept bucket (or counts ran
 * out), and both are unchanged on the kept set; the one difference is that the kept set's oldest
 * backup may now also be kept by a rule as "oldest", which adds a reason, never a removal. So the
 * test asserts the same kept set, not the same reasons.
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { BUCKET_RULES } from '../../src/retention/buckets.js'
import { planRetention } from '../../src/retention/index.js'
import { NUM_RUNS, backupsArb, nowArb, policyArb, zoneArb } from './arbitraries.js'

const sortedIds = (xs: { id: string }[]) => xs.map((x) => x.id).sort()

/** The order restic walks: newest first, input order among equal times. */
function newestFirst(backups: { id: string; time: string }[]): string[] {
  return backups
    .map((b, i) => ({ id: b.id, ms: Date.parse(b.time), i }))
    .sort((a, b) => b.ms - a.ms || a.i - b.i)
    .map((b) => b.id)
}

const input = fc.record({ backups: backupsArb, policy: policyArb, tz: zoneArb, now: nowArb })

describe(`planRetention properties (${NUM_RUNS} random cases each)`, () => {
  it(`kept ∪ removed = input, with no duplicates (${NUM_RUNS} cases)`, () => {
    fc.assert(
      fc.property(input, ({ backups, policy, tz, now }) => {
        const plan = planRetention(backups, policy, now, { tz })
        const all = [...plan.keep, ...plan.remove]
        expect(new Set(all.map((x) => x.id)).size).toBe(all.length)
        expect(sortedIds(all)).toEqual(sortedIds(backups))
      }),
      { numRuns: NUM_RUNS },
    )
  })

  it(`keep and remove are each newest first, stable for equal times (${NUM_RUNS} cases)`, () => {
    fc.assert(
      fc.property(input, ({ backups, policy, tz, now }) => {
        const plan = planRetention(backups, policy, now, { tz })
        const order = newestFirst(backups)
        const kept = new Set(plan.keep.map((k) => k.id))
        expect(plan.keep.map((k) => k.id)).toEqual(order.filter((id) => kept.has(id)))
        expect(plan.remove.map((r) => r.id)).toEqual(order.filter((id) => !kept.has(id)))
      }),
      { numRuns: NUM_RUNS },
    )
  })

  it(`the newest backup is always kept by a policy that keeps something (${NUM_RUNS} cases)`, () => {
    fc.assert(
      fc.property(
        input.filter((x) => x.backups.length > 0),
        ({ backups, policy, tz, now }) => {
          const plan = planRetention(backups, policy, now, { tz })
          expect(plan.keep[0]?.id).toBe(newestFirst(backups)[0])
        },
      ),
      { numRuns: NUM_RUNS },
    )
  })

  it(`planning again on the kept set removes nothing more (${NUM_RUNS} cases)`, () => {
    fc.assert(
      fc.property(input, ({ backups, policy, tz, now }) => {
        const first = planRetention(backups, policy, now, { tz })
        const kept = new Set(first.keep.map((k) => k.id))
        const second = planRetention(
          backups.filter((b) => kept.has(b.id)),
          policy,
          now,
          { tz },
        )
        expect(second.remove).toEqual([])
        expect(second.keep.map((k) => k.id)).toEqual(first.keep.map((k) => k.id))
      }),
      { numRuns: NUM_RUNS },
    )
  })

  it(`a rule with count n keeps at most n backups; every reason names a rule of the policy (${NUM_RUNS} cases)`, () => {
    fc.assert(
      fc.property(input, ({ backups, policy, tz, now }) => {
        const plan = planRetention(backups, policy, now, { tz })
        for (const rule of BUCKET_RULES) {
          const n = policy[rule.field] ?? 0
          const uses = plan.keep.filter((k) =>
            k.reasons.some((r) => r === rule.reason || r === `oldest ${rule.reason}`),
          ).length
          if (n > 0) expect(uses).toBeLessThanOrEqual(n)
          if (n === 0) expect(uses).toBe(0)
        }
        for (const k of plan.keep) {
          expect(k.reasons.length).toBeGreaterThan(0)
          if (policy.keepWithin === undefined) expect(k.reasons.some((r) => r.startsWith('within'))).toBe(false)
        }
      }),
      { numRuns: NUM_RUNS },
    )
  })

  it(`an unlimited daily rule keeps one backup per local day, plus at most the oldest (${NUM_RUNS} cases)`, () => {
    fc.assert(
      fc.property(backupsArb, zoneArb, (backups, tz) => {
        const plan = planRetention(backups, { keepDaily: -1 }, new Date('2030-01-01T00:00:00Z'), { tz })
        const day = (id: string) =>
          new Intl.DateTimeFormat('en-CA', { timeZone: tz, dateStyle: 'short' }).format(
            Date.parse(backups.find((b) => b.id === id)!.time),
          )
        const days = new Set(backups.map((b) => day(b.id)))
        const extra = plan.keep.filter((k) => k.reasons.includes('oldest daily snapshot')).length
        expect(plan.keep.length).toBe(days.size + extra)
        expect(extra).toBeLessThanOrEqual(1)
      }),
      { numRuns: NUM_RUNS },
    )
  })
})
