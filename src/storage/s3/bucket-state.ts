/**
 * What `dbkeeper check` reports about the bucket beyond the Target contract: whether it keeps old
 * versions and whether Object Lock is on. Informative only: a store that does not answer (s3rver,
 * some MinIO set-ups) or a key that may not ask is reported as "unknown …", never as a failure.
 */
import { GetBucketVersioningCommand, GetObjectLockConfigurationCommand, type S3Client } from '@aws-sdk/client-s3'
import { Readable } from 'node:stream'
import type { S3Config } from '../../config/types.js'
import { createS3Client } from './client.js'

export interface BucketState {
  /** `enabled`, `suspended`, `off` (never enabled) or `unknown (…why)`. */
  versioning: string
  /** `on, default retention …`, `on, no default retention`, `off` or `unknown (…why)`. */
  objectLock: string
}

const NOT_A_VERSIONING_ANSWER = 'NotAVersioningAnswer'

function unknown(error: unknown): string {
  const e = error as { name?: string; $metadata?: { httpStatusCode?: number } }
  const status = e.$metadata?.httpStatusCode
  if (e.name === NOT_A_VERSIONING_ANSWER)
    return 'unknown (the store ignored the query: it answered with something else than a versioning configuration)'
  return `unknown (the store answered ${e.name ?? 'an error'}${status ? `, HTTP ${status}` : ''})`
}

/**
 * The versioning answer, checked to be one: a store that ignores `?versioning` answers with the
 * bucket's listing, which the SDK reads as "never enabled" (s3rver does exactly that). The body is
 * read once here, before the SDK parses it, and handed on unchanged.
 */
function requireVersioningAnswer(client: S3Client): void {
  client.middlewareStack.add(
    (next) => async (args) => {
      const result = await next(args)
      const response = result.response as { statusCode?: number; body?: unknown }
      if (response.statusCode === 200 && response.body instanceof Readable) {
        const chunks: Buffer[] = []
        for await (const chunk of response.body) chunks.push(Buffer.from(chunk as Buffer))
        const body = Buffer.concat(chunks)
        if (!body.toString('utf8').includes('<VersioningConfiguration')) {
          throw Object.assign(new Error('not a versioning configuration'), { name: NOT_A_VERSIONING_ANSWER })
        }
        response.body = Readable.from([body])
      }
      return result
    },
    { step: 'deserialize', priority: 'low', name: 'dbkeeperRequireVersioningAnswer' },
  )
}

export async function readBucketState(cfg: S3Config, signal?: AbortSignal): Promise<BucketState> {
  const client = createS3Client(cfg)
  const versioningClient = createS3Client(cfg)
  requireVersioningAnswer(versioningClient)
  try {
    const [versioning, objectLock] = await Promise.all([
      versioningClient
        .send(new GetBucketVersioningCommand({ Bucket: cfg.bucket }), { abortSignal: signal })
        .then((r) => (r.Status === 'Enabled' ? 'enabled' : r.Status === 'Suspended' ? 'suspended' : 'off'), unknown),
      client.send(new GetObjectLockConfigurationCommand({ Bucket: cfg.bucket }), { abortSignal: signal }).then(
        (r) => {
          const c = r.ObjectLockConfiguration
          if (c?.ObjectLockEnabled !== 'Enabled') return 'off'
          const d = c.Rule?.DefaultRetention
          return d
            ? `on, default retention ${d.Mode} ${d.Days ?? d.Years}${d.Days ? ' days' : ' years'}`
            : 'on, no default retention'
        },
        // AWS answers a bucket without Object Lock with this error, not with an empty configuration.
        (error: unknown) =>
          (error as { name?: string }).name === 'ObjectLockConfigurationNotFoundError' ? 'off' : unknown(error),
      ),
    ])
    return { versioning, objectLock }
  } finally {
    client.destroy()
    versioningClient.destroy()
  }
}
