/**
 * Where a mysqldump's sections begin, found as the dump streams (engine.ts DumpSections): the gzip
 * compressor ends a member at each, so that a restore loads the tables over several connections
 * (parallel-load.ts) while `gunzip -c | mariadb` still reads the file as one dump.
 *
 * A mysqldump is, in this order: the head (`/*!40101 SET …*\/` session settings), one section per
 * table (`-- Table structure for table`: DROP, CREATE, the data, its triggers) and per view's
 * stand-in (`-- Temporary table structure for view`), then the tail: events,
 * routines, the final structure of views, the closing `SET …=@OLD_…`. The markers are mysqldump's
 * exact lines (FRAME), outside a DELIMITER block: mysqldump escapes newlines inside values, so no
 * data line looks like one, and a trigger's body is inside `DELIMITER ;;`. Once the tail began
 * nothing more is cut (a routine's body may hold any text).
 */
import type { DumpPiece, DumpSectionKind, DumpSections } from '../engine.js'

/**
 * mysqldump's own frame of a section's title: a blank line, `--`, the title, `--`. The cut is at
 * the title's line. Only these exact lines cut, and only outside a `DELIMITER ;;` block: a
 * trigger's body (written between `DELIMITER ;;` and `DELIMITER ;`) keeps its raw lines and
 * comments, and may hold any of them.
 */
const FRAME = Buffer.from('\n\n--\n-- ')
const TITLES: { title: RegExp; kind: DumpSectionKind }[] = [
  { title: /^-- Table structure for table `(?:[^`]|``)+`$/, kind: 'table' },
  // A view's stand-in (`CREATE VIEW v AS SELECT 1 AS …`) is a section of its own: one sorted
  // before every table would otherwise be in the head, which runs on every connection.
  { title: /^-- Temporary table structure for view `(?:[^`]|``)+`$/, kind: 'table' },
  { title: /^-- Dumping (?:events|routines) for database '.*'$/, kind: 'tail' },
  { title: /^-- Final view structure for view `(?:[^`]|``)+`$/, kind: 'tail' },
]
/** The closing settings (a dump without events, routines or views): whole lines, outside a DELIMITER block. */
const CLOSING = Buffer.from('\n/*!40')
const CLOSINGS = ['/*!40103 SET TIME_ZONE=@OLD_TIME_ZONE */;', '/*!40101 SET SQL_MODE=@OLD_SQL_MODE */;']
/** `DELIMITER x` at a line start: the client's statement end until the next one. */
const DELIMITER = Buffer.from('\nDELIMITER ')
/** Bytes held back at a chunk's end: a candidate starting there is judged with the next chunk (a title line and the `--` after it; a name is at most 64 characters). */
const HOLD = 1024

export class MysqldumpSections implements DumpSections {
  /** The bytes held back from the chunks before, not yet searched. */
  #carry = Buffer.alloc(0)
  /** The section the carry begins with, when a cut fell exactly at its start. */
  #carryStarts: DumpSectionKind | undefined = 'head'
  #inTail = false
  /** The client's statement delimiter at the carry's start: cuts only while it is `;`. */
  #delimiter = ';'

  pieces(chunk: Buffer): DumpPiece[] {
    if (this.#inTail && this.#carry.length === 0) return [{ bytes: chunk }]
    return this.#split(chunk, false)
  }

  end(): DumpPiece[] {
    return this.#split(Buffer.alloc(0), true)
  }

  /** The carry and `chunk` as one text, cut at the markers that start before the held-back end. */
  #split(chunk: Buffer, last: boolean): DumpPiece[] {
    const carry = this.#carry
    const length = carry.length + chunk.length
    let until = last || this.#inTail ? length : Math.max(0, length - HOLD)
    const cuts: { at: number; kind: DumpSectionKind }[] = []
    if (!this.#inTail) {
      // The carry with the start of the chunk (small), then the chunk itself.
      const seam = Buffer.concat([carry, chunk.subarray(0, HOLD)])
      const found: Candidate[] = []
      find(seam, Math.min(carry.length, until), 0, last, found)
      find(chunk, until - carry.length, carry.length, last, found)
      found.sort((a, b) => a.at - b.at)
      // In the dump's order: a DELIMITER line changes what follows.
      for (const c of found) {
        if (c.delimiter !== undefined) this.#delimiter = c.delimiter
        else if (this.#delimiter === ';' && c.kind) cuts.push({ at: c.at, kind: c.kind })
      }
      const tail = cuts.findIndex((c) => c.kind === 'tail')
      if (tail !== -1) cuts.length = tail + 1
      // A title's line starts 5 bytes after the frame's first newline, which was before `until`:
      // the rest of the frame (no candidate starts in it) goes with this call.
      until = Math.max(until, cuts.at(-1)?.at ?? 0)
    }
    const pieces: DumpPiece[] = []
    let starts = this.#carryStarts
    this.#carryStarts = undefined
    let from = 0
    const emit = (to: number) => {
      // A piece never spans the carry and the chunk: no copy of the chunk.
      for (const [a, b, base, text] of [
        [from, Math.min(to, carry.length), 0, carry],
        [Math.max(from, carry.length), to, carry.length, chunk],
      ] as const) {
        if (b > a) {
          pieces.push({ bytes: text.subarray(a - base, b - base), ...(starts ? { starts } : {}) })
          starts = undefined
        }
      }
      from = to
    }
    for (const cut of cuts) {
      emit(cut.at)
      if (cut.kind === 'tail') this.#inTail = true
      starts = cut.kind
    }
    emit(until)
    this.#carryStarts = starts
    this.#carry = Buffer.from(
      until < carry.length ? Buffer.concat([carry.subarray(until), chunk]) : chunk.subarray(until - carry.length),
    )
    return pieces
  }
}

interface Candidate {
  /** Where the section starts (a title's line), or where the DELIMITER line is. */
  at: number
  kind?: DumpSectionKind
  /** A `DELIMITER x` line: the new delimiter. */
  delimiter?: string
}

/**
 * The titles, closing settings and DELIMITER lines in `text` whose leading newline is before
 * `before`, at `base` + offset. A line is judged only when its end (and the `--` after a title)
 * is in `text`, or `last` (the dump ends there).
 */
function find(text: Buffer, before: number, base: number, last: boolean, found: Candidate[]): void {
  const line = (from: number): string | undefined => {
    const end = text.indexOf(10, from)
    if (end === -1) return last ? text.toString('latin1', from) : undefined
    return text.toString('latin1', from, end)
  }
  for (let i = text.indexOf(FRAME); i !== -1 && i < before; i = text.indexOf(FRAME, i + 1)) {
    const title = line(i + 5)
    if (title === undefined) continue
    const after = i + 5 + title.length + 1
    if (text.toString('latin1', after, after + 3) !== '--\n') continue
    const hit = TITLES.find((t) => t.title.test(title))
    if (hit) found.push({ at: base + i + 5, kind: hit.kind })
  }
  for (let i = text.indexOf(CLOSING); i !== -1 && i < before; i = text.indexOf(CLOSING, i + 1)) {
    const closing = line(i + 1)
    if (closing !== undefined && CLOSINGS.includes(closing)) found.push({ at: base + i + 1, kind: 'tail' })
  }
  for (let i = text.indexOf(DELIMITER); i !== -1 && i < before; i = text.indexOf(DELIMITER, i + 1)) {
    const command = line(i + 1)
    const delimiter = command?.slice('DELIMITER '.length).trim()
    if (delimiter) found.push({ at: base + i + 1, delimiter })
  }
}
