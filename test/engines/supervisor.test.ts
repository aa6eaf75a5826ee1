/**
 * The supervisor of long-lived children (engines/supervisor.ts), with real processes: output line
 * by line and scrubbed of secrets, restarts after a backoff that doubles while the child keeps
 * dying quickly, a missing binary reported (ENOENT) and retried, and stop() ending it for good.
 */
import { describe, expect, it } from 'vitest'
import { supervise, type ChildExit } from '../../src/engines/supervisor.js'
import { Secret } from '../../src/runtime/secrets.js'

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

describe('supervise', () => {
  it('restarts a child that keeps dying, doubling the backoff, and passes its lines on scrubbed', async () => {
    const secret = new Secret('sup3r-s3cret-token')
    const lines: string[] = []
    const exits: [ChildExit, number][] = []
    const child = supervise({
      command: process.execPath,
      args: ['-e', `console.log('hello ${secret.reveal()}'); console.error('oops'); process.exit(3)`],
      env: { PATH: process.env.PATH ?? '' },
      onLine: (line, stream) => lines.push(`${stream}: ${line}`),
      onExit: (exit, delay) => exits.push([exit, delay]),
      backoff: { initialMs: 100, maxMs: 400, resetAfterMs: 60_000 },
    })
    for (let i = 0; i < 100 && exits.length < 4; i++) await sleep(100)
    await child.stop()
    expect(exits.slice(0, 4).map(([e]) => e.code)).toEqual([3, 3, 3, 3])
    expect(exits.map(([, d]) => d).slice(0, 4)).toEqual([100, 200, 400, 400])
    expect(child.restarts).toBeGreaterThanOrEqual(4)
    expect(lines).toContain('stdout: hello ***')
    expect(lines).toContain('stderr: oops')
    expect(lines.join('\n')).not.toContain(secret.reveal())
  }, 30_000)

  it('reports a missing binary and keeps trying; stop() ends a running child with SIGTERM', async () => {
    const exits: ChildExit[] = []
    const missing = supervise({
      command: '/nonexistent/litestream',
      args: [],
      env: {},
      onLine: () => {},
      onExit: (exit) => exits.push(exit),
      backoff: { initialMs: 50 },
    })
    for (let i = 0; i < 50 && exits.length < 2; i++) await sleep(50)
    await missing.stop()
    expect(exits[0]?.error?.code).toBe('ENOENT')
    expect(exits.length).toBeGreaterThanOrEqual(2)

    const after: ChildExit[] = []
    const sleeper = supervise({
      command: process.execPath,
      args: ['-e', 'setInterval(() => {}, 1000)'],
      env: {},
      onLine: () => {},
      onExit: (exit) => after.push(exit),
    })
    await sleep(300)
    const pid = sleeper.pid!
    await sleeper.stop()
    expect(() => process.kill(pid, 0)).toThrow()
    await sleep(300)
    expect(after, 'a stop is no death: no restart').toEqual([])
    expect(sleeper.pid).toBeUndefined()
  }, 30_000)
})
