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
 *   (measured: 30.38 against 30.40 MB text, 48.19 against 48.34 MB hex), and blocks spread evenly
 *   over the cores.
 * - Every frame carries a checksum (`zstd`'s own default, `-C`): a damaged frame fails its read
 *   with "checksum wrong", not only the manifest's sha256 comparison.
 * - Bounded like gzip-parallel.ts: at most `maxInFlight` blocks are being compressed, and
 *   `_transform` does not return until a slot is free, so backpressure reaches the dump tool.
 */
import { availableParallelism } from 'node:os'
import { Duplex, Transform, type TransformCallback } from 'node:stream'
import {
  constants,
  createZstdCompress,
  createZstdDecompress,
  type ZstdCompress,
  type ZstdDecompress,
  type ZstdOptions,
} from 'node:zlib'
import { InOrder, type Job } from './in-order.js'

/** The raw bytes per frame. */
export const ZSTD_FRAME_SIZE = 1 << 20
/** As gzip-parallel.ts: two blocks per core, at most libuv's default pool of 4. */
const DEFAULT_IN_FLIGHT = Math.max(2, Math.min(2 * availableParallelism(), 4))
/** 1 MiB, the frame: see the compressor's options. */
const WINDOW_LOG = 20
/**
 * zlib's output buffer: room for one frame at its worst (ZSTD_compressBound: the frame plus 1/256
 * and a header). libzstd compresses a frame straight from our block into the caller's buffer, in
 * one pass, when that buffer can hold the worst case; with less room it stages the block in the
 * context's own buffer first. Node starts a new buffer only once one is full, so a frame of dump
 * (0.25–0.45 MiB) takes one pass at the start of a buffer, and mostly one trip and one piece after
 * it; a larger buffer, which would make every frame one pass, kept more memory alive between
 * collections (+8 MB peak RSS at 100 MB, +20 MB at 300 MB) for ~1% of the instructions
 * (docs/PERFORMANCE.md, "The zstd backup's CPU, again").
 */
const outputChunk = (frameSize: number) => frameSize + (frameSize >> 8) + 1024
/** Decompressed output per trip to the thread pool (as gzip's inflate, compression.ts). */
const DECOMPRESS_CHUNK = 1 << 20

/** What writes our `.zst` files, for the manifest: the library, and that the file is a series of frames. */
export const ZSTD_ENCODER = `zstd ${process.versions.zstd ?? '?'} (Node ${process.versions.node} zlib), independent ${ZSTD_FRAME_SIZE >> 20} MiB frames`

export interface ParallelZstdOptions {
  level: number
  frameSize?: number
  maxInFlight?: number
}

/**
 * One compressor of the pool: a zlib zstd stream kept for the whole backup, each frame one write
 * that ends it (the stream's flush mode is ZSTD_e_end: libzstd then knows the frame's size before
 * it starts and writes it into the header, and the frame comes back from one trip to the pool, not
 * a write's and then a flush's). Kept, not made per
 * frame: a one-shot `zstdCompress` per MiB allocated a new context and a 1 MiB output buffer each
 * time, which cost ~40% more CPU and tens of MB of peak RSS (docs/PERFORMANCE.md).
 */
class FrameCompressor {
  readonly stream: ZstdCompress
  #parts: Buffer[] = []
  #failed: ((error: Error) => void) | undefined

  constructor(options: ZstdOptions) {
    this.stream = createZstdCompress({ ...options, flush: constants.ZSTD_e_end })
    this.stream.on('data', (chunk: Buffer) => this.#parts.push(chunk))
    this.stream.on('error', (error) => this.#failed?.(error))
  }

  /** The frame of `block`; the block may be reused once this settles. */
  frame(block: Buffer): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      this.#failed = reject
      this.stream.write(block, (error?: Error | null) => {
        this.#failed = undefined
        if (error) {
          reject(error)
          return
        }
        // The frame's bytes reached 'data' before this callback (a flowing stream hands each
        // chunk on as zlib produces it). Should any still wait in the buffer, they would end up
        // in a later frame of another compressor: fail rather than write a file out of order.
        if (this.stream.readableLength > 0) {
          reject(new Error('zstd: a frame was not complete when its write ended'))
          return
        }
        const parts = this.#parts
        this.#parts = []
        // A frame always has a header: nothing at all means the stream did not compress this block.
        if (parts.length === 0) {
          reject(new Error('zstd: a write ended without a frame'))
          return
        }
        resolve(parts.length === 1 ? parts[0]! : Buffer.concat(parts))
      })
    })
  }
}

export class ParallelZstd extends Transform {
  readonly #frameSize: number
  readonly #compressors: FrameCompressor[]
  /** The block being filled, and blocks whose frames are done, to fill again. */
  #block: Buffer
  #fill = 0
  #free: Buffer[] = []
  readonly #order = new InOrder((out) => this.push(out))
  #frames = 0

  constructor(options: ParallelZstdOptions) {
    super()
    this.#frameSize = Math.max(options.frameSize ?? ZSTD_FRAME_SIZE, 1024)
    const inFlight = Math.max(1, options.maxInFlight ?? DEFAULT_IN_FLIGHT)
    const zstdOptions: ZstdOptions = {
      params: {
        [constants.ZSTD_c_compressionLevel]: options.level,
        [constants.ZSTD_c_checksumFlag]: 1,
        // No frame reaches back further than its own start: a window beyond the frame (level 3's
        // default is 2 MiB, 19's 8 MiB) only costs memory, here and in every reader's decoder.
        ...(options.level >= 3 ? { [constants.ZSTD_c_windowLog]: WINDOW_LOG } : {}),
      },
      chunkSize: outputChunk(this.#frameSize),
    }
    this.#compressors = Array.from({ length: inFlight }, () => new FrameCompressor(zstdOptions))
    this.#block = Buffer.allocUnsafe(this.#frameSize)
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.#take(chunk).then(() => done(), done)
  }

  override _flush(done: TransformCallback): void {
    this.#finish().then(() => done(), done)
  }

  override _destroy(error: Error | null, done: (error?: Error | null) => void): void {
    for (const c of this.#compressors) c.stream.destroy()
    done(error)
  }

  async #take(chunk: Buffer): Promise<void> {
    let offset = 0
    while (offset < chunk.length) {
      const n = Math.min(this.#frameSize - this.#fill, chunk.length - offset)
      chunk.copy(this.#block, this.#fill, offset, offset + n)
      this.#fill += n
      offset += n
      if (this.#fill === this.#frameSize) {
        // Wait for a free compressor before cutting the next block: a 100 MB chunk is not 100 jobs at once.
        await this.#order.drain(this.#compressors.length - 1)
        if (this.destroyed) return // torn down while waiting: start no more work
        this.#submit()
      }
    }
    this.#order.pushFinished()
  }

  async #finish(): Promise<void> {
    // An empty input still gets one (empty) frame: a zero-byte file is not a valid `.zst`.
    if (this.#fill > 0 || this.#frames === 0) {
      await this.#order.drain(this.#compressors.length - 1)
      this.#submit()
    }
    await this.#order.drain(0)
    for (const c of this.#compressors) c.stream.destroy()
  }

  #submit(): void {
    const block = this.#block
    const compressor = this.#compressors[this.#frames++ % this.#compressors.length]!
    const job: Job = { result: compressor.frame(block.subarray(0, this.#fill)), out: undefined }
    this.#block = this.#free.pop() ?? Buffer.allocUnsafe(this.#frameSize)
    this.#fill = 0
    // As gzip-parallel.ts: finished frames leave without awaiting; a rejection is awaited by InOrder.drain.
    job.result.then(
      (out) => {
        job.out = out
        this.#free.push(block)
      },
      () => {},
    )
    this.#order.add(job)
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

  /** `chunkSize`: the output per trip to the thread pool. */
  constructor(chunkSize = DECOMPRESS_CHUNK) {
    super({ readableHighWaterMark: chunkSize, writableHighWaterMark: chunkSize })
    const decoder = createZstdDecompress({ chunkSize })
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

export function zstdDecompressor(chunkSize?: number): Duplex {
  return new ZstdReader(chunkSize)
}
