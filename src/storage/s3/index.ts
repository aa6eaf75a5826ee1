/**
 * The off-site target the rest of dbkeeper uses: the S3 bucket, served from a worker thread
 * (../threaded.ts: the SDK's loading, heap and work stay off the main thread), wrapped in retries.
 */
import type { S3Config } from '../../config/types.js'
import { DEFAULT_RETRY, withRetry, type RetryOptions } from '../retry.js'
import type { Target } from '../target.js'
import { threadedTarget } from '../threaded.js'
import type { PlainS3Config } from './worker.js'

export interface OpenOptions extends Partial<RetryOptions> {
  /** Start the worker now, so that loading the SDK overlaps other work (a run's probes). */
  warm?: boolean
}

export function openS3Target(cfg: S3Config, opts: OpenOptions = {}): Target {
  const { warm, ...retry } = opts
  const here = import.meta.url
  const entry = new URL(here.endsWith('.ts') ? './worker.ts' : './worker.js', here)
  const plain: PlainS3Config = {
    ...cfg,
    accessKeyId: cfg.accessKeyId?.reveal(),
    secretAccessKey: cfg.secretAccessKey?.reveal(),
    sessionToken: cfg.sessionToken?.reveal(),
    retention: cfg.retention ? { ...cfg.retention } : undefined,
  }
  const description = `s3://${cfg.bucket}/${cfg.prefix}`
  const threaded = threadedTarget(entry, plain, description, (key) => `${description}${key}`)
  if (warm) threaded.warm()
  return withRetry(threaded, { ...DEFAULT_RETRY, ...retry })
}
