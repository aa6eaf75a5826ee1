/**
 * Inspects an SQLite file that nothing else has open (a restored file, a drill's copy), as its own
 * process: integrity_check and counting are full scans, and better-sqlite3 is synchronous, so
 * in-process they would freeze the daemon's event loop (health server, SIGTERM). Usage:
 *
 *   node inspect-child.js <file>
 *
 * Prints exactly one JSON line, an InspectResult, and exits 0.
 */
import { createHash, type Hash } from 'node:crypto'
import { realpathSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import Database from 'better-sqlite3'

export interface InspectedTable {
  name: string
  /** Exact count. */
  rows: number
  /** Of every row's values, typed, in scan order: equal digests = equal content. */
  sha256: string
}

export type InspectResult =
  /** `integrity`: integrity_check's complaints, empty when it said ok (then schema and tables are filled). */
  | { ok: true; integrity: string[]; schemaSha256: string; tables: InspectedTable[] }
  | { ok: false; code: string; message: string }

function quoteIdentifier(name: string): string {
  return `"${name.replaceAll('"', '""')}"`
}

/** A type tag and a length before every value, so that no two different rows hash alike. */
function hashValue(hash: Hash, value: unknown): void {
  if (value === null) hash.update('n;')
  else if (typeof value === 'bigint') hash.update(`i${value};`)
  else if (typeof value === 'number') {
    const b = Buffer.alloc(8)
    b.writeDoubleBE(value)
    hash.update('r').update(b)
  } else if (typeof value === 'string') {
    const b = Buffer.from(value, 'utf8')
    hash.update(`s${b.length}:`).update(b)
  } else if (Buffer.isBuffer(value)) hash.update(`b${value.length}:`).update(value)
  else throw new Error(`unexpected SQLite value of type ${typeof value}`)
}

function inspect(path: string): InspectResult {
  const db = new Database(path, { readonly: true, fileMustExist: true })
  try {
    const verdict = (db.pragma('integrity_check(20)') as { integrity_check: string }[]).map((r) => r.integrity_check)
    if (verdict.length !== 1 || verdict[0] !== 'ok')
      return { ok: true, integrity: verdict, schemaSha256: '', tables: [] }
    const schema = createHash('sha256')
    for (const row of db
      .prepare('SELECT type, name, tbl_name, sql FROM sqlite_schema ORDER BY type, name')
      .raw(true)
      .iterate()) {
      for (const v of row as unknown[]) hashValue(schema, v)
    }
    const names = db
      .prepare(
        `SELECT name FROM pragma_table_list WHERE schema = 'main' AND type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name`,
      )
      .pluck()
      .all() as string[]
    const tables = names.map((name): InspectedTable => {
      const hash = createHash('sha256')
      let rows = 0
      // Scan order: rowid (or primary key) order, the same in two files with the same content.
      for (const row of db
        .prepare(`SELECT * FROM ${quoteIdentifier(name)}`)
        .raw(true)
        .safeIntegers(true)
        .iterate()) {
        rows += 1
        for (const v of row as unknown[]) hashValue(hash, v)
        hash.update('\n')
      }
      return { name, rows, sha256: hash.digest('hex') }
    })
    return { ok: true, integrity: [], schemaSha256: schema.digest('hex'), tables }
  } finally {
    db.close()
  }
}

function main(argv: string[]): InspectResult {
  const [path] = argv
  if (!path) return { ok: false, code: 'USAGE', message: 'usage: inspect-child <file>' }
  try {
    return inspect(path)
  } catch (error) {
    const err = error as { code?: unknown; message?: unknown }
    return { ok: false, code: typeof err.code === 'string' ? err.code : 'ERROR', message: String(err.message ?? error) }
  }
}

// Run only as a program, not when the parent imports this file for its types.
if (process.argv[1] !== undefined && realpathSync(process.argv[1]) === realpathSync(fileURLToPath(import.meta.url))) {
  process.stdout.write(`${JSON.stringify(main(process.argv.slice(2)))}\n`)
}
