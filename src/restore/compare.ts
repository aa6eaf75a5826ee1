/**
 * Comparing two SQL dumps of what should be the same database — the backup, and a fresh dump of a
 * scratch database it was restored into — line by line, as streams (memory stays flat whatever the
 * size). Lines that differ between two dumps of equal content are skipped on both sides: comments
 * (they carry tool and server versions, host, dump date and the database name), blank lines, and
 * PostgreSQL's per-dump random `\restrict` keys. Inside a COPY block every line is data, even one
 * that starts with `--`.
 */
import type { Readable } from 'node:stream'

export type Difference = { line: number; expected: string; actual: string }

export interface Comparison {
  /** Meaningful lines compared. */
  lines: number
  /** The first difference; `line` counts the backup's lines (comments included), for `sed -n Np`. */
  difference?: Difference
}

export class DumpLineFilter {
  #inCopy = false

  /** Whether the line takes part in the comparison. */
  accept(line: string): boolean {
    if (this.#inCopy) {
      if (line === '\\.') this.#inCopy = false
      return true
    }
    if (/^COPY .* FROM stdin;$/.test(line)) this.#inCopy = true
    const t = line.trim()
    return !(t === '' || t.startsWith('--') || /^\\(un)?restrict /.test(t))
  }
}

interface NumberedLine {
  n: number
  text: string
}

/**
 * The lines of a stream, numbered. Decoded as latin1: every byte maps to one character, so the
 * comparison is byte-exact and a multi-byte character split between chunks cannot be mangled.
 */
export async function* numberedLines(stream: Readable): AsyncGenerator<NumberedLine> {
  let rest = ''
  let n = 0
  for await (const chunk of stream) {
    const text = rest + (chunk as Buffer).toString('latin1')
    let start = 0
    for (let i = text.indexOf('\n'); i >= 0; i = text.indexOf('\n', start)) {
      yield { n: ++n, text: text.slice(start, i) }
      start = i + 1
    }
    rest = text.slice(start)
  }
  if (rest !== '') yield { n: ++n, text: rest }
}

async function* meaningful(stream: Readable): AsyncGenerator<NumberedLine> {
  const filter = new DumpLineFilter()
  for await (const line of numberedLines(stream)) if (filter.accept(line.text)) yield line
}

const SHOWN = 300

/** Reads both to the first difference (or the end of both). The caller destroys the streams. */
export async function compareDumps(expected: Readable, actual: Readable): Promise<Comparison> {
  const a = meaningful(expected)
  const b = meaningful(actual)
  let lines = 0
  for (;;) {
    const [x, y] = await Promise.all([a.next(), b.next()])
    if (x.done && y.done) return { lines }
    const ex = x.done ? undefined : x.value
    const ac = y.done ? undefined : y.value
    if (ex?.text !== ac?.text) {
      return {
        lines,
        difference: {
          line: ex?.n ?? -1,
          expected: ex === undefined ? '(end of the backup)' : show(ex.text),
          actual: ac === undefined ? '(end of the re-dump)' : show(ac.text),
        },
      }
    }
    lines += 1
  }
}

function show(text: string): string {
  const utf8 = Buffer.from(text, 'latin1').toString('utf8')
  return utf8.length > SHOWN ? `${utf8.slice(0, SHOWN)}…` : utf8
}
