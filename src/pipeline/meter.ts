import { createHash, type Hash } from 'node:crypto'
import { Transform, Writable, type TransformCallback } from 'node:stream'

export const EDGE_BYTES = 64 * 1024

/** A statement's end in a mysqldump: `;` as a line's last byte. */
const STATEMENT_END = Buffer.from(';\n')
const SEMICOLON = 0x3b
const NEWLINE = 0x0a

/**
 * The longest statement of a mysqldump whose bytes arrive in chunks, from the byte after the last
 * one's end through its `;`. A statement ends where a line ends in `;`: mysqldump escapes a
 * newline inside a value (`\n`), so only a statement's end puts `;` before one. MariaDB's
 * mysqldump writes each row of an extended INSERT on its own line and a statement up to its
 * `--net-buffer-length` (1 MiB), so the longest line is not the longest statement. A routine's
 * body (`DELIMITER ;;`) is cut at its inner `;` lines: a few KiB, it never decides. One search per
 * statement (a few hundred per 100 MB of dump), not one per line (half a million).
 */
export class LongestStatement {
  #statement = 0
  #longest = 0
  #lastByte = -1

  add(chunk: Buffer): void {
    if (chunk.length === 0) return
    let from = 0
    // `;` ended the last chunk and this one starts the line after it.
    if (this.#lastByte === SEMICOLON && chunk[0] === NEWLINE) {
      this.#ended(this.#statement)
      from = 1
    }
    for (let end = chunk.indexOf(STATEMENT_END, from); end !== -1; end = chunk.indexOf(STATEMENT_END, from)) {
      this.#ended(this.#statement + end + 1 - from)
      from = end + 2
    }
    this.#statement += chunk.length - from
    this.#lastByte = chunk[chunk.length - 1]!
  }

  #ended(bytes: number): void {
    if (bytes > this.#longest) this.#longest = bytes
    this.#statement = 0
  }

  /**
   * Bytes of the longest statement, with its `;` and the comments and blank lines before it,
   * without the newline after it; what follows the last `;` counts as a statement.
   */
  get bytes(): number {
    return Math.max(this.#longest, this.#statement)
  }
}

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
  readonly #statements: LongestStatement | undefined

  /** `measureStatements`: track the longest statement of a mysqldump (LongestStatement). */
  constructor(
    private readonly keepEdges = false,
    measureStatements = false,
  ) {
    super()
    this.#statements = measureStatements ? new LongestStatement() : undefined
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.#hash.update(chunk)
    this.#size += chunk.length
    if (this.keepEdges) this.#keep(chunk)
    this.#statements?.add(chunk)
    done(null, chunk)
  }

  /** Bytes of the longest statement seen (LongestStatement.bytes; 0 unless measuring). */
  get longestStatement(): number {
    return this.#statements?.bytes ?? 0
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
