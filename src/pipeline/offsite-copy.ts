/**
 * The off-site copy streamed during the dump: a tee after the compressed-bytes meter feeds a
 * multipart upload under the backup's final key while the dump is still running, and the upload
 * is completed while the local file is being verified. On a fast link the copy then costs almost
 * no extra wall time (bench/s3.ts measures it; uploading after the commit cost ~20% more).
 *
 * Why that is safe: a data object is not a backup — only its manifest object, uploaded after the
 * local proof and the object's confirmation, makes it one. Until then the object carries no
 * checksum metadata; if the local backup fails, the upload is aborted or the object deleted. A
 * crash in between leaves an unlisted object at most (never counted, never restored).
 *
 * The tee never fails the local backup and slows it only a little: when the upload falls
 * LAG_LIMIT behind, the dump waits for it (a burst), but never longer in total than WAIT_SHARE of
 * the dump's time so far (at least MIN_WAIT_MS). When that budget is spent, or the upload fails,
 * or the backup outgrows what CopyObject can relabel (5 GiB), the copy is detached and the backup
 * is uploaded from the volume once it is proven instead.
 */
import { PassThrough, Transform, type TransformCallback } from 'node:stream'
import type { Manifest } from '../catalog/manifest.js'
import { remoteDir } from '../catalog/remote.js'
import { DbkeeperError } from '../runtime/errors.js'
import type { Logger } from '../runtime/logger.js'
import { MAX_COPY_SIZE, PART_SIZE } from '../storage/s3/limits.js'
import type { PutResult, Target } from '../storage/target.js'
import { DATA_CONTENT_TYPE, objectMetadata, startMetadata } from './offsite-publish.js'

/** How far the upload may fall behind the dump (bytes buffered) before the dump waits for it. */
export const LAG_LIMIT = 8 * 1024 * 1024
/** The share of the dump's time it may spend waiting for a slower upload, in total... */
export const WAIT_SHARE = 0.05
/** ...but at least this long (a slow start: TLS handshake, the first part). */
export const MIN_WAIT_MS = 2000

export type StreamedResult = { ok: true } | { ok: false; reason: string }

export interface StreamedCopy {
  /** For BackupJob.tee: a pass-through for the compressed bytes; it never fails the backup. */
  readonly tee: (file: string) => Transform
  /**
   * The local backup failed, or the target's plan does not take it: abort the upload or delete the
   * object (labelled already when finish() came first); nothing stays visible.
   */
  cancel(reason?: string): Promise<void>
  /** The backup is committed: wait for the upload and label the object with the manifest's metadata. */
  finish(manifest: Manifest): Promise<StreamedResult>
}

export function startStreamedCopy(target: Target, source: string, database: string, logger: Logger): StreamedCopy {
  let branch: PassThrough | undefined
  let put: Promise<PutResult> | undefined
  let key: string | undefined
  // finish() was called: the object is (being) labelled as the proven backup.
  let finished = false
  let detached: string | undefined
  let sent = 0
  let startedAt = 0
  let waited = 0
  // The metadata of a proven backup: given by finish(), refused by cancel().
  let prove!: (m: Manifest) => void
  let refuse!: (e: Error) => void
  const proven = new Promise<Manifest>((resolve, reject) => {
    prove = resolve
    refuse = reject
  })
  proven.catch(() => undefined)

  const detach = (reason: string) => {
    if (detached !== undefined || !branch) return
    detached = reason
    logger.info(
      { database },
      `off-site copy during the dump stopped: ${reason}; the backup is uploaded from the volume once proven`,
    )
    branch.destroy(new Error(reason))
    refuse(new Error(reason))
  }

  /** Hands the chunk to the upload; resolves at once, or once the upload caught up or was detached. */
  const forward = (chunk: Buffer, done: () => void) => {
    if (!branch || detached !== undefined) return done()
    // The upload ended it already (it failed): the rejection that says why follows.
    if (branch.destroyed) return (detach('the upload stopped'), done())
    sent += chunk.length
    // Leave room for one more part: the check happens before the bytes are buffered.
    if (sent > MAX_COPY_SIZE - PART_SIZE) return (detach('the backup is larger than 5 GiB'), done())
    if (branch.write(chunk)) return done()
    const budget = Math.max(MIN_WAIT_MS, WAIT_SHARE * (Date.now() - startedAt)) - waited
    const since = Date.now()
    const settle = () => {
      clearTimeout(timer)
      branch?.off('drain', settle).off('close', settle)
      waited += Date.now() - since
      done()
    }
    const timer = setTimeout(
      () => {
        detach(
          `the upload fell behind the dump for longer than the ${Math.round((waited + Date.now() - since) / 1000)} s it may wait`,
        )
        settle()
      },
      Math.max(0, budget),
    )
    branch.once('drain', settle).once('close', settle)
  }

  return {
    tee(file: string): Transform {
      key = `${remoteDir(source, database)}${file}`
      branch = new PassThrough({ readableHighWaterMark: 1024 * 1024, writableHighWaterMark: LAG_LIMIT })
      // Its failure reaches us through `put`; an unobserved 'error' event would crash the process.
      branch.on('error', () => undefined)
      startedAt = Date.now()
      put = target.put(key, branch, {
        metadata: startMetadata(source, database),
        finalMetadata: async () => objectMetadata(await proven),
        dataObject: true,
        contentType: DATA_CONTENT_TYPE,
      })
      // Observed in finish() or cancel(); an upload failing during the dump only detaches it.
      put.catch((error: unknown) => {
        if (detached === undefined) detach(`the upload failed: ${(error as Error).message}`)
      })
      return new Transform({
        transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback) {
          forward(chunk, () => done(null, chunk))
        },
        // The dump ended: send the last part and complete while the local file is verified.
        flush(done: TransformCallback) {
          if (detached === undefined) branch?.end()
          done()
        },
      })
    },

    async cancel(reason = 'the local backup failed'): Promise<void> {
      if (!branch || !put || !key) return
      if (!finished) {
        detach(reason)
        refuse(new DbkeeperError('ABORTED', reason))
      }
      // Unproven, the target deletes the object itself (finalMetadata rejects); labelled, it is ours
      // to delete. Should that fail, what stays is an object without a manifest: never listed.
      if (
        await put.then(
          () => true,
          () => false,
        )
      )
        await target
          .remove([key])
          .catch((error: unknown) => logger.warn({ err: error, key }, 'could not delete the streamed S3 object'))
    },

    async finish(m: Manifest): Promise<StreamedResult> {
      if (!branch || !put) return { ok: false, reason: 'nothing was streamed' }
      if (detached === undefined && sent !== m.compressed.size)
        detach(`${sent} bytes were streamed, the backup has ${m.compressed.size}`)
      if (detached !== undefined) {
        await put.catch(() => undefined)
        return { ok: false, reason: detached }
      }
      finished = true
      prove(m)
      try {
        await put
        return { ok: true }
      } catch (error) {
        return { ok: false, reason: `the upload failed: ${(error as Error).message}` }
      }
    },
  }
}
