/**
 * The one place where a dump's text names its own database. Our dumps hold no CREATE DATABASE or
 * USE, and the server prints a view without its own database's name (`select t.id from t`) — except
 * for a view it cannot open, such as one whose DEFINER account no longer exists: that one is printed
 * as stored, `select \`shop\`.\`t\`.\`id\` AS \`id\` from \`t\``. Loaded under another name (`--into`,
 * a drill's scratch database, the staging database of an in-place restore) it then fails with
 * "Unknown column 'shop.t.id'". So in the view definition lines (`/*!50001 VIEW …`, one line each)
 * `` `shop`. `` becomes `` `<name loaded into>`. ``; no other line is touched (table data that
 * happens to contain the same text stays byte for byte).
 */
import { Transform, type TransformCallback } from 'node:stream'

const VIEW_LINE = Buffer.from('/*!50001 VIEW ')

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
 * lines. Other lines pass as they come, whatever their length (a 20 MB INSERT is never buffered):
 * only the first bytes of each line are held until it is known not to be a view line.
 */
export class ViewQualifierRewrite extends Transform {
  readonly #from: string
  readonly #to: string
  /** 'start': deciding the current line (its first bytes are in #held); 'view': collecting a view line; 'pass': the rest of another line. */
  #mode: 'start' | 'view' | 'pass' = 'start'
  #held: Buffer[] = []
  #heldSize = 0

  constructor(from: string, to: string) {
    super()
    this.#from = qualifier(from)
    this.#to = qualifier(to)
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    let pos = 0
    while (pos < chunk.length) {
      const nl = chunk.indexOf(10, pos)
      const lineEnd = nl === -1 ? chunk.length : nl + 1
      if (this.#mode === 'pass') {
        this.push(chunk.subarray(pos, lineEnd))
        if (nl !== -1) this.#mode = 'start'
        pos = lineEnd
        continue
      }
      if (this.#mode === 'view') {
        this.#hold(chunk.subarray(pos, lineEnd))
        if (nl !== -1) this.#flush()
        pos = lineEnd
        continue
      }
      // 'start': take bytes up to the prefix's length (or the line's end) and decide.
      const take = Math.min(lineEnd, pos + VIEW_LINE.length - this.#heldSize)
      this.#hold(chunk.subarray(pos, take))
      pos = take
      const held = Buffer.concat(this.#held)
      const ended = held.at(-1) === 10
      if (
        !VIEW_LINE.subarray(0, Math.min(held.length, VIEW_LINE.length)).equals(held.subarray(0, VIEW_LINE.length)) ||
        (ended && held.length < VIEW_LINE.length)
      ) {
        this.#release(held)
        this.#mode = ended ? 'start' : 'pass'
      } else if (held.length >= VIEW_LINE.length) {
        this.#mode = 'view'
        if (ended) this.#flush()
      }
    }
    done()
  }

  override _flush(done: TransformCallback): void {
    if (this.#mode === 'view') this.#flush()
    else if (this.#heldSize > 0) this.#release(Buffer.concat(this.#held))
    done()
  }

  #hold(part: Buffer): void {
    this.#held.push(Buffer.from(part))
    this.#heldSize += part.length
  }

  #release(bytes: Buffer): void {
    this.#held = []
    this.#heldSize = 0
    if (bytes.length > 0) this.push(bytes)
  }

  /** Writes the collected view line, rewritten. */
  #flush(): void {
    const line = Buffer.concat(this.#held).toString('latin1')
    this.#release(Buffer.from(line.split(this.#from).join(this.#to), 'latin1'))
    this.#mode = 'start'
  }
}
