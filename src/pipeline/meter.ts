import { createHash, type Hash } from 'node:crypto'
import { Transform, Writable, type TransformCallback } from 'node:stream'

export const EDGE_BYTES = 64 * 1024

/** A statement's end in a mysqldump: `;` as a line's last byte; `;;` inside `DELIMITER ;;`. */
const STATEMENT_END = Buffer.from(';\n')
const ROUTINE_END = Buffer.from(';;\n')
/** The lines that open and close a block of routines, with the newline before them. */
const DELIMITER_ON = Buffer.from('\nDELIMITER ;;')
const DELIMITER_OFF = Buffer.from('\nDELIMITER ;\n')
const SEMICOLON = 0x3b
const NEWLINE = 0x0a
/** The previous chunk's last bytes kept: enough for a DELIMITER line cut by a chunk's end. */
const TAIL = 16

/**
 * The longest statement of a mysqldump whose bytes arrive in chunks, from the byte after the last
 * one's end through its `;`. A statement ends where a line ends in `;`: mysqldump escapes a
 * newline inside a value (`\n`), so only a statement's end puts `;` before one. MariaDB's
 * mysqldump writes each row of an extended INSERT on its own line and a statement up to its
 * `--net-buffer-length` (1 MiB), so the longest line is not the longest statement. Between the
 * dump's `DELIMITER ;;` and `DELIMITER ;` lines (routines, triggers, events) a statement ends at
 * `;;`: a routine's body has `;` at its lines' ends and may be many MiB long (a procedure of 200
 * `SET @a = '<90 KB>';` lines is one 18 MB statement). One search per statement (a few hundred per
 * 100 MB of dump), not one per line (half a million); a chunk's bytes are not copied.
 */
export class LongestStatement {
  #statement = 0
  #longest = 0
  #routine = false
  /** The last bytes before this chunk (a newline stands for the dump's start). */
  #tail: Buffer = Buffer.from('\n')

  add(chunk: Buffer): void {
    if (chunk.length === 0) return
    let from = 0
    while (from < chunk.length) from = this.#routine ? this.#inRoutines(chunk, from) : this.#plain(chunk, from)
    this.#tail = Buffer.from(
      chunk.length >= TAIL ? chunk.subarray(-TAIL) : Buffer.concat([this.#tail, chunk]).subarray(-TAIL),
    )
  }

  /** Statements ended by `;`; returns where the chunk's scan goes on (its end, or past `DELIMITER ;;`). */
  #plain(chunk: Buffer, from: number): number {
    // `;` ended the last chunk and this one starts the line after it.
    if (from === 0 && this.#tail[this.#tail.length - 1] === SEMICOLON && chunk[0] === NEWLINE) {
      this.#ended(this.#statement)
      from = 1
      if (this.#endsLine(chunk, 0, DELIMITER_ON)) return ((this.#routine = true), from)
    }
    for (let end = chunk.indexOf(STATEMENT_END, from); end !== -1; end = chunk.indexOf(STATEMENT_END, from)) {
      this.#ended(this.#statement + end + 1 - from)
      from = end + 2
      if (this.#endsLine(chunk, end + 1, DELIMITER_ON)) return ((this.#routine = true), from)
    }
    this.#statement += chunk.length - from
    return chunk.length
  }

  /** Statements ended by `;;`; returns where the scan goes on (the chunk's end, or past `DELIMITER ;`). */
  #inRoutines(chunk: Buffer, from: number): number {
    if (from === 0) {
      // A `;;` + newline, or a `DELIMITER ;` line, cut by the last chunk's end.
      const seam = Buffer.concat([this.#tail, chunk.subarray(0, DELIMITER_OFF.length)])
      const before = this.#tail.length
      const end = seam.indexOf(ROUTINE_END, Math.max(0, before - 2))
      if (end !== -1 && end < before) {
        from = end + ROUTINE_END.length - before
        this.#ended(this.#statement + from - 1)
      } else {
        const off = seam.indexOf(DELIMITER_OFF, Math.max(0, before - DELIMITER_OFF.length + 1))
        if (off !== -1 && off < before) return this.#leave(off + DELIMITER_OFF.length - before, 0)
      }
    }
    for (;;) {
      const end = chunk.indexOf(ROUTINE_END, from)
      const off = chunk.indexOf(DELIMITER_OFF, Math.max(0, from - 1))
      if (off !== -1 && (end === -1 || off < end)) return this.#leave(off + DELIMITER_OFF.length, from)
      if (end === -1) break
      this.#ended(this.#statement + end + 2 - from)
      from = end + ROUTINE_END.length
    }
    this.#statement += chunk.length - from
    return chunk.length
  }

  /** `DELIMITER ;` ends the block; the line counts toward the next statement, like a comment. */
  #leave(next: number, from: number): number {
    this.#routine = false
    this.#statement += next - from
    return next
  }

  /** Whether `line` (a newline, then the line) ends at `stop` in `chunk`, with the bytes before the chunk. */
  #endsLine(chunk: Buffer, stop: number, line: Buffer): boolean {
    const bytes =
      stop >= line.length
        ? chunk.subarray(stop - line.length, stop)
        : Buffer.concat([this.#tail, chunk.subarray(0, stop)]).subarray(-line.length)
    return bytes.equals(line)
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
