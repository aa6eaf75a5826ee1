/**
 * The retry wrapper's contract, against a scripted target (failures on demand are what a real
 * server cannot be made to produce reliably): retryable errors are repeated with growing,
 * jittered delays; permanent ones and one-shot stream bodies are not.
 */
import { Readable } from 'node:stream'
import { describe, expect, it } from 'vitest'
import { backoffDelay, withRetry } from '../../src/storage/retry.js'
import { StorageError, type ObjectInfo, type Target } from '../../src/storage/target.js'

const FAST = { attempts: 4, baseDelayMs: 1, maxDelayMs: 4 }

function scripted(failures: StorageError[]): Target & { calls: string[] } {
  const calls: string[] = []
  const next = async (what: string) => {
    calls.push(what)
    const failure = failures.shift()
    if (failure) throw failure
  }
  return {
    calls,
    description: 's3://test/',
    url: (k) => `s3://test/${k}`,
    put: async (key) => (await next('put'), { key }),
    get: async () => (await next('get'), Readable.from([])),
    head: async () => (await next('head'), undefined),
    async *list(): AsyncIterable<ObjectInfo> {
      await next('list')
      yield { key: 'a', size: 1 }
    },
    remove: async () => next('remove'),
  }
}

const transient = () => new StorageError('CONNECT', 'connect ECONNREFUSED', { retryable: true })
const refused = () => new StorageError('AUTH', 'AccessDenied (HTTP 403)', { retryable: false })

describe('withRetry', () => {
  it('repeats retryable failures until the call succeeds', async () => {
    const target = scripted([transient(), transient()])
    await expect(withRetry(target, FAST).put('k', 'body')).resolves.toEqual({ key: 'k' })
    expect(target.calls).toEqual(['put', 'put', 'put'])
  })

  it('gives up after the configured attempts with the last error', async () => {
    const target = scripted([transient(), transient(), transient(), transient(), transient()])
    await expect(withRetry(target, FAST).head('k')).rejects.toThrow('ECONNREFUSED')
    expect(target.calls).toHaveLength(4)
  })

  it('never repeats a permanent error (refused credentials, missing bucket)', async () => {
    const target = scripted([refused()])
    await expect(withRetry(target, FAST).remove(['k'])).rejects.toMatchObject({ code: 'AUTH' })
    expect(target.calls).toEqual(['remove'])
  })

  it('repeats a put of a re-openable body, never one of a one-shot stream', async () => {
    const reopenable = scripted([transient()])
    await withRetry(reopenable, FAST).put('k', () => Readable.from(['x']))
    expect(reopenable.calls).toHaveLength(2)
    const once = scripted([transient()])
    await expect(withRetry(once, FAST).put('k', Readable.from(['x']))).rejects.toThrow('ECONNREFUSED')
    expect(once.calls).toHaveLength(1)
  })

  it('restarts a listing that failed as a whole, yielding each key once', async () => {
    const target = scripted([transient()])
    const keys: string[] = []
    for await (const o of withRetry(target, FAST).list('')) keys.push(o.key)
    expect(keys).toEqual(['a'])
  })

  it('stops waiting when the run is aborted', async () => {
    const abort = new AbortController()
    const target = scripted([transient(), transient()])
    const started = Date.now()
    const call = withRetry(target, { attempts: 4, baseDelayMs: 60_000, maxDelayMs: 60_000, signal: abort.signal }).get(
      'k',
    )
    setTimeout(() => abort.abort(), 20)
    await expect(call).rejects.toMatchObject({ code: 'ABORTED' })
    expect(Date.now() - started).toBeLessThan(5_000)
  })

  it('backs off exponentially with equal jitter, capped', () => {
    const opts = { baseDelayMs: 500, maxDelayMs: 15_000 }
    expect([1, 2, 3].map((n) => backoffDelay(n, opts, () => 0))).toEqual([250, 500, 1000])
    expect([1, 2, 3].map((n) => backoffDelay(n, opts, () => 1))).toEqual([500, 1000, 2000])
    expect(backoffDelay(10, opts, () => 1)).toBe(15_000)
  })
})
