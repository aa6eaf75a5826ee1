/**
 * Publishing one proven backup off-site, with the volume's rule: the data object, then its
 * confirmation (HeadObject: size and sha256 metadata must match, else it is deleted and the copy
 * fails), then the commit of catalog/repository.ts on the target: the `.sha256` object, the
 * manifest object last. Until the manifest object exists the data object is debris: never
 * listed, restored or counted.
 */
import { createReadStream } from 'node:fs'
import { stat } from 'node:fs/promises'
import { pipeline } from 'node:stream/promises'
import { PassThrough } from 'node:stream'
import type { CatalogEntry } from '../catalog/catalog.js'
import type { Manifest } from '../catalog/manifest.js'
import { encodeName } from '../catalog/naming.js'
import { remoteDataKey } from '../catalog/remote.js'
import { commitOnTarget } from '../catalog/repository.js'
import { DbkeeperError } from '../runtime/errors.js'
import { failpoint } from '../runtime/failpoint.js'
import type { Logger } from '../runtime/logger.js'
import type { Target } from '../storage/target.js'
import { Meter } from './meter.js'

export const DATA_CONTENT_TYPE = 'application/octet-stream'

/** What the data object carries as `x-amz-meta-*` once the backup is proven. Header-safe values. */
export function objectMetadata(m: Manifest): Record<string, string> {
  return {
    ...startMetadata(m.source, m.database),
    'dbkeeper-id': m.id,
    engine: m.engine,
    kind: m.kind,
    'started-at': m.startedAt,
    compression: m.compression.kind,
    'raw-size': String(m.raw.size),
    'raw-sha256': m.raw.sha256,
    'compressed-size': String(m.compressed.size),
    sha256: m.compressed.sha256,
  }
}

/** What is known when a streamed upload starts (before the dump is done). */
export function startMetadata(source: string, database: string): Record<string, string> {
  // A database name may hold any character; a header value may not: the key's own encoding.
  return { source, database: encodeName(database) }
}

/** Confirms the data object, then uploads `.sha256` and the manifest object (last). Returns the data key. */
export async function confirmAndCommit(
  target: Target,
  m: Manifest,
  logger?: Logger,
  retainUntil?: Date,
): Promise<string> {
  const dataKey = remoteDataKey(m)
  const head = await target.head(dataKey)
  const problems: string[] = []
  if (!head) problems.push('the object is missing after its upload')
  else {
    if (head.size !== m.compressed.size) problems.push(`it has ${head.size} bytes, the backup ${m.compressed.size}`)
    if (head.metadata.sha256 !== m.compressed.sha256)
      problems.push(`its sha256 metadata is ${head.metadata.sha256 ?? 'missing'}, the backup's ${m.compressed.sha256}`)
  }
  if (problems.length > 0) {
    await target
      .remove([dataKey])
      .catch((error: unknown) =>
        logger?.warn({ err: error, key: dataKey }, 'could not delete the mismatching S3 object'),
      )
    throw new DbkeeperError(
      'VERIFY_FAILED',
      `the S3 copy ${target.url(dataKey)} does not match the backup: ${problems.join('; ')}; it was deleted`,
      {
        hint: 'the store did not keep what was sent: with a custom S3_ENDPOINT check that it is S3-compatible (and not a proxy that rewrites bodies); the next run uploads the backup again',
      },
    )
  }
  failpoint('offsite.confirmed')
  await commitOnTarget(target, dataKey, m, objectMetadata(m), retainUntil)
  return dataKey
}

/**
 * Uploads a committed local backup (catch-up, or when the copy streamed during the dump did not
 * make it), checking on the way that the file still has the sha256 its manifest records: a file
 * that rotted on the volume is not copied off-site as if it were good.
 */
export async function uploadFromVolume(
  target: Target,
  entry: Pick<CatalogEntry, 'manifest' | 'dataPath'>,
  signal: AbortSignal,
  logger?: Logger,
  /** Object Lock: the retain-until date of its three objects (offsite-target.ts decides it). */
  retainUntil?: Date,
): Promise<string> {
  const m = entry.manifest
  const dataKey = remoteDataKey(m)
  // A file whose size changed is refused before anything is sent (the upload would stop at the
  // size it was promised, in the store's words); one whose bytes changed, after (its sha256 below).
  const { size } = await stat(entry.dataPath)
  if (size !== m.compressed.size)
    throw changedOnVolume(entry.dataPath, `${size} bytes, the manifest says ${m.compressed.size}`)
  let meter: Meter | undefined
  const open = () => {
    meter = new Meter(false)
    const out = new PassThrough({ highWaterMark: 1 << 20 })
    pipeline(createReadStream(entry.dataPath, { highWaterMark: 1 << 20 }), meter, out).catch((error: unknown) =>
      out.destroy(error as Error),
    )
    return out
  }
  await target.put(dataKey, open, {
    metadata: objectMetadata(m),
    dataObject: true,
    contentType: DATA_CONTENT_TYPE,
    size: m.compressed.size,
    signal,
    ...(retainUntil ? { retainUntil } : {}),
  })
  const read = meter!.result()
  if (read.size !== m.compressed.size || read.sha256 !== m.compressed.sha256) {
    await target.remove([dataKey]).catch(() => undefined)
    throw changedOnVolume(entry.dataPath, `read ${read.size} bytes, sha256 ${read.sha256}`)
  }
  return confirmAndCommit(target, m, logger, retainUntil)
}

function changedOnVolume(path: string, what: string): DbkeeperError {
  return new DbkeeperError(
    'VERIFY_FAILED',
    `the local backup ${path} no longer matches its manifest (${what}); not copied off-site`,
    {
      hint: 'the file changed on the volume after it was proven: check the disk (`dmesg`), run `dbkeeper verify` on it, and do not restore from it',
    },
  )
}
