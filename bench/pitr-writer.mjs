// A writer for the PITR measurements: WAL mode, RATE transactions per second, one row per
// transaction carrying its commit time (ms since the epoch, taken just before COMMIT).
// Usage: node bench/pitr-writer.mjs DB RATE SECONDS  (prints the last committed time on exit)
import Database from 'better-sqlite3'
const [path, rateArg, secondsArg] = process.argv.slice(2)
const rate = Number(rateArg)
const seconds = Number(secondsArg)
const db = new Database(path)
db.pragma('journal_mode = WAL')
db.pragma('busy_timeout = 5000')
db.exec('CREATE TABLE IF NOT EXISTS rows (id INTEGER PRIMARY KEY, committed_at INTEGER NOT NULL, pad TEXT)')
const insert = db.prepare('INSERT INTO rows (committed_at, pad) VALUES (?, ?)')
const pad = 'x'.repeat(100)
const start = Date.now()
let done = 0
let last = 0
await new Promise((resolve) => {
  const tick = () => {
    const now = Date.now()
    if (now - start >= seconds * 1000) return resolve(undefined)
    const due = Math.floor(((now - start) / 1000) * rate)
    while (done < due) {
      last = Date.now()
      insert.run(last, pad)
      done++
    }
    setTimeout(tick, 1)
  }
  tick()
})
db.close()
process.stdout.write(JSON.stringify({ rows: done, last, rate: done / ((last - start) / 1000) }) + '\n')
