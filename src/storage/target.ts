/**
 * The `Target` contract: a place that stores named byte objects (an S3 bucket under a prefix; the
 * volume could be one too). Keys are relative to the target's root and use `/` as separator, so
 * that they mirror the layout on the volume: `<source>/<enc(database)>/<file>`.
 *
 * Wrappers (retry.ts) add behaviour around any Target; a Target itself never retries a whole call.
 */
import type { Readable } from 'node:stream'
import { DbkeeperError, type ErrorCode } from '../runtime/errors.js'

/**
 * What `put` stores. A string or Buffer can be sent again, and so can a function that opens a
 * fresh stream on each call: the retry wrapper may repeat such a put. A bare Readable is consumed
 * once: the wrapper never repeats that call (the target still retries each part of it).
 */
export type PutBody = string | Buffer | Readable | (() => Readable)

export interface PutOptions {
  /** User metadata (S3: `x-amz-meta-*`). Keys in lower case, values printable ASCII. */
  metadata?: Record<string, string>
  /**
   * Metadata known only after the body has ended (the checksum of a backup streamed during its
   * dump, known once it is proven). Awaited after the upload; the target stores it, merged over
   * `metadata`, before `put` resolves. When it rejects, the object is deleted and `put` rejects.
   */
  finalMetadata?: () => Promise<Record<string, string>>
  contentType?: string
  /** A backup's data object: the target may put it in its cheaper storage class (S3_STORAGE_CLASS). */
  dataObject?: boolean
  /** The expected length, when known (lets the target check the number of parts). */
  size?: number
  /**
   * Object Lock: the object may not be deleted or overwritten before this date (S3: in the
   * target's S3_OBJECT_LOCK_MODE, with the checksum header a locked bucket requires). Ignored by
   * a target without a lock configured (the volume).
   */
  retainUntil?: Date
  signal?: AbortSignal
}

export interface PutResult {
  key: string
  etag?: string
}

export interface ObjectInfo {
  key: string
  size: number
  lastModified?: Date
}

export interface ObjectHead extends ObjectInfo {
  metadata: Record<string, string>
  storageClass?: string
  /** Object Lock: deleting it is refused before this date. */
  retainUntil?: Date
  /** An archived object (GLACIER, DEEP_ARCHIVE): `in progress` while a restore runs, `done` once readable. */
  restore?: 'in progress' | 'done'
}

export interface Target {
  /** For messages: `s3://bucket/prefix/`. Never holds a credential. */
  readonly description: string
  /** The address of one key, for messages and manifests: `s3://bucket/prefix/key`. */
  url(key: string): string
  /**
   * Stores `body` under `key`, replacing any object of that name. Resolves once the object is
   * complete with all its metadata; on failure nothing partial stays visible under `key` (an
   * unfinished multipart upload is aborted). Idempotent: the same put twice gives the same object.
   */
  put(key: string, body: PutBody, opts?: PutOptions): Promise<PutResult>
  /** The object's bytes. Throws StorageError with code NOT_FOUND when there is no such key. */
  get(key: string, signal?: AbortSignal): Promise<Readable>
  /**
   * The whole object at once when it has at most `limit` bytes, without `get`'s stream; undefined
   * when it is larger (read it through `get`). The same errors as `get`. Absent on a target for
   * which a stream costs no more (catalog/remote.ts, readSmallObject, prefers it when present).
   */
  getSmall?(key: string, limit: number): Promise<Buffer | undefined>
  /** Size and metadata, or undefined when there is no such key (not found is not an error). */
  head(key: string): Promise<ObjectHead | undefined>
  /** Every key starting with `prefix` (a directory ends in `/`), in key order. Read-only, retryable. */
  list(prefix: string): AsyncIterable<ObjectInfo>
  /** Deletes the keys, in the order given. Idempotent: a key that does not exist is fine. */
  remove(keys: readonly string[]): Promise<void>
  /**
   * Asks an archive tier (S3 GLACIER, DEEP_ARCHIVE) for a readable copy of `key` for `days` days.
   * Resolves `started`, or `in progress` when a restore was asked for before. Idempotent. Absent
   * on a target without archive tiers.
   */
  restore?(key: string, days: number): Promise<'started' | 'in progress'>
}

/**
 * A failure of a target call. `retryable` says whether the same call may succeed later (a
 * network error, a 5xx, throttling); a refused credential, a missing bucket or a missing key never
 * will, and the retry wrapper gives up on them at once.
 */
export class StorageError extends DbkeeperError {
  readonly retryable: boolean

  constructor(code: ErrorCode, message: string, opts: { retryable: boolean; hint?: string; cause?: unknown }) {
    super(code, message, { hint: opts.hint, cause: opts.cause })
    this.retryable = opts.retryable
  }
}

/** Whether an error from a target may go away when the call is repeated. */
export function isRetryable(error: unknown): boolean {
  if (error instanceof StorageError) return error.retryable
  // An error the target did not classify (a bug, a stream error): repeating a put of a stream
  // that failed would not help, and a wrapper must not spin on it.
  return false
}
