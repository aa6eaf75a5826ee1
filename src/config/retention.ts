import type { EnvReader } from './reader.js'
import type { RetentionPolicy } from './types.js'

const COUNT_RULES = [
  ['KEEP_LAST', 'keepLast'],
  ['KEEP_HOURLY', 'keepHourly'],
  ['KEEP_DAILY', 'keepDaily'],
  ['KEEP_WEEKLY', 'keepWeekly'],
  ['KEEP_MONTHLY', 'keepMonthly'],
  ['KEEP_YEARLY', 'keepYearly'],
] as const

export const RETENTION_SUFFIXES = [...COUNT_RULES.map(([v]) => v), 'KEEP_WITHIN', 'RETENTION_DAYS'] as const

/** `1y2m3d4h`: years, months, days, hours, each at most once and in that order. */
export const DURATION_PATTERN = /^(?:(\d+)y)?(?:(\d+)m)?(?:(\d+)d)?(?:(\d+)h)?$/

export function isDuration(text: string): boolean {
  return text !== '' && DURATION_PATTERN.test(text) && /[1-9]/.test(text)
}

function readCount(r: EnvReader, name: string, allowZero: boolean): number | undefined {
  const v = r.raw(name)
  if (v === undefined) return undefined
  const n = /^-?\d+$/.test(v) ? Number(v) : Number.NaN
  if (Number.isSafeInteger(n) && (n > 0 || n === -1 || (allowZero && n === 0))) return n
  r.problem(
    name,
    v,
    allowZero ? 'a count > 0, -1 for unlimited, or 0 to turn the rule off' : 'a count > 0, or -1 for unlimited',
  )
  return undefined
}

function readPolicy(
  r: EnvReader,
  prefix: string,
  isOverride: boolean,
): { policy: RetentionPolicy; days: number | undefined } {
  const policy: RetentionPolicy = {}
  for (const [suffix, field] of COUNT_RULES) {
    const n = readCount(r, `${prefix}${suffix}`, isOverride)
    if (n !== undefined) policy[field] = n
  }
  const within = r.raw(`${prefix}KEEP_WITHIN`)
  if (within !== undefined) {
    if (isDuration(within)) policy.keepWithin = within
    else if (isOverride && within === '0') policy.keepWithin = '0'
    else
      r.problem(`${prefix}KEEP_WITHIN`, within, 'a duration such as 30d, 1y2m or 12h (units y, m, d, h in that order)')
  }
  const daysName = isOverride ? `${prefix}RETENTION_DAYS` : 'BACKUP_RETENTION_DAYS'
  const days = r.int(daysName, { min: isOverride ? 0 : 1, max: 100000, expected: 'a number of days > 0' })
  return { policy, days }
}

/** Merges `days` into the policy: BACKUP_RETENTION_DAYS=N means KEEP_WITHIN=Nd, kept if either rule keeps. */
function withDays(policy: RetentionPolicy, days: number | undefined): RetentionPolicy {
  if (days === undefined || days === 0) return policy
  if (policy.keepWithin === undefined) return { ...policy, keepWithin: `${days}d` }
  // Both given: keep whichever window is longer, as "kept if any rule keeps it" implies.
  return { ...policy, keepWithin: longerWithin(policy.keepWithin, `${days}d`) }
}

function approxHours(d: string): number {
  const m = DURATION_PATTERN.exec(d)
  if (!m) return 0
  const [y, mo, dd, h] = m.slice(1).map((x) => Number(x ?? 0)) as [number, number, number, number]
  return (y * 365.25 + mo * 30.44 + dd) * 24 + h
}

function longerWithin(a: string, b: string): string {
  return approxHours(a) >= approxHours(b) ? a : b
}

export const DEFAULT_RETENTION_DAYS = 7

/**
 * The global policy: the tiers given, plus BACKUP_RETENTION_DAYS (default 7 days, applied only when
 * no tier is given, so that `KEEP_DAILY=7 KEEP_WEEKLY=4` alone means exactly that).
 */
export function readGlobalRetention(r: EnvReader): RetentionPolicy {
  const { policy, days } = readPolicy(r, '', false)
  const hasTier = Object.keys(policy).length > 0
  const result = withDays(policy, days ?? (hasTier ? undefined : DEFAULT_RETENTION_DAYS))
  if (!hasTier && days === undefined) implicitDefaults.add(result)
  return result
}

/** Global policies that are only the implicit 7-day default, which a source's own tiers replace. */
const implicitDefaults = new WeakSet<RetentionPolicy>()

/** A source's policy: each `DBnn_KEEP_*` replaces the global rule of that name; 0 turns a rule off. */
export function readSourceRetention(r: EnvReader, prefix: string, global: RetentionPolicy): RetentionPolicy {
  const { policy: own, days } = readPolicy(r, prefix, true)
  const merged: RetentionPolicy = { ...global, ...own }
  // `DB01_KEEP_DAILY=7` alone means exactly that, as it would globally: the implicit default
  // window is not added on top of tiers the operator chose.
  if (implicitDefaults.has(global) && Object.keys(own).length > 0 && own.keepWithin === undefined)
    delete merged.keepWithin
  if (days !== undefined) {
    // DBnn_RETENTION_DAYS replaces the global day window.
    if (own.keepWithin === undefined) delete merged.keepWithin
    Object.assign(merged, withDays(merged, days))
  }
  for (const key of Object.keys(merged) as (keyof RetentionPolicy)[]) {
    if (merged[key] === 0 || merged[key] === '0') delete merged[key]
  }
  return merged
}

export function isEmptyPolicy(p: RetentionPolicy): boolean {
  return Object.values(p).every((v) => v === undefined)
}
