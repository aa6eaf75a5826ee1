/**
 * The one place where a dump's text names its own database. Our dumps hold no CREATE DATABASE or
 * USE, but mysqldump still writes the name in two kinds of line, and loaded under another name
 * (`--into`, a drill's scratch database, the staging database of an in-place restore) both would
 * act on the original database. Only these lines are rewritten, `shop` to the name loaded into;
 * no other line is touched (table data that happens to contain the same text stays byte for byte):
 * - A view the server cannot open, such as one whose DEFINER account no longer exists, is printed
 *   as stored, `select \`shop\`.\`t\`.\`id\` AS \`id\` from \`t\``, and fails elsewhere with
 *   "Unknown column 'shop.t.id'". In its definition line (`/*!50001 VIEW …`, one line)
 *   `` `shop`. `` becomes `` `<name>`. ``.
 * - A routine, trigger or event created under another database collation than the database's
 *   current one is framed by `ALTER DATABASE \`shop\` CHARACTER SET latin1 COLLATE
 *   latin1_swedish_ci ;` and the line setting it back (`;;` inside a DELIMITER block): the server
 *   stores the database's collation with the object. Left as written, a load beside the target
 *   changes the live database's defaults (and leaves them changed when a later statement fails),
 *   a load into a new name fails when `shop` is not on the server, and the loaded object gets the
 *   wrong collation. Only mysqldump's exact line is rewritten.
 *
 * It also empties mysqldump's `LOCK TABLES … WRITE;` and `UNLOCK TABLES;` lines when asked
 * (`dropLocks`; the newline stays, so that the client's "at line N" is the dump's line N), as
 * every restore load asks (restore-driver.ts): the database loaded into is new
 * and private to the restore, so the locks guard nothing, and they break loads. LOCK TABLES locks
 * only the tables it names: a table whose DEFAULT reads a sequence (`DEFAULT NEXTVAL(s)`) then
 * fails its first INSERT with ERROR 1100 ("Table 's' was not locked with LOCK TABLES"). MariaDB
 * adds a table's foreign-key parents and children, but only those that exist at that moment: on
 * the parallel load (parallel-load.ts) a parent whose section locked its table on one client
 * before another client created its child fails the same way. The drill's re-dump (redump.ts)
 * keeps them: it is compared with the backup line by line.
 */
import { Transform, type TransformCallback } from 'node:stream'

const VIEW_LINE = Buffer.from('/*!50001 VIEW ')
const ALTER_LINE = Buffer.from('ALTER DATABASE `')
const LOCK_LINE = Buffer.from('LOCK TABLES `')
const UNLOCK_LINE = Buffer.from('UNLOCK TABLES;')

/** The line starts that decide a line: a view or ALTER DATABASE line is collected and rewritten, a lock line (when asked) dropped. */
type Start = { bytes: Buffer; mode: 'view' | 'alter' | 'drop' }

/** `` `name` `` as the server writes a name (backticks doubled), in the dump's bytes (UTF-8 read as latin1). */
function quoted(database: string): string {
  return Buffer.from(`\`${database.replace(/`/g, '``')}\``, 'utf8').toString('latin1')
}

/** Replaces the qualifier `from` with `to` in one piece of SQL text (a view definition). */
export function requalify(text: string, from: string, to: string): string {
  const a = `\`${from.replace(/`/g, '``')}\`.`
  return from === to ? text : text.split(a).join(`\`${to.replace(/`/g, '``')}\`.`)
}

/**
 * mysqldump's line around an object created under another database collation (switch_db_collation
 * and restore_db_collation in its source): `ALTER DATABASE <name> CHARACTER SET <cs> COLLATE
 * <collation> <delimiter>`, the delimiter `;` or, in a DELIMITER block, `;;`. Read as latin1.
 */
const ALTER_DATABASE = /^ALTER DATABASE (`(?:[^`]|``)+`)( CHARACTER SET \w+ COLLATE \w+ ;;?\n?)$/

/**
 * A pass-through for the dump stream that rewrites the database's name in view definition and
 * ALTER DATABASE lines (and empties the table lock lines with `dropLocks`). Other lines pass as they
 * come, whatever their length (a 20 MB INSERT is never buffered): only the first bytes of a line
 * cut by a chunk's end are held until it is known not to be such a line. One write per chunk: a
 * chunk without such a line goes on as it came, not line by line.
 */
export class DatabaseNameRewrite extends Transform {
  readonly #from: string
  readonly #to: string
  readonly #starts: Start[]
  /** The bytes that tell every start apart: the longest start's length. */
  readonly #decide: number
  /**
   * 'start': deciding the current line (its first bytes may be in #held); 'view', 'alter':
   * collecting such a line; 'drop': skipping a lock line but its newline; 'pass': the rest of
   * another line.
   */
  #mode: 'start' | 'view' | 'alter' | 'drop' | 'pass' = 'start'
  #held: Buffer[] = []
  #heldSize = 0

  constructor(from: string, to: string, options: { dropLocks?: boolean } = {}) {
    super()
    this.#from = quoted(from)
    this.#to = quoted(to)
    this.#starts = [
      { bytes: VIEW_LINE, mode: 'view' },
      { bytes: ALTER_LINE, mode: 'alter' },
    ]
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
      if (this.#mode === 'view' || this.#mode === 'alter') {
        this.#hold(chunk.subarray(pos, lineEnd))
        pos = lineEnd
        run = pos
        if (nl !== -1) out.push(this.#rewritten())
        continue
      }
      if (this.#mode === 'drop') {
        // A lock line: only its newline goes on (the next run starts with it), so that the client's
        // "at line N" is still the dump's line N; the next line starts undecided.
        if (nl !== -1) this.#mode = 'start'
        pos = lineEnd
        run = nl === -1 ? pos : nl
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
      if (found?.mode === 'view' || found?.mode === 'alter') {
        // A line to rewrite: what passed so far goes first; the line is collected from its start.
        endRun(pos)
        run = pos
        this.#mode = found.mode
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
      // Not a line to rewrite or drop: bytes held from the chunk before go out first, the rest passes.
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
    if (this.#mode === 'view' || this.#mode === 'alter') this.push(this.#rewritten())
    else if (this.#heldSize > 0) this.push(Buffer.concat(this.#held))
    done()
  }

  #hold(part: Buffer): void {
    if (part.length === 0) return
    this.#held.push(Buffer.from(part))
    this.#heldSize += part.length
  }

  /** The collected line, rewritten; the next line starts undecided. */
  #rewritten(): Buffer {
    const line = Buffer.concat(this.#held).toString('latin1')
    const mode = this.#mode
    this.#held = []
    this.#heldSize = 0
    this.#mode = 'start'
    if (mode === 'view') return Buffer.from(line.split(`${this.#from}.`).join(`${this.#to}.`), 'latin1')
    // Only the dumped database's own line: any other text starting the same way stays as it is.
    const alter = ALTER_DATABASE.exec(line)
    if (alter?.[1] !== this.#from) return Buffer.from(line, 'latin1')
    return Buffer.from(`ALTER DATABASE ${this.#to}${alter[2]}`, 'latin1')
  }
}
