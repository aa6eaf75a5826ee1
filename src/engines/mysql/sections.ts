/**
 * Where a mysqldump's sections begin, found as the dump streams (engine.ts DumpSections): the gzip
 * compressor ends a member at each, so that a restore loads the tables over several connections
 * (parallel-load.ts) while `gunzip -c | mariadb` still reads the file as one dump.
 *
 * A mysqldump is, in this order: the head (`/*!40101 SET …*\/` session settings), one section per
 * table (`-- Table structure for table`: DROP, CREATE, the data, its triggers) and per view's
 * stand-in (`-- Temporary table structure for view`), then the tail: events,
 * routines, the final structure of views, the closing `SET …=@OLD_…`. The markers are whole lines
 * at a line start: mysqldump escapes newlines inside values, so no data line looks like one. Once
 * the tail began nothing more is cut (a routine's body may hold any text).
 */
import type { DumpPiece, DumpSectionKind, DumpSections } from '../engine.js'

/** Each marker with the newline before it: a match is a line start; the section starts after the newline. */
const MARKERS: { marker: Buffer; kind: DumpSectionKind }[] = [
  { marker: '\n-- Table structure for table ', kind: 'table' as const },
  // A view's stand-in (`CREATE VIEW v AS SELECT 1 AS …`) is a section of its own: one sorted
  // before every table would otherwise be in the head, which runs on every connection.
  { marker: '\n-- Temporary table structure for view ', kind: 'table' as const },
  ...[
    '\n-- Dumping events for database ',
    '\n-- Dumping routines for database ',
    '\n-- Final view structure for view ',
    '\n/*!40103 SET TIME_ZONE=@OLD_TIME_ZONE */;',
    '\n/*!40101 SET SQL_MODE=@OLD_SQL_MODE */;',
  ].map((m) => ({ marker: m, kind: 'tail' as const })),
].map(({ marker, kind }) => ({ marker: Buffer.from(marker), kind }))
/** What every marker starts with: searched for (memchr speed), the candidates then compared. */
const PREFIXES = [Buffer.from('\n-- '), Buffer.from('\n/*!')]
/** Bytes held back at a chunk's end: a marker starting there is judged with the next chunk. */
const HOLD = Math.max(...MARKERS.map((m) => m.marker.length))

export class MysqldumpSections implements DumpSections {
  /** The bytes held back from the chunks before, not yet searched. */
  #carry = Buffer.alloc(0)
  /** The section the carry begins with, when a cut fell exactly at its start. */
  #carryStarts: DumpSectionKind | undefined = 'head'
  #inTail = false

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
    const until = last || this.#inTail ? length : Math.max(0, length - HOLD)
    const cuts: { at: number; kind: DumpSectionKind }[] = []
    if (!this.#inTail) {
      // The carry with the start of the chunk (small), then the chunk itself.
      const seam = Buffer.concat([carry, chunk.subarray(0, HOLD)])
      find(seam, Math.min(carry.length, until), 0, cuts)
      find(chunk, until - carry.length, carry.length, cuts)
      cuts.sort((a, b) => a.at - b.at)
      const tail = cuts.findIndex((c) => c.kind === 'tail')
      if (tail !== -1) cuts.length = tail + 1
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

/** The markers in `text` whose newline is before `before`, as cuts after the newline (`base` + offset). */
function find(text: Buffer, before: number, base: number, cuts: { at: number; kind: DumpSectionKind }[]): void {
  for (const prefix of PREFIXES) {
    for (let i = text.indexOf(prefix); i !== -1 && i < before; i = text.indexOf(prefix, i + 1)) {
      const hit = MARKERS.find(
        ({ marker }) =>
          i + marker.length <= text.length && text.compare(marker, 0, marker.length, i, i + marker.length) === 0,
      )
      if (hit) cuts.push({ at: base + i + 1, kind: hit.kind })
    }
  }
}
