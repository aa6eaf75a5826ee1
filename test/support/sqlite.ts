import Database from 'better-sqlite3'

/** A real SQLite database in WAL mode with `rows` rows of ~200 bytes of varied text. */
export function makeSqliteDb(path: string, rows: number): void {
  const db = new Database(path)
  db.pragma('journal_mode = WAL')
  db.exec('CREATE TABLE IF NOT EXISTS items (id INTEGER PRIMARY KEY, name TEXT, payload TEXT)')
  const insert = db.prepare('INSERT INTO items (name, payload) VALUES (?, ?)')
  db.transaction(() => {
    for (let i = 0; i < rows; i++) insert.run(`item ${i} ✓`, `${i}:${Math.random().toString(36).repeat(8)}`)
  })()
  db.close()
}

/** Rows of `items` in an SQLite file made by makeSqliteDb, read-only. */
export function countItems(path: string): number {
  const db = new Database(path, { readonly: true })
  try {
    return Number(db.prepare('SELECT count(*) FROM items').pluck().get())
  } finally {
    db.close()
  }
}
