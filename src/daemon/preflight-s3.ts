/**
 * The S3 part of the preflight: the off-site target proven through the Target contract itself —
 * list (credentials, bucket), put, get (the bytes come back equal), remove, head (gone) — on one
 * small probe object under S3_PREFIX, named so that nobody mistakes it for a backup. Then, where
 * the store answers, its versioning and Object Lock state (informative: never a failure).
 */
import { randomBytes } from 'node:crypto'
import type { Readable } from 'node:stream'
import type { S3Config } from '../config/types.js'
import { DbkeeperError, toDbkeeperError } from '../runtime/errors.js'
import { readBucketState } from '../storage/s3/bucket-state.js'
import { openS3Target } from '../storage/s3/index.js'
import type { Target } from '../storage/target.js'

/** Keys of probe objects start with this, right under the prefix: never a source's directory. */
export const PROBE_PREFIX = '.dbkeeper-check-'

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = []
  for await (const chunk of stream) chunks.push(Buffer.from(chunk as Buffer))
  return Buffer.concat(chunks)
}

/**
 * Whether the credentials may delete: the probe's DELETE answered. With S3_NO_DELETE=true a refusal
 * is what the operator asked for (the probe stays, for the lifecycle rule), and a success is a
 * finding: a key meant to be append-only is not, and a compromised host could delete the backups.
 */
async function removeProbe(target: Target, key: string, cfg: S3Config): Promise<boolean> {
  try {
    await target.remove([key])
  } catch (error) {
    const e = toDbkeeperError(error)
    if (e.code !== 'AUTH') throw e
    if (cfg.noDelete) return false
    throw new DbkeeperError('AUTH', `${cfg.id}: the credentials may not delete the probe ${target.url(key)}`, {
      hint: `allow s3:DeleteObject under ${cfg.id}_PREFIX, or set ${cfg.id}_NO_DELETE=true for an append-only key (docs/OPERATIONS.md, "A vault")`,
      cause: error,
    })
  }
  if (cfg.noDelete)
    throw new DbkeeperError(
      'AUTH',
      `${cfg.id}_NO_DELETE=true, but the credentials deleted the probe ${target.url(key)}`,
      {
        hint: 'the key is not append-only: a compromised host could delete every backup; remove s3:DeleteObject (and s3:DeleteObjectVersion) from its policy (docs/OPERATIONS.md has one)',
      },
    )
  return true
}

/** Write, read back, delete; the probe is deleted even when reading it back fails. */
async function probeTarget(target: Target, cfg: S3Config, signal?: AbortSignal): Promise<string> {
  // Listing first: a refused key or a missing bucket fails here, before anything is written.
  for await (const _ of target.list(PROBE_PREFIX)) break
  const key = `${PROBE_PREFIX}${randomBytes(8).toString('hex')}`
  const body = Buffer.from(
    `dbkeeper check probe ${new Date().toISOString()} ${randomBytes(16).toString('hex')}\nSafe to delete.\n`,
  )
  await target.put(key, body, { contentType: 'text/plain', size: body.length, signal })
  try {
    const back = await readAll(await target.get(key, signal))
    if (!back.equals(body)) {
      throw new DbkeeperError(
        'VERIFY_FAILED',
        `the probe ${target.url(key)} read back as ${back.length} bytes that differ from the ${body.length} written`,
        {
          hint: 'the store does not return what it stored: with a custom S3_ENDPOINT, check that it is S3-compatible for plain PUT/GET',
        },
      )
    }
  } catch (error) {
    await target.remove([key]).catch(() => undefined)
    throw error
  }
  const canDelete = await removeProbe(target, key, cfg)
  if (!canDelete)
    return `${body.length}-byte probe ${key} written and read back equal; credentials can delete: no (as ${cfg.id}_NO_DELETE=true says; the probe stays for the lifecycle rule)`
  if (await target.head(key)) {
    throw new DbkeeperError('IO', `the probe ${target.url(key)} is still there after its deletion`, {
      hint: 'the key may write but not delete: allow s3:DeleteObject under S3_PREFIX',
    })
  }
  return `${body.length}-byte probe ${key} written, read back equal and deleted; credentials can delete: yes`
}

export async function checkS3(cfg: S3Config, opts: { bucketState: boolean; signal?: AbortSignal }): Promise<string> {
  // One attempt per call: the SDK already repeats a failed request, and a check should answer soon.
  const proven = await probeTarget(openS3Target(cfg, { attempts: 1, signal: opts.signal }), cfg, opts.signal)
  if (!opts.bucketState) return proven
  const state = await readBucketState(cfg, opts.signal)
  if (cfg.objectLock && state.objectLock === 'off')
    throw new DbkeeperError(
      'CONFIG',
      `${cfg.id}_OBJECT_LOCK_MODE is set, but the bucket ${cfg.bucket} has Object Lock off: every upload would be refused`,
      {
        hint: `create the bucket with Object Lock on (it cannot be turned on for most existing buckets), or unset ${cfg.id}_OBJECT_LOCK_MODE and ${cfg.id}_OBJECT_LOCK_DAYS`,
      },
    )
  return `${proven}; versioning: ${state.versioning}; Object Lock: ${state.objectLock}`
}
