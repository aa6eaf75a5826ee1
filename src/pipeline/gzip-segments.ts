/**
 * Parallel read-back of the gzip files we write. ParallelGzip starts a block without a dictionary
 * every 4 MiB of input, so the deflate body is a chain of self-contained segments whose offsets
 * the manifest records. Each segment is inflated on its own, on the thread pool, several at once,
 * and the outputs are passed on in order (to the CRC32/ISIZE check and the sha256 meter). Reading
 * back was bound by one inflate thread; now it is bound by hashing on the main thread.
 *
 * Why that proves what a sequential `gunzip` would read — the equivalence has three parts:
 * - A segment that inflates on its own never refers back before its start: zlib refuses a
 *   distance beyond the output it has ("invalid distance too far back").
 * - Every segment but the last ends with a sync flush (the empty stored block `00 00 ff ff`, so
 *   byte-aligned) and holds no final block: it is inflated with an empty final block (`03 00`)
 *   appended, and must consume exactly its bytes plus those two. A final block inside it would
 *   end the stream early; a boundary in the middle of a block would not parse. Sequential
 *   inflate therefore reads the next segment's first block header at the same byte.
 * - The last segment must end the deflate stream exactly where the gzip trailer starts.
 * Anything else fails this reader, and the caller falls back to the sequential read, which gives
 * the verdict (a wrong offset list costs time, never a wrong answer).
 */
import { Transform, type TransformCallback } from 'node:stream'
import { inflateRaw, type ZlibOptions } from 'node:zlib'
import { DEFAULT_IN_FLIGHT, GZIP_BLOCK_SIZE, SEGMENT_BLOCKS } from './gzip-parallel.js'

const SYNC_FLUSH_END = Buffer.from([0x00, 0x00, 0xff, 0xff])
/** BFINAL=1, fixed Huffman, end-of-block: the smallest final block. */
const EMPTY_FINAL_BLOCK = Buffer.from([0x03, 0x00])
/** One output buffer per segment: its raw size plus room, so zlib allocates once. */
const OUTPUT_CHUNK = GZIP_BLOCK_SIZE * SEGMENT_BLOCKS + 64 * 1024

interface InflateResult {
  buffer: Buffer
  engine: { bytesWritten: number }
}

function inflateSegment(segment: Buffer, last: boolean, index: number): Promise<Buffer> {
  if (!last && !segment.subarray(-SYNC_FLUSH_END.length).equals(SYNC_FLUSH_END)) {
    return Promise.reject(new Error(`gzip segment ${index} does not end with a sync flush`))
  }
  const input = last ? segment : Buffer.concat([segment, EMPTY_FINAL_BLOCK])
  const options = { info: true, chunkSize: OUTPUT_CHUNK } as ZlibOptions
  return new Promise((resolve, reject) => {
    inflateRaw(input, options, (error, result) => {
      if (error) return reject(new Error(`gzip segment ${index}: ${error.message}`))
      const { buffer, engine } = result as unknown as InflateResult
      if (engine.bytesWritten !== input.length) {
        return reject(new Error(`gzip segment ${index} ends its deflate stream after ${engine.bytesWritten} of ${input.length} bytes`))
      }
      resolve(buffer)
    })
  })
}

interface Job {
  result: Promise<Buffer>
  out: Buffer | undefined
}

/**
 * Takes the deflate body (the bytes between the gzip header and trailer) and gives its inflated
 * content, in order. `boundaries`: the body offsets where segments after the first start.
 */
export class SegmentInflate extends Transform {
  readonly #boundaries: number[]
  readonly #maxInFlight: number
  #offset = 0
  #index = 0
  #pending: Buffer[] = []
  #jobs: Job[] = []

  constructor(boundaries: readonly number[], maxInFlight = DEFAULT_IN_FLIGHT) {
    super()
    if (boundaries.some((b, i) => !Number.isSafeInteger(b) || b <= (i === 0 ? 0 : boundaries[i - 1]!))) {
      throw new Error('gzip segment offsets must be positive integers in increasing order')
    }
    this.#boundaries = [...boundaries]
    this.#maxInFlight = Math.max(1, maxInFlight)
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.#take(chunk).then(() => done(), done)
  }

  override _flush(done: TransformCallback): void {
    if (this.#index < this.#boundaries.length) {
      done(new Error(`the gzip body ends at ${this.#offset}, before segment ${this.#index + 1} at ${this.#boundaries[this.#index]}`))
      return
    }
    this.#submit(Buffer.concat(this.#pending), true)
    this.#pending = []
    this.#drain(0).then(() => done(), done)
  }

  async #take(chunk: Buffer): Promise<void> {
    let rest = chunk
    while (this.#index < this.#boundaries.length && this.#offset + rest.length >= this.#boundaries[this.#index]!) {
      const cut = this.#boundaries[this.#index]! - this.#offset
      this.#pending.push(rest.subarray(0, cut))
      this.#offset += cut
      rest = rest.subarray(cut)
      await this.#drain(this.#maxInFlight - 1)
      if (this.destroyed) return
      this.#submit(Buffer.concat(this.#pending), false)
      this.#pending = []
      this.#index += 1
    }
    if (rest.length > 0) this.#pending.push(rest)
    this.#offset += rest.length
    this.#pushFinished()
  }

  #submit(segment: Buffer, last: boolean): void {
    const job: Job = { result: inflateSegment(segment, last, this.#index), out: undefined }
    job.result.then((out) => (job.out = out), () => {})
    this.#jobs.push(job)
  }

  #pushFinished(): void {
    while (this.#jobs[0]?.out) this.push(this.#jobs.shift()!.out)
  }

  async #drain(limit: number): Promise<void> {
    this.#pushFinished()
    while (this.#jobs.length > limit) {
      const out = await this.#jobs[0]!.result
      this.#jobs.shift()
      this.push(out)
      this.#pushFinished()
    }
  }
}
