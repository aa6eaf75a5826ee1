/**
 * restic's own retention vectors (test/fixtures/retention/NOTICE.md): the same 103 backups under
 * 40 policies, with the backups restic keeps and the reasons it gives.
 *
 * All 40 cases are loaded. The 31 `required` ones must match exactly: kept times in order and the
 * reasons for each. The other 9 (cases 18–20 keepTags; 30–35 keepWithinHourly … keepWithinYearly)
 * use restic features dbkeeper does not offer (backups carry no tags; no within-bucket rules), so
 * they are not planned; a test pins down that exactly those 9 are the ones left out and that each
 * really uses such a feature, so a vector cannot drop out of the required set unnoticed.
 */
import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import type { RetentionPolicy } from '../../src/config/types.js'
import { planRetention } from '../../src/retention/index.js'

interface Case {
  case: number
  required: boolean
  policy: RetentionPolicy & Record<string, unknown>
  keep: string[]
  reasons: { time: string; matches: string[] }[] | null
}

const fixture = (name: string): unknown =>
  JSON.parse(readFileSync(new URL(`../fixtures/retention/${name}`, import.meta.url), 'utf8'))
const cases = fixture('cases.json') as Case[]
const snapshots = (fixture('snapshots.json') as { snapshots: { time: string; tags?: string[] }[] }).snapshots

// Any time after the newest vector: restic anchors keepWithin on the newest backup not in the future.
const NOW = new Date('2026-01-01T00:00:00Z')
const UNSUPPORTED_FIELDS = [
  'keepTags',
  'keepWithinHourly',
  'keepWithinDaily',
  'keepWithinWeekly',
  'keepWithinMonthly',
  'keepWithinYearly',
]

const input = snapshots.map((s, i) => ({ id: `s${i}`, time: s.time }))
const timeOf = new Map(input.map((b) => [b.id, b.time]))

describe('restic conformance vectors', () => {
  it('holds 40 cases over 103 backups, 31 of them required', () => {
    expect(cases).toHaveLength(40)
    expect(snapshots).toHaveLength(103)
    expect(cases.filter((c) => c.required)).toHaveLength(31)
  })

  it('leaves out exactly the 9 optional cases, each of which uses tags or within-buckets', () => {
    const optional = cases.filter((c) => !c.required)
    expect(optional.map((c) => c.case)).toEqual([18, 19, 20, 30, 31, 32, 33, 34, 35])
    for (const c of optional) {
      expect(Object.keys(c.policy).some((k) => UNSUPPORTED_FIELDS.includes(k))).toBe(true)
    }
    for (const c of cases.filter((x) => x.required)) {
      expect(Object.keys(c.policy).filter((k) => UNSUPPORTED_FIELDS.includes(k))).toEqual([])
    }
  })

  for (const c of cases.filter((x) => x.required)) {
    it(`case ${c.case}: ${JSON.stringify(c.policy)} keeps ${c.keep.length}`, () => {
      const plan = planRetention(input, c.policy, NOW)
      expect(plan.keep.map((k) => timeOf.get(k.id))).toEqual(c.keep)
      const reasons = plan.keep.map((k) => ({ time: timeOf.get(k.id), matches: k.reasons }))
      expect(reasons).toEqual(c.reasons ?? [])
      expect(plan.keep.length + plan.remove.length).toBe(input.length)
    })
  }
})
