/**
 * The one place where a dump's text names its own database. Our dumps hold no CREATE DATABASE or
 * USE, and the server prints a view without its own database's name (`select t.id from t`) — except
 * for a view it cannot open, such as one whose DEFINER account no longer exists: that one is printed
 * as stored, `select \`shop\`.\`t\`.\`id\` AS \`id\` from \`t\``. Loaded under another name (`--into`,
 * a drill's scratch database, the staging database of an in-place restore) it then fails with
 * "Unknown column 'shop.t.id'". So in the view definition lines (`/*!50001 VIEW …`, one line each)
 * `` `shop`. `` becomes `` `<name loaded into>`. ``; no other line is touched (table data that
 * happens to contain the same text stays byte for byte).
 *
 * On the parallel load's clients (parallel-load.ts) it also drops mysqldump's `LOCK TABLES … WRITE;`
 * and `UNLOCK TABLES;` lines. MariaDB adds a table's foreign-key parents and children to what
 * LOCK TABLES locks, but only those that exist at that moment: a parent whose section locked its
 * table on one client before another client created its child then fails its next INSERT with
 * ERROR 1100 ("Table 'child' was not locked with LOCK TABLES"). Loaded on one client in the
 * dump's order, the lines stay (it is then what `gunzip -c | mariadb` does).
 */
import { Transform, type TransformCallback } from 'node:stream'

const VIEW_LINE = Buffer.from('/*!50001 VIEW ')
const LOCK_LINE = Buffer.from('LOCK TABLES `')
const UNLOCK_LINE = Buffer.from('UNLOCK TABLES;')

/** The line starts that decide a line: a view line is rewritten, a lock line (when asked) dropped. */
type Start = { bytes: Buffer; mode: 'view' | 'drop' }

/** `` `name`. `` as the server writes a qualifier (backticks doubled), in the dump's bytes (UTF-8 read as latin1). */
function qualifier(database: string): string {
  return Buffer.from(`\`${database.replace(/`/g, '``')}\`.`, 'utf8').toString('latin1')
}

/** Replaces the qualifier `from` with `to` in one piece of SQL text (a view definition). */
export function requalify(text: string, from: string, to: string): string {
  const a = `\`${from.replace(/`/g, '``')}\`.`
  return from === to ? text : text.split(a).join(`\`${to.replace(/`/g, '``')}\`.`)
}

/**
 * A pass-through for the dump stream that rewrites the database qualifier in view definition
 * lines (and drops the table lock lines with `dropLocks`). Other lines pass as they come,
 * whatever their length (a 20 MB INSERT is never buffered): only the first bytes of a line cut by
 * a chunk's end are held until it is known not to be a view or lock line. One write per chunk: a
 * chunk without such a line goes on as it came, not line by line.
 */
export class ViewQualifierRewrite extends Transform {
  readonly #from: string
  readonly #to: string
  readonly #starts: Start[]
  /** The bytes that tell every start apart: the longest start's length. */
  readonly #decide: number
  /**
   * 'start': deciding the current line (its first bytes may be in #held); 'view': collecting a
   * view line; 'drop': skipping a lock line; 'pass': the rest of another line.
   */
  #mode: 'start' | 'view' | 'drop' | 'pass' = 'start'
  #held: Buffer[] = []
  #heldSize = 0

  constructor(from: string, to: string, options: { dropLocks?: boolean } = {}) {
    super()
    this.#from = qualifier(from)
    this.#to = qualifier(to)
    this.#starts = [{ bytes: VIEW_LINE, mode: 'view' }]
    if (options.dropLocks) {
      this.#starts.push({ bytes: LOCK_LINE, mode: 'drop' }, { bytes: UNLOCK_LINE, mode: 'drop' })
    }
    this.#decide = Math.max(...this.#starts.map((start) => start.bytes.length))
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    const out: Buffer[] = []
    /** chunk[run, pos) passes as it came: emitted as one piece, when something else must follow it. */
    let run = 0
    let pos = 0
    const endRun = (at: number) => {
      if (at > run) out.push(chunk.subarray(run, at))
    }
    while (pos < chunk.length) {
      const nl = chunk.indexOf(10, pos)
      const lineEnd = nl === -1 ? chunk.length : nl + 1
      if (this.#mode === 'pass') {
        if (nl !== -1) this.#mode = 'start'
        pos = lineEnd
        continue
      }
      if (this.#mode === 'view') {
        this.#hold(chunk.subarray(pos, lineEnd))
        pos = lineEnd
        run = pos
        if (nl !== -1) out.push(this.#rewritten())
        continue
      }
      if (this.#mode === 'drop') {
        // A lock line: none of it goes on; the next line starts undecided.
        if (nl !== -1) this.#mode = 'start'
        pos = lineEnd
        run = pos
        continue
      }
      // 'start': the line's first bytes (held from the chunk before, and these) decide.
      const take = Math.min(lineEnd, pos + this.#decide - this.#heldSize)
      const head =
        this.#heldSize > 0 ? Buffer.concat([...this.#held, chunk.subarray(pos, take)]) : chunk.subarray(pos, take)
      const ended = take === lineEnd && nl !== -1
      const found = this.#starts.find(
        ({ bytes }) => head.length >= bytes.length && head.subarray(0, bytes.length).equals(bytes),
      )
      const maybe =
        !found &&
        !ended &&
        this.#starts.some(({ bytes }) => head.length < bytes.length && bytes.subarray(0, head.length).equals(head))
      if (found?.mode === 'view') {
        // A view line: what passed so far goes first; the line is collected from its start.
        endRun(pos)
        run = pos
        this.#mode = 'view'
        continue
      }
      if (found?.mode === 'drop') {
        // A lock line: what passed so far goes first; its bytes held from the chunk before are dropped.
        endRun(pos)
        run = pos
        this.#held = []
        this.#heldSize = 0
        this.#mode = 'drop'
        continue
      }
      if (maybe) {
        // Cut by the chunk's end before it could be told: held for the next chunk.
        endRun(pos)
        this.#hold(chunk.subarray(pos, take))
        pos = take
        run = pos
        continue
      }
      // Not a view line: bytes held from the chunk before go out first, the rest passes.
      if (this.#heldSize > 0) {
        endRun(pos)
        out.push(...this.#held)
        this.#held = []
        this.#heldSize = 0
        run = pos
      }
      this.#mode = 'pass'
    }
    endRun(chunk.length)
    if (out.length === 1) this.push(out[0])
    else if (out.length > 1) this.push(Buffer.concat(out))
    done()
  }

  override _flush(done: TransformCallback): void {
    if (this.#mode === 'view') this.push(this.#rewritten())
    else if (this.#heldSize > 0) this.push(Buffer.concat(this.#held))
    done()
  }

  #hold(part: Buffer): void {
    if (part.length === 0) return
    this.#held.push(Buffer.from(part))
    this.#heldSize += part.length
  }

  /** The collected view line, rewritten; the next line starts undecided. */
  #rewritten(): Buffer {
    const line = Buffer.concat(this.#held).toString('latin1')
    this.#held = []
    this.#heldSize = 0
    this.#mode = 'start'
    return Buffer.from(line.split(this.#from).join(this.#to), 'latin1')
  }
}
