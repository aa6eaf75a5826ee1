/**
 * gzip on every core, in-process, pigz-style: one gzip stream (one header, one deflate stream, one
 * trailer) whose deflate blocks are compressed concurrently on libuv's thread pool.
 *
 * Why this shape (docs/PERFORMANCE.md has the measurements):
 * - Single-threaded deflate is the bottleneck of a backup by ~4×; the dump tool needs about one
 *   core, and a 2-core host has another one idle.
 * - Each block of raw input is compressed by a one-shot async `deflateRaw` (runs on the thread
 *   pool) primed with the previous block's last 32 KiB as its dictionary, so matches reach back
 *   across block boundaries and the output is within a fraction of a percent of one serial stream.
 * - Every block but the last ends with Z_SYNC_FLUSH (`finishFlush`): byte-aligned, no BFINAL, so
 *   the blocks concatenate into ONE valid deflate stream; the last one ends with Z_FINISH.
 *   Independent gzip members per block would also be valid, but restart the window each time and
 *   add 18 bytes per block; the dictionary costs nothing extra.
 * - CRC32 and ISIZE are computed here, in input order, with `zlib.crc32` (the gzip trailer).
 * - Bounded: at most `maxInFlight` blocks are being compressed; `_transform` does not return until
 *   a slot is free, so backpressure reaches the dump tool and memory stays flat.
 * - With `sections` (a MySQL dump, unencrypted) a member ends where each section of the dump
 *   begins: the last block gets BFINAL, the trailer follows, then a new header and a fresh window.
 *   `gunzip` reads the members as one stream; the manifest lists them (`members`) for a restore
 *   that loads several at once. ~600 bytes per 28 MB for three tables.
 * - Node's bundled zlib (Chromium's, SIMD) compresses at level 6 faster and ~2–3% smaller than GNU
 *   gzip -6 on dump text, so the file stays "a gzip -6 file" by any measure.
 */
import { createHash, type Hash } from 'node:crypto'
import { availableParallelism } from 'node:os'
import { Transform, type TransformCallback } from 'node:stream'
import { constants, crc32, deflateRaw, type ZlibOptions } from 'node:zlib'
import type { DumpPiece, DumpSectionKind, DumpSections } from '../engines/engine.js'
import { InOrder, type Job } from './in-order.js'

/**
 * 512 KiB: a new zlib stream (its state allocated, the dictionary hashed) per block costs ~5% of
 * the deflate CPU at 256 KiB and about half that here (docs/PERFORMANCE.md); and 4 blocks in
 * flight are ~25 ms of work per core, enough to keep the pool busy through a pause of the main
 * thread (a major GC) that stops reading the dump's pipe. Buffers: 5 × 512 KiB in, 4 outputs.
 */
export const GZIP_BLOCK_SIZE = 512 * 1024
/** deflate's window: what a block may refer back to, and so what the next block needs as dictionary. */
const WINDOW = 32 * 1024
/**
 * Two blocks per core keep every core busy while finished blocks wait to be written in order; at
 * most 4, libuv's default pool size: more would only queue inside the pool, in front of the file
 * reads and writes that share it. (Hosts with more than 4 cores need UV_THREADPOOL_SIZE raised
 * before start-up to use them; see docs/PERFORMANCE.md.)
 */
export const DEFAULT_IN_FLIGHT = Math.max(2, Math.min(2 * availableParallelism(), 4))

export interface ParallelGzipOptions {
  level: number
  blockSize?: number
  maxInFlight?: number
  /**
   * Where the dump's sections begin (engine.ts DumpSections): each section becomes its own gzip
   * member — a multi-member file, which gunzip reads as one stream — and `members` says where each
   * is, so that a restore can inflate and load several at once (engines/mysql/parallel-load.ts).
   */
  sections?: DumpSections | undefined
}

/** One gzip member of a sectioned file: where it is in the file, and the content it holds. */
export interface GzipMember {
  kind: DumpSectionKind
  /** Offset and size of the member (header to trailer) in the file. */
  offset: number
  size: number
  /** The decompressed bytes of the member. */
  raw: { size: number; sha256: string }
}

function deflateBlock(block: Buffer, options: ZlibOptions): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    deflateRaw(block, options, (error, out) => (error ? reject(error) : resolve(out))),
  )
}

/** The gzip header (RFC 1952): no name, no mtime (the manifest has the time), OS = Unix. */
function gzipHeader(level: number): Buffer {
  const xfl = level === 9 ? 2 : level === 1 ? 4 : 0
  return Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, xfl, 3])
}

export class ParallelGzip extends Transform {
  readonly #level: number
  readonly #blockSize: number
  readonly #maxInFlight: number
  /** The block being filled: a buffer of the pool, written in place (no concat per block). */
  #fill: Buffer | undefined
  #filled = 0
  /** Block buffers whose deflate has finished, ready to be filled again (at most maxInFlight + 1 exist). */
  #free: Buffer[] = []
  /** The last WINDOW bytes of the previous block; zlib copies a dictionary when the job is created. */
  readonly #dictionary = Buffer.allocUnsafeSlow(WINDOW)
  #hasDictionary = false
  /** Bytes of the last block's deflate output: the size of the next output buffer (#outputGuess). */
  #lastOut: number | undefined
  readonly #order = new InOrder((out) => this.#out(out))
  /** The member being written: its CRC32 and size (the gzip trailer), and its sha256 when sectioned. */
  #crc = 0
  #size = 0
  readonly #sections: DumpSections | undefined
  #hash: Hash | undefined
  #kind: DumpSectionKind = 'head'
  /** Bytes pushed so far: a member's offset in the file. */
  #written = 0
  #memberStart = 0
  readonly #members: GzipMember[] = []

  constructor(options: ParallelGzipOptions) {
    super()
    this.#level = options.level
    this.#blockSize = Math.max(options.blockSize ?? GZIP_BLOCK_SIZE, WINDOW)
    this.#maxInFlight = Math.max(1, options.maxInFlight ?? DEFAULT_IN_FLIGHT)
    this.#sections = options.sections
    if (this.#sections) this.#hash = createHash('sha256')
    this.#out(gzipHeader(this.#level))
  }

  /** The members of a sectioned file, once it ended; undefined when it is not sectioned. */
  get members(): readonly GzipMember[] | undefined {
    return this.#sections ? this.#members : undefined
  }

  #out(bytes: Buffer): void {
    this.#written += bytes.length
    this.push(bytes)
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.#take(chunk).then(() => done(), done)
  }

  override _flush(done: TransformCallback): void {
    this.#finish().then(() => done(), done)
  }

  async #take(chunk: Buffer): Promise<void> {
    if (!this.#sections) return this.#feed(chunk)
    await this.#feedPieces(this.#sections.pieces(chunk))
  }

  /** A sectioned dump's pieces: a member ends where a piece starts a section. */
  async #feedPieces(pieces: DumpPiece[]): Promise<void> {
    for (const piece of pieces) {
      if (piece.starts) await this.#startMember(piece.starts)
      await this.#feed(piece.bytes)
    }
  }

  /** Ends the member being written (unless it is empty) and starts one of `kind`. */
  async #startMember(kind: DumpSectionKind): Promise<void> {
    if (this.#size > 0) {
      // Wait for a free slot, as for a full block; then the member's last block (BFINAL), and
      // its trailer with the next member's header, in order behind it.
      await this.#order.drain(this.#maxInFlight - 1)
      if (this.destroyed) return
      this.#submit(this.#cut(), true)
      this.#hasDictionary = false // a member refers to nothing before it
      this.#endMember()
      const header = gzipHeader(this.#level)
      this.#order.add({
        result: Promise.resolve(header),
        out: header,
        pushed: () => (this.#memberStart = this.#written - header.length),
      })
    }
    this.#kind = kind
  }

  /**
   * The trailer of the member being written. Sectioned, it is queued behind the member's blocks and
   * the member recorded (its place in the file is set once the trailer left); else it is returned.
   */
  #endMember(): Buffer {
    const trailer = Buffer.alloc(8)
    trailer.writeUInt32LE(this.#crc >>> 0, 0)
    trailer.writeUInt32LE(this.#size % 2 ** 32, 4) // ISIZE is the size modulo 2^32
    if (this.#hash) {
      const member: GzipMember = {
        kind: this.#kind,
        offset: 0,
        size: 0,
        raw: { size: this.#size, sha256: this.#hash.digest('hex') },
      }
      this.#members.push(member)
      this.#hash = createHash('sha256')
      // Its offset is where the member before ended; its size is known once its trailer left.
      const finish = () => {
        member.offset = this.#memberStart
        member.size = this.#written - this.#memberStart
      }
      this.#order.add({ result: Promise.resolve(trailer), out: trailer, pushed: finish })
    }
    this.#crc = 0
    this.#size = 0
    return this.#hash ? Buffer.alloc(0) : trailer
  }

  async #feed(chunk: Buffer): Promise<void> {
    this.#crc = crc32(chunk, this.#crc)
    this.#size += chunk.length
    this.#hash?.update(chunk)
    let offset = 0
    while (offset < chunk.length) {
      this.#fill ??= this.#free.pop() ?? Buffer.allocUnsafeSlow(this.#blockSize)
      const n = chunk.copy(
        this.#fill,
        this.#filled,
        offset,
        Math.min(chunk.length, offset + this.#blockSize - this.#filled),
      )
      this.#filled += n
      offset += n
      if (this.#filled === this.#blockSize) {
        // Wait for a free slot before cutting the next block: a 100 MB chunk is not 400 jobs at once.
        await this.#order.drain(this.#maxInFlight - 1)
        if (this.destroyed) return // torn down while waiting: start no more work
        this.#submit(this.#cut(), false)
      }
    }
    this.#order.pushFinished()
  }

  async #finish(): Promise<void> {
    if (this.#sections) await this.#feedPieces(this.#sections.end())
    // The last block (possibly empty) carries BFINAL; an empty one is 2 bytes.
    this.#submit(this.#cut(), true)
    const trailer = this.#endMember()
    await this.#order.drain(0)
    if (trailer.length > 0) this.#out(trailer)
  }

  /** The filled part of the current block, and its buffer (to return to the pool once deflated). */
  #cut(): { block: Buffer; buffer: Buffer | undefined } {
    const buffer = this.#fill
    const block = buffer ? buffer.subarray(0, this.#filled) : Buffer.alloc(0)
    this.#fill = undefined
    this.#filled = 0
    return { block, buffer }
  }

  #submit({ block, buffer }: { block: Buffer; buffer: Buffer | undefined }, last: boolean): void {
    const options: ZlibOptions = {
      level: this.#level,
      finishFlush: last ? constants.Z_FINISH : constants.Z_SYNC_FLUSH,
      chunkSize: this.#outputGuess(block.length),
      ...(this.#hasDictionary ? { dictionary: this.#dictionary } : {}),
    }
    const result = deflateBlock(block, options)
    // zlib copied the dictionary when the job was made: the same buffer takes this block's window.
    this.#hasDictionary = block.length >= WINDOW
    if (this.#hasDictionary) block.copy(this.#dictionary, 0, block.length - WINDOW)
    const job: Job = { result, out: undefined }
    // Record the output as soon as it exists, so finished blocks can leave without awaiting; a
    // rejection is awaited by InOrder.drain, the no-op keeps it from counting as unhandled meanwhile.
    // Either way zlib is done with the input: its buffer takes the next blocks.
    const recycle = () => {
      if (buffer && !this.destroyed) this.#free.push(buffer)
    }
    job.result.then((out) => {
      job.out = out
      this.#lastOut = out.length
      recycle()
    }, recycle)
    this.#order.add(job)
  }

  /**
   * The output buffer of a job: the previous block's deflate size and a quarter more. One buffer
   * that fits the whole block's output means one trip to the pool, and every buffer is garbage once
   * written: sized for the worst case (incompressible, 1/8 larger than the block) it was 4× what a
   * dump's block needs, and V8 collects after so many bytes of buffers, so it cost collections.
   * A block that outgrows it takes a second trip and a concat, the rare case.
   */
  #outputGuess(length: number): number {
    const worst = length + (length >> 3) + 1024
    if (this.#lastOut === undefined) return Math.max(64 * 1024, worst)
    return Math.min(worst, Math.max(16 * 1024, this.#lastOut + (this.#lastOut >> 2) + 4096))
  }
}

/** The default gzip compressor: parallel deflate at `level` into one standard gzip stream. */
export function createParallelGzip(level: number, options: Omit<ParallelGzipOptions, 'level'> = {}): ParallelGzip {
  return new ParallelGzip({ level, ...options })
}
