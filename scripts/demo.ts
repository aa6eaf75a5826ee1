/**
 * `npm run demo`: the embedded default, end to end with the real code path. Makes a sample SQLite
 * database in ./demo/app.db (WAL mode, a few thousand rows), then runs `dbkeeper backup` and
 * `dbkeeper list` as separate processes with BACKUP_DIR=./backups, exactly as cron would. It ends
 * with the `export` lines of the variables it used and two next commands that work with them: the
 * README's next steps would otherwise fail with "DB01_TYPE is not set".
 *
 * DEMO_DIR (for test/packaging/demo.test.ts): where demo/ and backups/ go instead of the checkout.
 */
import Database from 'better-sqlite3'
import { execFileSync } from 'node:child_process'
import { mkdirSync } from 'node:fs'
import { resolve } from 'node:path'

const root = resolve(import.meta.dirname, '..')
const home = resolve(process.env.DEMO_DIR ?? root)
const dbPath = resolve(home, 'demo', 'app.db')
mkdirSync(resolve(home, 'demo'), { recursive: true })

const db = new Database(dbPath)
db.pragma('journal_mode = WAL')
db.exec(`CREATE TABLE IF NOT EXISTS customers (id INTEGER PRIMARY KEY, name TEXT NOT NULL, email TEXT, created TEXT DEFAULT CURRENT_TIMESTAMP);
         CREATE TABLE IF NOT EXISTS orders (id INTEGER PRIMARY KEY, customer_id INTEGER REFERENCES customers(id), total_cents INTEGER, note TEXT);`)
const count = (db.prepare('SELECT count(*) AS n FROM customers').get() as { n: number }).n
if (count === 0) {
  const addCustomer = db.prepare('INSERT INTO customers (name, email) VALUES (?, ?)')
  const addOrder = db.prepare('INSERT INTO orders (customer_id, total_cents, note) VALUES (?, ?, ?)')
  db.transaction(() => {
    for (let i = 1; i <= 2000; i++) {
      addCustomer.run(`Customer ${i} — ünïcödé ✓`, `c${i}@example.com`)
      addOrder.run(i, (i * 1337) % 100000, i % 7 === 0 ? null : `order for customer ${i}`)
    }
  })()
}
db.close()
console.log(`sample database: ${dbPath}`)

/** The configuration of the demo: exactly these, and what it prints for the user's own shell. */
const demoEnv = {
  BACKUP_DIR: resolve(home, 'backups'),
  DB01_TYPE: 'sqlite',
  DB01_PATH: dbPath,
  DB01_LABEL: 'demo',
  LOG_LEVEL: 'warn',
}
const env = { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...demoEnv }
const bin = resolve(root, 'bin', 'dbkeeper.js')
for (const args of [['backup'], ['list']]) {
  console.log(`\n$ dbkeeper ${args.join(' ')}`)
  execFileSync(process.execPath, [bin, ...args], { env, stdio: 'inherit' })
}

/** A word as the shell reads it back: bare when safe, else single-quoted. */
function shellWord(value: string): string {
  return /^[\w@%+=:,./-]+$/.test(value) ? value : `'${value.replaceAll("'", `'\\''`)}'`
}

console.log(`
Next, in this shell (from ${root}): the demo's variables, then two commands that use them.
${Object.entries(demoEnv)
  .map(([name, value]) => `export ${name}=${shellWord(value)}`)
  .join('\n')}
npx dbkeeper list
npx dbkeeper status

Then configure your own databases instead (docs/CONFIGURATION.md).`)
