/**
 * Retries as a wrapper around any Target (restic's `backend/retry`): each call is repeated with
 * exponential backoff and jitter while its error is retryable. Permanent errors (a refused
 * credential, a missing bucket, a missing key) fail at once: repeating them only delays the alert.
 */
import type { Readable } from 'node:stream'
import { DbkeeperError } from '../runtime/errors.js'
import type { Logger } from '../runtime/logger.js'
import {
  isRetryable,
  type ObjectHead,
  type ObjectInfo,
  type PutBody,
  type PutOptions,
  type PutResult,
  type Target,
} from './target.js'

export interface RetryOptions {
  /** Calls in total, the first included. */
  attempts: number
  /** The delay before the second attempt; doubled before each further one. */
  baseDelayMs: number
  maxDelayMs: number
  logger?: Logger
  /** Stops the waiting between attempts (a run being shut down). */
  signal?: AbortSignal
}

export const DEFAULT_RETRY: RetryOptions = { attempts: 4, baseDelayMs: 500, maxDelayMs: 15_000 }

/**
 * "Equal jitter": half the exponential delay fixed, half random, so that many clients failing at
 * once (a store restarting) do not come back in lockstep, yet no retry comes back immediately.
 */
export function backoffDelay(
  attempt: number,
  opts: Pick<RetryOptions, 'baseDelayMs' | 'maxDelayMs'>,
  random = Math.random,
): number {
  const exp = Math.min(opts.maxDelayMs, opts.baseDelayMs * 2 ** (attempt - 1))
  return Math.round(exp / 2 + random() * (exp / 2))
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(new DbkeeperError('ABORTED', 'stopped while waiting to retry'))
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort)
      resolve()
    }, ms)
    const onAbort = () => {
      clearTimeout(timer)
      reject(new DbkeeperError('ABORTED', 'stopped while waiting to retry'))
    }
    signal?.addEventListener('abort', onAbort, { once: true })
  })
}

/** A body that can be sent again: not a bare, one-shot stream. */
function isReplayable(body: PutBody): boolean {
  return typeof body === 'string' || Buffer.isBuffer(body) || typeof body === 'function'
}

export function withRetry(target: Target, opts: RetryOptions = DEFAULT_RETRY): Target {
  async function attempt<T>(what: string, call: () => Promise<T>, maxAttempts = opts.attempts): Promise<T> {
    for (let n = 1; ; n++) {
      try {
        return await call()
      } catch (error) {
        if (n >= maxAttempts || !isRetryable(error) || opts.signal?.aborted) throw error
        const delay = backoffDelay(n, opts)
        opts.logger?.warn(
          { attempt: n, of: maxAttempts, delayMs: delay },
          `${what} failed (${(error as Error).message}), retrying in ${delay} ms`,
        )
        await sleep(delay, opts.signal)
      }
    }
  }

  return {
    description: target.description,
    url: (key) => target.url(key),
    put(key: string, body: PutBody, putOpts?: PutOptions): Promise<PutResult> {
      return attempt(`upload of ${key}`, () => target.put(key, body, putOpts), isReplayable(body) ? opts.attempts : 1)
    },
    get(key: string, signal?: AbortSignal): Promise<Readable> {
      return attempt(`download of ${key}`, () => target.get(key, signal))
    },
    head(key: string): Promise<ObjectHead | undefined> {
      return attempt(`HEAD of ${key}`, () => target.head(key))
    },
    async *list(prefix: string): AsyncIterable<ObjectInfo> {
      // A listing that fails half-way is started again as a whole: a prefix holds one database's
      // backups (hundreds of keys), so collecting them first is cheap and never yields a key twice.
      const all = await attempt(`listing of ${prefix || '/'}`, async () => {
        const keys: ObjectInfo[] = []
        for await (const info of target.list(prefix)) keys.push(info)
        return keys
      })
      yield* all
    },
    ...(target.restore
      ? {
          restore: (key: string, days: number) =>
            attempt(`restore request of ${key}`, () => target.restore!(key, days)),
        }
      : {}),
    remove(keys: readonly string[]): Promise<void> {
      // Deleting is idempotent, so repeating the whole call after a partial failure is safe.
      return attempt(`deletion of ${keys.join(', ')}`, () => target.remove(keys))
    },
  }
}
