import { createHash, type Hash } from 'node:crypto'
import { Transform, Writable, type TransformCallback } from 'node:stream'

export const EDGE_BYTES = 64 * 1024

export interface Measurement {
  size: number
  sha256: string
}

/**
 * A pass-through that counts bytes and hashes them (sha256), and optionally keeps the first and
 * last 64 KiB so the engine can check the dump's start and its end-of-dump marker without the
 * dump ever being held in memory.
 */
export class Meter extends Transform {
  #hash: Hash = createHash('sha256')
  #size = 0
  #head: Buffer[] = []
  #headSize = 0
  #tail: Buffer[] = []
  #tailSize = 0
  #digest: string | undefined
  #line = 0
  #longestLine = 0

  /** `measureLines`: track the longest line (memchr-speed `indexOf`; mysqldump writes a statement a line). */
  constructor(
    private readonly keepEdges = false,
    private readonly measureLines = false,
  ) {
    super()
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.#hash.update(chunk)
    this.#size += chunk.length
    if (this.keepEdges) this.#keep(chunk)
    if (this.measureLines) this.#measure(chunk)
    done(null, chunk)
  }

  #measure(chunk: Buffer): void {
    let from = 0
    for (let nl = chunk.indexOf(10, from); nl !== -1; nl = chunk.indexOf(10, from)) {
      this.#longestLine = Math.max(this.#longestLine, this.#line + nl - from)
      this.#line = 0
      from = nl + 1
    }
    this.#line += chunk.length - from
  }

  /** Bytes of the longest line seen, without its newline (0 unless measuring lines). */
  get longestLine(): number {
    return Math.max(this.#longestLine, this.#line)
  }

  #keep(chunk: Buffer): void {
    if (this.#headSize < EDGE_BYTES) {
      const part = chunk.subarray(0, EDGE_BYTES - this.#headSize)
      this.#head.push(Buffer.from(part))
      this.#headSize += part.length
    }
    this.#tail.push(chunk)
    this.#tailSize += chunk.length
    // Drop whole chunks from the front while the rest still covers the last EDGE_BYTES.
    while (this.#tail.length > 1 && this.#tailSize - this.#tail[0]!.length >= EDGE_BYTES) {
      this.#tailSize -= this.#tail.shift()!.length
    }
  }

  get size(): number {
    return this.#size
  }

  /** The final measurement; call after the stream ended. */
  result(): Measurement {
    this.#digest ??= this.#hash.digest('hex')
    return { size: this.#size, sha256: this.#digest }
  }

  head(): Buffer {
    return Buffer.concat(this.#head)
  }

  tail(): Buffer {
    const all = Buffer.concat(this.#tail)
    return all.subarray(Math.max(0, all.length - EDGE_BYTES))
  }
}

/** Discards bytes as fast as they come: for reads that only need their meters. */
export function discard(): Writable {
  return new Writable({ write: (_chunk, _enc, done) => done(), highWaterMark: 1 << 20 })
}
