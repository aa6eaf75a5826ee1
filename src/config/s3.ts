/**
 * The off-site copy: `S3_*` and the standard `AWS_*` credentials. S3 is on when `S3_BUCKET` is set;
 * any other `S3_*` variable without it is a problem (a half-configured off-site copy would
 * silently never happen).
 */
import type { Env, EnvReader } from './reader.js'
import { isEmptyPolicy, readSourceRetention, RETENTION_SUFFIXES } from './retention.js'
import type { RetentionPolicy, S3Config, S3Sse } from './types.js'

const BUCKET = /^[A-Za-z0-9][A-Za-z0-9._-]{1,253}[A-Za-z0-9]$/
const REGION = /^[a-z0-9-]{2,32}$/
const STORAGE_CLASS = /^[A-Z][A-Z0-9_]{1,40}$/

/** Every `S3_*` variable that is set: they only mean something together with S3_BUCKET. */
function s3Variables(env: Env): string[] {
  return Object.keys(env).filter((k) => k.startsWith('S3_') && (env[k] ?? '').trim() !== '')
}

function readPrefix(r: EnvReader): string {
  const raw = r.raw('S3_PREFIX')
  if (raw === undefined) return ''
  const trimmed = raw.replace(/^\/+|\/+$/g, '')
  if (trimmed === '') return ''
  const segments = trimmed.split('/')
  if (segments.some((s) => s === '' || s === '.' || s === '..')) {
    r.problem('S3_PREFIX', raw, 'a key prefix such as backups or prod/db, without empty, "." or ".." parts')
    return ''
  }
  return `${trimmed}/`
}

function readEndpoint(r: EnvReader): string | undefined {
  const raw = r.raw('S3_ENDPOINT')
  if (raw === undefined) return undefined
  let url: URL | undefined
  try {
    url = new URL(raw)
  } catch {
    url = undefined
  }
  if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:') || url.username || url.password) {
    r.problem('S3_ENDPOINT', raw, 'an http:// or https:// URL without credentials, such as https://minio.internal:9000')
    return undefined
  }
  return raw.replace(/\/+$/, '')
}

function readSse(r: EnvReader): { sse: S3Sse | undefined; kmsKeyId: string | undefined } {
  const raw = r.raw('S3_SSE')
  const kmsKeyId = r.raw('S3_SSE_KMS_KEY_ID')
  let sse: S3Sse | undefined
  if (raw !== undefined) {
    if (raw.toUpperCase() === 'AES256') sse = 'AES256'
    else if (raw.toLowerCase() === 'aws:kms') sse = 'aws:kms'
    else r.problem('S3_SSE', raw, 'AES256 (keys managed by S3) or aws:kms (keys in KMS)')
  }
  if (kmsKeyId !== undefined && sse !== 'aws:kms')
    r.problem('S3_SSE_KMS_KEY_ID', kmsKeyId, 'to be set only together with S3_SSE=aws:kms')
  return { sse, kmsKeyId }
}

/**
 * The off-site retention: unset means every source keeps on S3 what it keeps locally. Set, the
 * `S3_*` rules replace the global rules of the same name (as `DBnn_*` overrides do), for every
 * source: "2 days local, 30 days + 12 monthly off-site" is `BACKUP_RETENTION_DAYS=2
 * S3_RETENTION_DAYS=30 S3_KEEP_MONTHLY=12`.
 */
function readS3Retention(r: EnvReader, global: RetentionPolicy): RetentionPolicy | undefined {
  const set = RETENTION_SUFFIXES.some((suffix) => r.has(`S3_${suffix}`))
  if (!set) return undefined
  const policy = readSourceRetention(r, 'S3_', global)
  if (isEmptyPolicy(policy))
    r.problem('S3_KEEP_*', undefined, 'an off-site retention policy that keeps something (every S3_* rule is off)')
  return Object.freeze(policy)
}

export function readS3Config(r: EnvReader, env: Env, global: RetentionPolicy): S3Config | undefined {
  const bucket = r.raw('S3_BUCKET')
  if (bucket === undefined) {
    const others = s3Variables(env)
    if (others.length > 0)
      r.problem(
        'S3_BUCKET',
        undefined,
        `a bucket name: ${others.join(', ')} ${others.length === 1 ? 'is' : 'are'} set, but S3 is only used with S3_BUCKET`,
      )
    return undefined
  }
  if (!BUCKET.test(bucket))
    r.problem(
      'S3_BUCKET',
      bucket,
      'a bucket name (3–255 letters, digits, ".", "-", "_"; no s3:// and no path: put a path in S3_PREFIX)',
    )
  const endpoint = readEndpoint(r)
  const region = r.string('S3_REGION', 'us-east-1')!
  if (!REGION.test(region)) r.problem('S3_REGION', region, 'a region such as eu-central-1 (auto for Cloudflare R2)')
  const storageClass = r.raw('S3_STORAGE_CLASS')
  if (storageClass !== undefined && !STORAGE_CLASS.test(storageClass))
    r.problem('S3_STORAGE_CLASS', storageClass, 'a storage class in capitals, such as STANDARD_IA')
  const { sse, kmsKeyId } = readSse(r)
  const accessKeyId = r.secret('AWS_ACCESS_KEY_ID')
  const secretAccessKey = r.secret('AWS_SECRET_ACCESS_KEY')
  if ((accessKeyId === undefined) !== (secretAccessKey === undefined)) {
    const missing = accessKeyId === undefined ? 'AWS_ACCESS_KEY_ID' : 'AWS_SECRET_ACCESS_KEY'
    r.problem(
      missing,
      undefined,
      'both AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or their _FILE forms), or neither for an IAM role',
    )
  }
  return Object.freeze({
    bucket,
    prefix: readPrefix(r),
    region,
    endpoint,
    // MinIO and most self-hosted stores only answer path-style requests (no bucket DNS names).
    forcePathStyle: r.bool('S3_FORCE_PATH_STYLE', endpoint !== undefined),
    accessKeyId,
    secretAccessKey,
    sessionToken: r.secret('AWS_SESSION_TOKEN'),
    storageClass,
    sse,
    sseKmsKeyId: kmsKeyId,
    retention: readS3Retention(r, global),
  })
}
