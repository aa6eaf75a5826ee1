/**
 * The S3 bucket (any S3-compatible store) as a Target rooted at `S3_PREFIX`. Uploads go through
 * multipart.ts: parts of PART_SIZE in reused buffers, QUEUE_SIZE parts in flight (limits.ts), so
 * memory stays bounded whatever the backup's size; each part is retried by the SDK (client.ts).
 */
import {
  CopyObjectCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  RestoreObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3'
import { Readable } from 'node:stream'
import type { S3Config } from '../../config/types.js'
import { failpoint } from '../../runtime/failpoint.js'
import { byKey, checkKey, checkPrefix } from '../keys.js'
import {
  StorageError,
  type ObjectHead,
  type ObjectInfo,
  type PutBody,
  type PutOptions,
  type PutResult,
  type Target,
} from '../target.js'
import { classifyS3Error } from './errors.js'
import { MAX_PARTS, PART_SIZE, QUEUE_SIZE } from './limits.js'
import { uploadObject } from './multipart.js'

function partSizeFor(size: number | undefined): number {
  if (size === undefined) return PART_SIZE
  const mib = 1024 * 1024
  return Math.max(PART_SIZE, Math.ceil(size / MAX_PARTS / mib) * mib)
}

/** A key as it goes into `x-amz-copy-source`: each segment URL-encoded (`%` of enc(db) included). */
function copySource(bucket: string, key: string): string {
  return `${bucket}/${key.split('/').map(encodeURIComponent).join('/')}`
}

export class S3Target implements Target {
  readonly description: string

  constructor(
    private readonly client: S3Client,
    private readonly cfg: S3Config,
  ) {
    this.description = `s3://${cfg.bucket}/${cfg.prefix}`
  }

  url(key: string): string {
    return `${this.description}${key}`
  }

  /** The object name of `key`, after the key rules every target enforces (../keys.ts). */
  #full(key: string): string {
    checkKey(key)
    return `${this.cfg.prefix}${key}`
  }

  /**
   * SSE goes on every object (a bucket policy may refuse puts without it); the class on data only
   * (manifests and `.sha256` stay readable for listing). Object Lock on every object: a locked
   * bucket refuses a put with a retention but without a checksum header, and the SDK sends none
   * with WHEN_REQUIRED (client.ts) unless asked: SHA256, computed per part (multipart.ts's parts are
   * buffers, so the checksum goes in a header, not the aws-chunked trailer some stores corrupt).
   */
  #storageParams(dataObject: boolean | undefined, retainUntil?: Date) {
    const { sse, sseKmsKeyId, storageClass, objectLock } = this.cfg
    return {
      ...(sse ? { ServerSideEncryption: sse } : {}),
      ...(sse === 'aws:kms' && sseKmsKeyId ? { SSEKMSKeyId: sseKmsKeyId } : {}),
      ...(dataObject && storageClass ? { StorageClass: storageClass as never } : {}),
      ...(objectLock && retainUntil
        ? {
            ObjectLockMode: objectLock.mode,
            ObjectLockRetainUntilDate: retainUntil,
            ChecksumAlgorithm: 'SHA256' as const,
          }
        : {}),
    }
  }

  async put(key: string, body: PutBody, opts: PutOptions = {}): Promise<PutResult> {
    checkKey(key)
    const stream = typeof body === 'function' ? body() : body
    const contentType = opts.contentType ?? 'application/octet-stream'
    // A stream waiting for its next bytes does not see the signal: ending it stops the upload there.
    const onAbort = () => {
      if (stream instanceof Readable) stream.destroy(Object.assign(new Error('upload aborted'), { name: 'AbortError' }))
    }
    opts.signal?.addEventListener('abort', onAbort, { once: true })
    let etag: string | undefined
    try {
      etag = await uploadObject(
        this.client,
        {
          Bucket: this.cfg.bucket,
          Key: this.#full(key),
          ContentType: contentType,
          ...(opts.metadata ? { Metadata: opts.metadata } : {}),
          ...this.#storageParams(opts.dataObject, opts.retainUntil),
        },
        typeof stream === 'string' ? Buffer.from(stream) : stream,
        {
          partSize: partSizeFor(opts.size),
          queueSize: QUEUE_SIZE,
          ...(opts.size !== undefined ? { size: opts.size } : {}),
          ...(opts.signal ? { signal: opts.signal } : {}),
        },
      )
    } catch (error) {
      if (opts.signal?.aborted)
        throw new StorageError('ABORTED', `S3 upload of ${this.url(key)} aborted`, { retryable: false, cause: error })
      throw classifyS3Error(error, `upload of ${this.url(key)}`, this.cfg.id)
    } finally {
      opts.signal?.removeEventListener('abort', onAbort)
    }
    failpoint('s3.uploaded')
    if (opts.finalMetadata) {
      // An object's metadata is fixed when its upload starts, and a streamed backup's checksum is
      // known only at its end: copy the object onto itself with the full metadata (the server
      // copies; no data passes through us; atomic; ≤ 5 GiB, which the streaming caller ensures).
      let final: Record<string, string>
      try {
        final = await opts.finalMetadata()
      } catch (error) {
        await this.remove([key]).catch(() => undefined)
        throw error
      }
      const metadata = { ...opts.metadata, ...final }
      try {
        const out = await this.client.send(
          new CopyObjectCommand({
            Bucket: this.cfg.bucket,
            Key: this.#full(key),
            CopySource: copySource(this.cfg.bucket, this.#full(key)),
            MetadataDirective: 'REPLACE',
            Metadata: metadata,
            ContentType: contentType,
            ...this.#storageParams(opts.dataObject),
          }),
          { abortSignal: opts.signal },
        )
        etag = out.CopyObjectResult?.ETag ?? etag
      } catch (error) {
        throw classifyS3Error(error, `metadata update of ${this.url(key)}`, this.cfg.id)
      }
    }
    return { key, ...(etag ? { etag } : {}) }
  }

  async get(key: string, signal?: AbortSignal): Promise<Readable> {
    try {
      const out = await this.client.send(new GetObjectCommand({ Bucket: this.cfg.bucket, Key: this.#full(key) }), {
        abortSignal: signal,
      })
      if (!(out.Body instanceof Readable)) throw new Error('the response has no body')
      return out.Body
    } catch (error) {
      throw classifyS3Error(error, `download of ${this.url(key)}`, this.cfg.id)
    }
  }

  async head(key: string): Promise<ObjectHead | undefined> {
    try {
      const out = await this.client.send(new HeadObjectCommand({ Bucket: this.cfg.bucket, Key: this.#full(key) }))
      return {
        key,
        size: out.ContentLength ?? 0,
        ...(out.LastModified ? { lastModified: out.LastModified } : {}),
        metadata: out.Metadata ?? {},
        ...(out.StorageClass ? { storageClass: out.StorageClass } : {}),
        ...(out.ObjectLockRetainUntilDate ? { retainUntil: out.ObjectLockRetainUntilDate } : {}),
        ...(out.Restore ? { restore: out.Restore.includes('ongoing-request="true"') ? 'in progress' : 'done' } : {}),
      }
    } catch (error) {
      const e = classifyS3Error(error, `HEAD of ${this.url(key)}`, this.cfg.id)
      if (e.code === 'NOT_FOUND') return undefined
      throw e
    }
  }

  /**
   * Sorted here: AWS lists in key order, but S3-compatible stores that keep objects as files
   * (s3rver, MinIO's older file backend) list in directory-walk order (`a/1` before `a-b`), and
   * the contract is key order. The listing is read whole before the first key is given anyway.
   */
  async *list(prefix: string): AsyncIterable<ObjectInfo> {
    checkPrefix(prefix)
    const found: ObjectInfo[] = []
    let token: string | undefined
    do {
      let page
      try {
        page = await this.client.send(
          new ListObjectsV2Command({
            Bucket: this.cfg.bucket,
            Prefix: `${this.cfg.prefix}${prefix}`,
            ContinuationToken: token,
          }),
        )
      } catch (error) {
        throw classifyS3Error(error, `listing of ${this.url(prefix)}`, this.cfg.id)
      }
      for (const o of page.Contents ?? []) {
        if (!o.Key?.startsWith(this.cfg.prefix)) continue
        found.push({
          key: o.Key.slice(this.cfg.prefix.length),
          size: o.Size ?? 0,
          ...(o.LastModified ? { lastModified: o.LastModified } : {}),
        })
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined
    } while (token)
    yield* found.sort(byKey)
  }

  async restore(key: string, days: number): Promise<'started' | 'in progress'> {
    try {
      await this.client.send(
        new RestoreObjectCommand({
          Bucket: this.cfg.bucket,
          Key: this.#full(key),
          RestoreRequest: { Days: days, GlacierJobParameters: { Tier: 'Standard' } },
        }),
      )
      return 'started'
    } catch (error) {
      if ((error as { name?: string }).name === 'RestoreAlreadyInProgress') return 'in progress'
      throw classifyS3Error(error, `restore request of ${this.url(key)}`, this.cfg.id)
    }
  }

  async remove(keys: readonly string[]): Promise<void> {
    // One DELETE per key, in order (the manifest first): DeleteObjects needs a Content-MD5 or
    // checksum header that S3-compatible stores disagree about, and a prune deletes a handful.
    for (const key of keys) checkKey(key)
    for (const key of keys) {
      try {
        await this.client.send(new DeleteObjectCommand({ Bucket: this.cfg.bucket, Key: this.#full(key) }))
      } catch (error) {
        const e = classifyS3Error(error, `deletion of ${this.url(key)}`, this.cfg.id)
        if (e.code !== 'NOT_FOUND' || (error as { name?: string }).name === 'NoSuchBucket') throw e
      }
    }
  }
}
