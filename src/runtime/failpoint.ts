/**
 * Failpoints for the fault-injection tests (test/faults, issue 10). A failpoint is a named spot
 * where a crash is interesting (the commit's few milliseconds, between two deletions of a prune…).
 * With `DBKEEPER_FAILPOINTS="name[:n],…"` the process stops itself (SIGSTOP, every thread) the
 * n-th time (default: the first) it reaches `failpoint(name)`, so that a test can SIGKILL it at
 * exactly that point, or SIGCONT it. The variable is read once, when this module loads (in each
 * thread); unset, `failpoint()` is one comparison. Dump tools never see it (childEnv).
 */

/** name → the hit that stops the process (1 = the first). */
function parse(spec: string | undefined): Map<string, number> | undefined {
  if (!spec) return undefined
  const points = new Map<string, number>()
  for (const item of spec.split(',')) {
    const [name, n] = item.trim().split(':')
    if (name) points.set(name, Math.max(1, Number(n ?? 1) || 1))
  }
  return points.size > 0 ? points : undefined
}

const ARMED = parse(process.env.DBKEEPER_FAILPOINTS)
const hits = new Map<string, number>()

/** Stops the process here when DBKEEPER_FAILPOINTS arms `name` (see above); otherwise nothing. */
export function failpoint(name: string): void {
  if (ARMED === undefined) return
  const stopAt = ARMED.get(name)
  if (stopAt === undefined) return
  const hit = (hits.get(name) ?? 0) + 1
  hits.set(name, hit)
  if (hit === stopAt) process.kill(process.pid, 'SIGSTOP')
}
