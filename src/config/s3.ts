/**
 * The off-site targets: `S3_*` (target 1, with the standard `AWS_*` credentials) and `S3_n_*` for
 * n = 2, 3, … (each its own bucket, endpoint, region, prefix, retention, lock, and credentials
 * `S3_n_ACCESS_KEY_ID` / `S3_n_SECRET_ACCESS_KEY` defaulting to the `AWS_*` ones). S3 is on when
 * `S3_BUCKET` is set; any other `S3_*` variable without it is a problem (a half-configured
 * off-site copy would silently never happen), and so is an `S3_n_*` without its `S3_n_BUCKET`.
 */
import type { Env, EnvReader } from './reader.js'
import { isEmptyPolicy, readSourceRetention, RETENTION_SUFFIXES } from './retention.js'
import type { ObjectLockMode, RetentionPolicy, S3Config, S3Sse } from './types.js'
import type { Secret } from '../runtime/secrets.js'

const BUCKET = /^[A-Za-z0-9][A-Za-z0-9._-]{1,253}[A-Za-z0-9]$/
const REGION = /^[a-z0-9-]{2,32}$/
const STORAGE_CLASS = /^[A-Z][A-Z0-9_]{1,40}$/
/** `S3_2_BUCKET` → 2. `S3_1_*` is refused: target 1 is `S3_*`. */
export const NUMBERED_TARGET = /^S3_(\d+)_([A-Z0-9_]+)$/
const LOCK_MODES = ['GOVERNANCE', 'COMPLIANCE'] as const
/** AWS's own ceiling for a default retention period is 100 years; anything above is a typo. */
const MAX_LOCK_DAYS = 36500

/** Every `S3_*` variable that is set: they only mean something together with S3_BUCKET. */
function s3Variables(env: Env): string[] {
  return Object.keys(env).filter((k) => k.startsWith('S3_') && (env[k] ?? '').trim() !== '')
}

/** The numbers n ≥ 1 of the `S3_n_*` variables set, ascending. */
function targetNumbers(env: Env): number[] {
  const numbers = new Set<number>()
  for (const k of s3Variables(env)) {
    const m = NUMBERED_TARGET.exec(k)
    if (m) numbers.add(Number(m[1]))
  }
  return [...numbers].sort((a, b) => a - b)
}

function readPrefix(r: EnvReader, p: string): string {
  const raw = r.raw(`${p}PREFIX`)
  if (raw === undefined) return ''
  const trimmed = raw.replace(/^\/+|\/+$/g, '')
  if (trimmed === '') return ''
  const segments = trimmed.split('/')
  if (segments.some((s) => s === '' || s === '.' || s === '..')) {
    r.problem(`${p}PREFIX`, raw, 'a key prefix such as backups or prod/db, without empty, "." or ".." parts')
    return ''
  }
  return `${trimmed}/`
}

function readEndpoint(r: EnvReader, p: string): string | undefined {
  const raw = r.raw(`${p}ENDPOINT`)
  if (raw === undefined) return undefined
  let url: URL | undefined
  try {
    url = new URL(raw)
  } catch {
    url = undefined
  }
  if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:') || url.username || url.password) {
    r.problem(
      `${p}ENDPOINT`,
      raw,
      'an http:// or https:// URL without credentials, such as https://minio.internal:9000',
    )
    return undefined
  }
  return raw.replace(/\/+$/, '')
}

function readSse(r: EnvReader, p: string): { sse: S3Sse | undefined; kmsKeyId: string | undefined } {
  const raw = r.raw(`${p}SSE`)
  const kmsKeyId = r.raw(`${p}SSE_KMS_KEY_ID`)
  let sse: S3Sse | undefined
  if (raw !== undefined) {
    if (raw.toUpperCase() === 'AES256') sse = 'AES256'
    else if (raw.toLowerCase() === 'aws:kms') sse = 'aws:kms'
    else r.problem(`${p}SSE`, raw, 'AES256 (keys managed by S3) or aws:kms (keys in KMS)')
  }
  if (kmsKeyId !== undefined && sse !== 'aws:kms')
    r.problem(`${p}SSE_KMS_KEY_ID`, kmsKeyId, `to be set only together with ${p}SSE=aws:kms`)
  return { sse, kmsKeyId }
}

/** Object Lock: a mode and a number of days, both or neither. */
function readObjectLock(r: EnvReader, p: string): S3Config['objectLock'] {
  const rawMode = r.raw(`${p}OBJECT_LOCK_MODE`)
  const days = r.int(`${p}OBJECT_LOCK_DAYS`, {
    min: 1,
    max: MAX_LOCK_DAYS,
    expected: `a number of days from 1 to ${MAX_LOCK_DAYS}`,
  })
  let mode: ObjectLockMode | undefined
  if (rawMode !== undefined) {
    mode = LOCK_MODES.find((m) => m === rawMode.toUpperCase())
    if (mode === undefined)
      r.problem(
        `${p}OBJECT_LOCK_MODE`,
        rawMode,
        'GOVERNANCE (a user with s3:BypassGovernanceRetention may still delete) or COMPLIANCE (nobody can, not even root)',
      )
  }
  if (rawMode !== undefined && days === undefined && !r.has(`${p}OBJECT_LOCK_DAYS`))
    r.problem(`${p}OBJECT_LOCK_DAYS`, undefined, `the days each object stays locked, with ${p}OBJECT_LOCK_MODE`)
  if (rawMode === undefined && r.has(`${p}OBJECT_LOCK_DAYS`))
    r.problem(`${p}OBJECT_LOCK_MODE`, undefined, `GOVERNANCE or COMPLIANCE, with ${p}OBJECT_LOCK_DAYS`)
  return mode !== undefined && days !== undefined ? Object.freeze({ mode, days }) : undefined
}

/**
 * A target's retention: unset means every source keeps there what it keeps locally. Set, the
 * target's rules replace the global rules of the same name (as `DBnn_*` overrides do), for every
 * source: "2 days local, 30 days + 12 monthly off-site" is `BACKUP_RETENTION_DAYS=2
 * S3_RETENTION_DAYS=30 S3_KEEP_MONTHLY=12`.
 */
function readTargetRetention(r: EnvReader, p: string, global: RetentionPolicy): RetentionPolicy | undefined {
  const set = RETENTION_SUFFIXES.some((suffix) => r.has(`${p}${suffix}`))
  if (!set) return undefined
  const policy = readSourceRetention(r, p, global)
  if (isEmptyPolicy(policy))
    r.problem(`${p}KEEP_*`, undefined, 'an off-site retention policy that keeps something (every rule is off)')
  return Object.freeze(policy)
}

/** Both or neither; `names` are the two variables, for the problem. */
function readCredentials(
  r: EnvReader,
  names: readonly [string, string, string],
  fallback: { accessKeyId?: Secret; secretAccessKey?: Secret; sessionToken?: Secret },
): Pick<S3Config, 'accessKeyId' | 'secretAccessKey' | 'sessionToken'> {
  const [idName, secretName, tokenName] = names
  const accessKeyId = r.secret(idName)
  const secretAccessKey = r.secret(secretName)
  const sessionToken = r.secret(tokenName)
  if ((accessKeyId === undefined) !== (secretAccessKey === undefined)) {
    const missing = accessKeyId === undefined ? idName : secretName
    r.problem(
      missing,
      undefined,
      `both ${idName} and ${secretName} (or their _FILE forms), or neither for ${idName.startsWith('AWS_') ? 'an IAM role' : 'the AWS_* credentials'}`,
    )
  }
  if (accessKeyId === undefined && secretAccessKey === undefined)
    return {
      accessKeyId: fallback.accessKeyId,
      secretAccessKey: fallback.secretAccessKey,
      sessionToken: sessionToken ?? fallback.sessionToken,
    }
  return { accessKeyId, secretAccessKey, sessionToken }
}

/** One target's settings under `p` (`S3_` or `S3_2_`); the bucket is known to be set. */
function readTarget(
  r: EnvReader,
  p: string,
  id: string,
  bucket: string,
  global: RetentionPolicy,
  credentials: Pick<S3Config, 'accessKeyId' | 'secretAccessKey' | 'sessionToken'>,
): S3Config {
  if (!BUCKET.test(bucket))
    r.problem(
      `${p}BUCKET`,
      bucket,
      `a bucket name (3–255 letters, digits, ".", "-", "_"; no s3:// and no path: put a path in ${p}PREFIX)`,
    )
  const endpoint = readEndpoint(r, p)
  const region = r.string(`${p}REGION`, 'us-east-1')!
  if (!REGION.test(region)) r.problem(`${p}REGION`, region, 'a region such as eu-central-1 (auto for Cloudflare R2)')
  const storageClass = r.raw(`${p}STORAGE_CLASS`)
  if (storageClass !== undefined && !STORAGE_CLASS.test(storageClass))
    r.problem(`${p}STORAGE_CLASS`, storageClass, 'a storage class in capitals, such as STANDARD_IA or DEEP_ARCHIVE')
  const { sse, kmsKeyId } = readSse(r, p)
  return Object.freeze({
    id,
    bucket,
    prefix: readPrefix(r, p),
    region,
    endpoint,
    // MinIO and most self-hosted stores only answer path-style requests (no bucket DNS names).
    forcePathStyle: r.bool(`${p}FORCE_PATH_STYLE`, endpoint !== undefined),
    ...credentials,
    storageClass,
    sse,
    sseKmsKeyId: kmsKeyId,
    retention: readTargetRetention(r, p, global),
    objectLock: readObjectLock(r, p),
    noDelete: r.bool(`${p}NO_DELETE`, false),
  })
}

/** Every configured target, target 1 (`S3_*`) first; empty without S3_BUCKET. */
export function readS3Targets(r: EnvReader, env: Env, global: RetentionPolicy): S3Config[] {
  const bucket = r.raw('S3_BUCKET')
  if (bucket === undefined) {
    const others = s3Variables(env)
    if (others.length > 0)
      r.problem(
        'S3_BUCKET',
        undefined,
        `a bucket name: ${others.join(', ')} ${others.length === 1 ? 'is' : 'are'} set, but S3 is only used with S3_BUCKET`,
      )
    return []
  }
  const globalCredentials = readCredentials(r, ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN'], {})
  const targets = [readTarget(r, 'S3_', 'S3', bucket, global, globalCredentials)]
  for (const n of targetNumbers(env)) {
    const p = `S3_${n}_`
    // S3_1_*: known.ts names the plain S3_* variable meant.
    if (n < 2) continue
    const own = r.required(
      `${p}BUCKET`,
      `a bucket name: other ${p}* variables are set, and target ${n} needs its own bucket`,
    )
    if (own === undefined) continue
    const credentials = readCredentials(
      r,
      [`${p}ACCESS_KEY_ID`, `${p}SECRET_ACCESS_KEY`, `${p}SESSION_TOKEN`],
      globalCredentials,
    )
    targets.push(readTarget(r, p, `S3_${n}`, own, global, credentials))
  }
  const seen = new Map<string, string>()
  for (const t of targets) {
    const where = `${t.endpoint ?? 'aws'} ${t.bucket}/${t.prefix}`
    const other = seen.get(where)
    if (other)
      r.problem(
        `${t.id}_PREFIX`,
        t.prefix,
        `a bucket or prefix different from ${other}'s (two targets would share their objects)`,
      )
    seen.set(where, t.id)
  }
  return targets
}
