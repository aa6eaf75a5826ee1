/**
 * Our own multipart upload (issue 20), in place of lib-storage's `Upload`: a stream's bytes are
 * copied into a fixed set of part buffers — `queueSize` parts in flight and one being filled —
 * that are reused from part to part, so an upload mallocs its ~15 MiB once instead of a new 5 MiB
 * concatenation per part (which glibc's main arena kept after they were freed: 4 backups in 11
 * went over 150 MB RSS, docs/PERFORMANCE.md "S3: our own multipart upload").
 *
 * A buffer is refilled only once the request that sends it has settled (the SDK's own retries of
 * the part included: it may read the body until then). An object of one part or less is a single
 * PutObject. Any failure stops the reading, waits for the parts in flight and aborts the multipart
 * upload (best effort: a store without AbortMultipartUpload keeps its parts, never an object), then
 * rethrows the first failure, not the cleanup's.
 */
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  PutObjectCommand,
  UploadPartCommand,
  type CompletedPart,
  type CreateMultipartUploadCommandInput,
  type S3Client,
} from '@aws-sdk/client-s3'
import type { Readable } from 'node:stream'
import { failpoint } from '../../runtime/failpoint.js'

/** What S3 allows in one multipart upload. */
const S3_MAX_PARTS = 10_000

/** The object's parameters, sent with CreateMultipartUpload or the single PutObject. */
export type ObjectInput = Pick<
  CreateMultipartUploadCommandInput,
  | 'Bucket'
  | 'Key'
  | 'ContentType'
  | 'Metadata'
  | 'ServerSideEncryption'
  | 'SSEKMSKeyId'
  | 'StorageClass'
  | 'ObjectLockMode'
  | 'ObjectLockRetainUntilDate'
  | 'ChecksumAlgorithm'
> & { Bucket: string; Key: string }

export interface MultipartOptions {
  partSize: number
  /** Parts sent at the same time. */
  queueSize: number
  /** The length the body must have, when known: a body that differs fails before the object exists. */
  size?: number
  signal?: AbortSignal
}

interface Part {
  bytes: Buffer
  /** No byte follows: with part 1, the whole object. */
  last: boolean
  /** The buffer may be refilled (its request has settled). */
  release(): void
}

/** A Buffer's parts: views of it, nothing copied. */
function* partsOfBuffer(body: Buffer, partSize: number): Generator<Part> {
  for (let at = 0; at === 0 || at < body.length; at += partSize)
    yield { bytes: body.subarray(at, at + partSize), last: at + partSize >= body.length, release: () => undefined }
}

/**
 * A stream's parts, copied into reused buffers. A full buffer is given out only once a further
 * byte arrives, so that the last part is known as such (an object of exactly one part is a
 * PutObject). The caller takes the next part only when a buffer is free again (≤ queueSize in
 * flight), so at most queueSize + 1 buffers are ever allocated.
 */
async function* partsOfStream(body: Readable, partSize: number): AsyncGenerator<Part> {
  const free: Buffer[] = []
  const part = (buffer: Buffer, length: number, last: boolean): Part => ({
    bytes: buffer.subarray(0, length),
    last,
    release: () => free.push(buffer),
  })
  let buffer: Buffer | undefined
  let filled = 0
  for await (const chunk of body as AsyncIterable<Buffer>) {
    for (let at = 0; at < chunk.length;) {
      if (buffer && filled === partSize) {
        yield part(buffer, filled, false)
        buffer = undefined
      }
      if (!buffer) {
        buffer = free.pop() ?? Buffer.allocUnsafeSlow(partSize)
        filled = 0
      }
      const n = chunk.copy(buffer, filled, at)
      filled += n
      at += n
    }
  }
  yield part(buffer ?? Buffer.alloc(0), filled, true)
}

/** Uploads `body` as the object `input` names; resolves its ETag. */
export async function uploadObject(
  client: S3Client,
  input: ObjectInput,
  body: Buffer | Readable,
  opts: MultipartOptions,
): Promise<string | undefined> {
  const { partSize, queueSize } = opts
  // Stops the parts in flight when one fails (the caller's signal stops them too).
  const stop = new AbortController()
  const signal = opts.signal ? AbortSignal.any([opts.signal, stop.signal]) : stop.signal
  const parts = Buffer.isBuffer(body) ? partsOfBuffer(body, partSize) : partsOfStream(body, partSize)
  const { Bucket, Key, ChecksumAlgorithm } = input
  let uploadId: string | undefined
  const completed: CompletedPart[] = []
  const inFlight = new Set<Promise<void>>()
  // The parts' failures, the first first (an array: a closure's assignment is not narrowed away).
  const failures: unknown[] = []
  let number = 0
  let bytes = 0
  const checkSize = () => {
    if (opts.size !== undefined && bytes !== opts.size)
      throw new Error(`the body had ${bytes} bytes, ${opts.size} were expected`)
  }
  try {
    for await (const part of parts) {
      if (failures.length > 0) throw failures[0]
      number++
      bytes += part.bytes.length
      if (number === 1 && part.last) {
        checkSize()
        const out = await client.send(new PutObjectCommand({ ...input, Body: part.bytes }), { abortSignal: signal })
        failpoint('s3.part-uploaded')
        return out.ETag
      }
      if (number > S3_MAX_PARTS) throw new Error(`more than ${S3_MAX_PARTS} parts of ${partSize} bytes`)
      if (uploadId === undefined) {
        uploadId = (await client.send(new CreateMultipartUploadCommand(input), { abortSignal: signal })).UploadId
        if (!uploadId) throw new Error('CreateMultipartUpload answered without an UploadId')
      }
      const partNumber = number
      const request = client
        .send(
          new UploadPartCommand({
            Bucket,
            Key,
            UploadId: uploadId,
            PartNumber: number,
            Body: part.bytes,
            ...(ChecksumAlgorithm ? { ChecksumAlgorithm } : {}),
          }),
          { abortSignal: signal },
        )
        .then((out) => {
          if (!out.ETag) throw new Error(`part ${partNumber} was stored without an ETag`)
          completed.push({
            PartNumber: partNumber,
            ETag: out.ETag,
            ...(out.ChecksumSHA256 ? { ChecksumSHA256: out.ChecksumSHA256 } : {}),
          })
          failpoint('s3.part-uploaded')
        })
      const settled: Promise<void> = request
        .catch((error: unknown) => {
          failures.push(error)
          stop.abort()
        })
        .finally(() => {
          inFlight.delete(settled)
          part.release()
        })
      inFlight.add(settled)
      // The next part needs a free buffer: wait for a request to settle.
      while (inFlight.size >= queueSize) await Promise.race(inFlight)
      if (failures.length > 0) throw failures[0]
    }
    await Promise.all(inFlight)
    if (failures.length > 0) throw failures[0]
    checkSize()
    completed.sort((a, b) => a.PartNumber! - b.PartNumber!)
    const out = await client.send(
      new CompleteMultipartUploadCommand({ Bucket, Key, UploadId: uploadId, MultipartUpload: { Parts: completed } }),
      { abortSignal: signal },
    )
    uploadId = undefined
    return out.ETag
  } catch (error) {
    stop.abort()
    await Promise.all(inFlight)
    if (uploadId !== undefined)
      await client.send(new AbortMultipartUploadCommand({ Bucket, Key, UploadId: uploadId })).catch(() => undefined)
    throw error
  }
}
