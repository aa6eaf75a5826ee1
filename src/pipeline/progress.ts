/**
 * A progress line on a terminal during a manual run: bytes, rate, elapsed, and a percentage when
 * the size is known (the probe's approximate size). Nothing is printed when stderr is not a TTY.
 */
export function formatBytes(n: number): string {
  const units = ['B', 'KB', 'MB', 'GB', 'TB']
  let v = n
  let i = 0
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000
    i++
  }
  return `${v.toFixed(v >= 100 || i === 0 ? 0 : 1)} ${units[i]}`
}

export function formatDuration(ms: number): string {
  if (ms < 1000) return `${ms} ms`
  const s = ms / 1000
  if (s < 60) return `${s.toFixed(1)} s`
  const m = Math.floor(s / 60)
  return `${m}m${String(Math.round(s % 60)).padStart(2, '0')}s`
}

export interface ProgressHandle {
  stop(): void
}

export function startProgress(
  label: string,
  bytes: () => number,
  expected: number | undefined,
  out: NodeJS.WriteStream = process.stderr,
): ProgressHandle {
  if (!out.isTTY) return { stop() {} }
  const started = Date.now()
  const draw = () => {
    const elapsed = Date.now() - started
    const done = bytes()
    const rate = elapsed > 0 ? (done / elapsed) * 1000 : 0
    const pct = expected && expected > 0 ? ` ${Math.min(99, Math.floor((done / expected) * 100))}%` : ''
    out.write(`\r\x1b[K${label}: ${formatBytes(done)}${pct} at ${formatBytes(rate)}/s, ${formatDuration(elapsed)}`)
  }
  const timer = setInterval(draw, 500)
  timer.unref()
  return {
    stop() {
      clearInterval(timer)
      out.write('\r\x1b[K')
    },
  }
}
