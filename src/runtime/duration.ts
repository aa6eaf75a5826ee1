/**
 * Short durations for timeouts and ages (`60`, `60s`, `5m`, `13h`, `1d12h`), and the reverse for
 * people. Unlike retention's KEEP_WITHIN (where `m` is months), `m` here is minutes: these are
 * wall-clock waits measured in seconds to days, never calendar spans.
 */
const UNIT_MS = { d: 86_400_000, h: 3_600_000, m: 60_000, s: 1000 } as const

const DURATION = /^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$/

/** Milliseconds, or undefined when `text` is not a duration. A bare number is seconds. */
export function parseDuration(text: string): number | undefined {
  const t = text.trim().toLowerCase()
  if (/^\d+$/.test(t)) return Number(t) * UNIT_MS.s
  const m = DURATION.exec(t)
  if (!m || t === '') return undefined
  const [d, h, min, s] = m.slice(1).map((x) => Number(x ?? 0)) as [number, number, number, number]
  const ms = d * UNIT_MS.d + h * UNIT_MS.h + min * UNIT_MS.m + s * UNIT_MS.s
  return Number.isSafeInteger(ms) ? ms : undefined
}

/** `13h`, `1d 2h`, `45m`, `12s`: the two largest units, which is all a person reads in an age. */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms)) return '?'
  if (ms < 0) return `-${formatDuration(-ms)}`
  const parts: string[] = []
  let rest = Math.floor(ms / 1000)
  for (const [unit, size] of [
    ['d', 86_400],
    ['h', 3600],
    ['m', 60],
    ['s', 1],
  ] as const) {
    const n = Math.floor(rest / size)
    rest -= n * size
    if (n > 0) parts.push(`${n}${unit}`)
  }
  return parts.length === 0 ? '0s' : parts.slice(0, 2).join(' ')
}
