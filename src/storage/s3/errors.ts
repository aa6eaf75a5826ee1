/**
 * SDK errors → StorageError with a code, a hint naming the variable to check, and whether the
 * call may be repeated. Permanent: a refused credential (403), a missing bucket or key, a request
 * the store rejects (4xx). Retryable: the network, 5xx, throttling, timeouts.
 */
import { StorageError } from '../target.js'

interface SdkError {
  name?: string
  message?: string
  code?: string
  $fault?: 'client' | 'server'
  $retryable?: unknown
  $metadata?: { httpStatusCode?: number }
}

const AUTH_NAMES = new Set([
  'AccessDenied',
  'InvalidAccessKeyId',
  'SignatureDoesNotMatch',
  'ExpiredToken',
  'InvalidToken',
  'AccountProblem',
  'InvalidClientTokenId',
  'CredentialsProviderError',
])
const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ECONNABORTED',
])
const THROTTLING = new Set([
  'SlowDown',
  'Throttling',
  'ThrottlingException',
  'RequestTimeout',
  'RequestTimeTooSkewed',
  'InternalError',
  'ServiceUnavailable',
])

const HINT_AUTH =
  'check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or their _FILE forms), that the key may read, write and delete in S3_BUCKET under S3_PREFIX, and S3_REGION'
const HINT_NETWORK = 'is the S3 endpoint reachable from the backup container? check S3_ENDPOINT and S3_REGION'
const HINT_BUCKET = 'check S3_BUCKET, S3_ENDPOINT and S3_REGION: the bucket must exist (dbkeeper never creates one)'

/**
 * `id` is the target's variable prefix (`S3`, `S3_2`): the hint names that target's variables
 * (`S3_2_BUCKET`, `S3_2_ACCESS_KEY_ID`), so an operator with several targets fixes the right one.
 */
export function classifyS3Error(error: unknown, what: string, id = 'S3'): StorageError {
  if (error instanceof StorageError) return error
  const e0 = classify(error, what)
  if (id === 'S3' || e0.hint === undefined) return e0
  const hint = e0.hint
    .replace(/\bS3_(?=[A-Z])/g, `${id}_`)
    .replace(/\bAWS_(ACCESS_KEY_ID|SECRET_ACCESS_KEY)\b/g, `${id}_$1 (default AWS_$1)`)
  return new StorageError(e0.code, e0.message, { retryable: e0.retryable, hint, cause: error })
}

function classify(error: unknown, what: string): StorageError {
  const e = (error ?? {}) as SdkError
  const name = e.name ?? 'Error'
  const status = e.$metadata?.httpStatusCode
  const detail = `${name === 'Error' ? '' : `${name}: `}${e.message ?? String(error)}${status ? ` (HTTP ${status})` : ''}`
  const message = `S3 ${what} failed: ${detail}`
  const make = (code: ConstructorParameters<typeof StorageError>[0], retryable: boolean, hint?: string) =>
    new StorageError(code, message, { retryable, hint, cause: error })

  if (name === 'AbortError') return make('ABORTED', false)
  // GET of a GLACIER / DEEP_ARCHIVE object not restored (HTTP 403, but not a refused credential).
  if (name === 'InvalidObjectState') return make('ARCHIVED', false)
  if (NETWORK_CODES.has(e.code ?? '') || name === 'TimeoutError' || (name === 'RequestTimeout' && status === undefined))
    return make('CONNECT', true, HINT_NETWORK)
  if (AUTH_NAMES.has(name) || status === 403 || status === 401) return make('AUTH', false, HINT_AUTH)
  if (name === 'NoSuchBucket') return make('NOT_FOUND', false, HINT_BUCKET)
  if (name === 'NoSuchKey' || name === 'NotFound' || status === 404) return make('NOT_FOUND', false)
  if (name === 'PermanentRedirect' || name === 'AuthorizationHeaderMalformed' || status === 301) {
    return make('CONNECT', false, "the bucket is in another region: set S3_REGION to the bucket's region")
  }
  if (THROTTLING.has(name) || (status !== undefined && status >= 500) || status === 429)
    return make('CONNECT', true, HINT_NETWORK)
  if (status !== undefined && status >= 400)
    return make(
      'IO',
      false,
      'the S3 store refused the request: check S3_STORAGE_CLASS, S3_SSE and S3_SSE_KMS_KEY_ID against what it supports',
    )
  // No HTTP status: the connection broke in the middle, or the SDK says itself that it may help.
  if (e.$retryable !== undefined || e.$fault === 'server' || e.code !== undefined)
    return make('CONNECT', true, HINT_NETWORK)
  return make('IO', false)
}
