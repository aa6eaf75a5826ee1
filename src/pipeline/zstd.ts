/**
 * zstd in-process, on every core: the input cut into 1 MiB blocks, each compressed by Node's zlib
 * (bundled libzstd) on libuv's thread pool into an independent zstd frame, the frames written in
 * input order. The zstd format allows concatenated frames, and `zstd -d` / `zstd -t` read such a
 * file as one stream (RFC 8878 §3.1), so the file is an ordinary `.zst` in an incident.
 *
 * Why this shape (docs/PERFORMANCE.md "zstd" has the measurements):
 * - The `zstd` binary as a stage meant every byte crossed the main thread twice more (our writes to
 *   its stdin, its stdout to our reads), and a second process beside the dump tool and the server.
 *   In-process, the main thread only hands blocks to the pool and takes frames back.
 * - 1 MiB frames: on dump text and hex the file is within ±0.5% of `zstd -3 -T2`'s single frame
 *   (the one-shot compressor sizes its window to the block), and blocks spread evenly over cores.
 * - Every frame carries its content size and a checksum (`zstd`'s own default, `-C`): a damaged
 *   frame fails its read with "checksum wrong", not only the manifest's sha256 comparison.
 * - Bounded like gzip-parallel.ts: at most `maxInFlight` blocks are being compressed, and
 *   `_transform` does not return until a slot is free, so backpressure reaches the dump tool.
 */
import { availableParallelism } from 'node:os'
import { Duplex, Transform, type TransformCallback } from 'node:stream'
import { constants, createZstdDecompress, zstdCompress, type ZstdDecompress, type ZstdOptions } from 'node:zlib'

/** The raw bytes per frame. */
export const ZSTD_FRAME_SIZE = 1 << 20
/** As gzip-parallel.ts: two blocks per core, at most libuv's default pool of 4. */
const DEFAULT_IN_FLIGHT = Math.max(2, Math.min(2 * availableParallelism(), 4))
/** Decompressed output per trip to the thread pool (as gzip's inflate, compression.ts). */
const DECOMPRESS_CHUNK = 1 << 20

/** What writes our `.zst` files, for the manifest: the library, and that the file is a series of frames. */
export const ZSTD_ENCODER = `zstd ${process.versions.zstd ?? '?'} (Node ${process.versions.node} zlib), independent ${ZSTD_FRAME_SIZE >> 20} MiB frames`

export interface ParallelZstdOptions {
  level: number
  frameSize?: number
  maxInFlight?: number
}

interface Job {
  /** Settles with the block's frame; never rejects unhandled (see #submit). */
  result: Promise<Buffer>
  out: Buffer | undefined
}

function compressFrame(block: Buffer, options: ZstdOptions): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    zstdCompress(block, options, (error, out) => (error ? reject(error) : resolve(out))),
  )
}

export class ParallelZstd extends Transform {
  readonly #options: ZstdOptions
  readonly #frameSize: number
  readonly #maxInFlight: number
  #pending: Buffer[] = []
  #pendingSize = 0
  #jobs: Job[] = []
  #frames = 0

  constructor(options: ParallelZstdOptions) {
    super()
    this.#frameSize = Math.max(options.frameSize ?? ZSTD_FRAME_SIZE, 1024)
    this.#maxInFlight = Math.max(1, options.maxInFlight ?? DEFAULT_IN_FLIGHT)
    this.#options = {
      params: {
        [constants.ZSTD_c_compressionLevel]: options.level,
        [constants.ZSTD_c_checksumFlag]: 1,
        [constants.ZSTD_c_contentSizeFlag]: 1,
      },
      // One output buffer that fits the whole frame (zstd's bound: n + n/256 + a little): one trip each.
      chunkSize: this.#frameSize + (this.#frameSize >> 7) + 1024,
    }
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.#take(chunk).then(() => done(), done)
  }

  override _flush(done: TransformCallback): void {
    this.#finish().then(() => done(), done)
  }

  async #take(chunk: Buffer): Promise<void> {
    let offset = 0
    while (offset < chunk.length) {
      const n = Math.min(this.#frameSize - this.#pendingSize, chunk.length - offset)
      this.#pending.push(offset === 0 && n === chunk.length ? chunk : chunk.subarray(offset, offset + n))
      this.#pendingSize += n
      offset += n
      if (this.#pendingSize === this.#frameSize) {
        // Wait for a free slot before cutting the next block: a 100 MB chunk is not 100 jobs at once.
        await this.#drain(this.#maxInFlight - 1)
        if (this.destroyed) return // torn down while waiting: start no more work
        this.#submit(this.#cut())
      }
    }
    this.#pushFinished()
  }

  async #finish(): Promise<void> {
    // An empty input still gets one (empty) frame: a zero-byte file is not a valid `.zst`.
    if (this.#pendingSize > 0 || this.#frames === 0) this.#submit(this.#cut())
    await this.#drain(0)
  }

  #cut(): Buffer {
    const block = this.#pending.length === 1 ? this.#pending[0]! : Buffer.concat(this.#pending, this.#pendingSize)
    this.#pending = []
    this.#pendingSize = 0
    return block
  }

  #submit(block: Buffer): void {
    this.#frames++
    const job: Job = { result: compressFrame(block, this.#options), out: undefined }
    // As gzip-parallel.ts: finished frames leave without awaiting; a rejection is awaited by #drain.
    job.result.then(
      (out) => (job.out = out),
      () => {},
    )
    this.#jobs.push(job)
  }

  /** Pushes finished frames from the front, in order, without waiting. */
  #pushFinished(): void {
    while (this.#jobs[0]?.out) this.push(this.#jobs.shift()!.out)
  }

  /** Waits, in order, until at most `limit` blocks are still in flight. */
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

/**
 * zstd at `level` (1–19, as `zstd -<level>`), written as independent frames compressed on every
 * core. Needs no `zstd` binary: only reading a file by hand in an incident does.
 */
export function zstdCompressor(level: number, options: Omit<ParallelZstdOptions, 'level'> = {}): ParallelZstd {
  return new ParallelZstd({ level, ...options })
}

/**
 * Decompresses every frame of a `.zst` to the end, in-process (zlib's decoder on the thread pool).
 * Fails on a truncated or damaged frame like `zstd -d`; and, unlike zlib's decoder alone, also on
 * bytes that are not a frame where the next frame should start: zlib stops there quietly and
 * ends its output as if that were all (as gunzip does with trailing garbage), `zstd -d` fails.
 * So the decoder is wrapped: its input is counted, and its end must come after ours, with every
 * byte given to it read as frames.
 */
export class ZstdReader extends Duplex {
  readonly #decoder: ZstdDecompress
  #given = 0
  #ended = false

  constructor() {
    super({ readableHighWaterMark: DECOMPRESS_CHUNK, writableHighWaterMark: DECOMPRESS_CHUNK })
    const decoder = createZstdDecompress({ chunkSize: DECOMPRESS_CHUNK })
    this.#decoder = decoder
    decoder.on('error', (error) => this.destroy(error))
    decoder.on('data', (chunk: Buffer) => {
      if (!this.push(chunk)) decoder.pause()
    })
    decoder.on('end', () => {
      const rest = this.#given - decoder.bytesWritten
      if (this.#ended && rest === 0) this.push(null)
      else
        this.destroy(
          new Error(`bytes after the last complete frame at offset ${decoder.bytesWritten} are not zstd data`),
        )
    })
  }

  override _read(): void {
    this.#decoder.resume()
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, done: (error?: Error | null) => void): void {
    this.#given += chunk.length
    if (this.#decoder.write(chunk)) done()
    else this.#decoder.once('drain', () => done())
  }

  override _final(done: (error?: Error | null) => void): void {
    this.#ended = true
    this.#decoder.end(() => done())
  }

  override _destroy(error: Error | null, done: (error?: Error | null) => void): void {
    this.#decoder.destroy()
    done(error)
  }
}

export function zstdDecompressor(): Duplex {
  return new ZstdReader()
}
