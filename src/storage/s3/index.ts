/**
 * The off-site target the rest of dbkeeper uses: the S3 bucket, in this process, wrapped in
 * retries. The SDK loads on the first call (or `warm`), so commands that never reach S3 never
 * load it.
 *
 * In-process, not in a worker thread (as until 2026-12-06): a worker is a second V8 isolate and
 * Node environment, ~18 MB of RSS before it loads anything, and the SDK loaded in it cost
 * ~43 MB of peak RSS against ~31 MB on the main thread (docs/PERFORMANCE.md, "What a backup's
 * peak RSS is made of"). With the young generation bounded (src/runtime/heap.ts), the SDK's heap
 * on the main thread no longer showed in a backup's CPU time (same section), and the parts no
 * longer cross a message port (a copy on each side and a window of their own).
 */
import type { S3Config } from '../../config/types.js'
import { DEFAULT_RETRY, withRetry, type RetryOptions } from '../retry.js'
import type { Target } from '../target.js'

export interface OpenOptions extends Partial<RetryOptions> {
  /** Load the SDK now, so that it is ready by the first call (a run's probes come first). */
  warm?: boolean
}

export function openS3Target(cfg: S3Config, opts: OpenOptions = {}): Target {
  const { warm, ...retry } = opts
  const description = `s3://${cfg.bucket}/${cfg.prefix}`
  let loaded: Promise<Target> | undefined
  const load = (): Promise<Target> =>
    (loaded ??= Promise.all([import('./target.js'), import('./client.js')]).then(
      ([{ S3Target }, { createS3Client }]) => new S3Target(createS3Client(cfg), cfg),
    ))
  const lazy: Target = {
    description,
    url: (key) => `${description}${key}`,
    put: async (key, body, putOpts) => (await load()).put(key, body, putOpts),
    get: async (key, signal) => (await load()).get(key, signal),
    head: async (key) => (await load()).head(key),
    async *list(prefix) {
      yield* (await load()).list(prefix)
    },
    remove: async (keys) => (await load()).remove(keys),
    restore: async (key, days) => (await load()).restore!(key, days),
  }
  // A failed load is reported by the call that needs the SDK, not as an unhandled rejection here.
  if (warm) load().catch(() => undefined)
  return withRetry(lazy, { ...DEFAULT_RETRY, ...retry })
}
