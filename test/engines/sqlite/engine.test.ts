import { createWriteStream, readdirSync } from 'node:fs'
import { mkdir, readdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { pipeline } from 'node:stream/promises'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { DbkeeperError } from '../../../src/runtime/errors.js'
import { SqliteEngine } from '../../../src/engines/sqlite/engine.js'
import type { DumpProcess } from '../../../src/engines/engine.js'
import { runCli } from '../../support/cli.js'
import { createDatabase, dumpToFile, scratch, snapshotChildren, sqliteSource } from './helpers.js'

const never = new AbortController().signal

/** Names that break naive SQL: quotes of every kind, spaces, brackets, non-ASCII. */
const AWKWARD_TABLES = [`we"ird 'name`, 'with  space', 'täble ✓ 表 🦆', '[brackets]', '"', 'select']

let dir: string
let workDir: string
let cleanup: () => Promise<void>
beforeEach(async () => ({ dir, workDir, cleanup } = await scratch()))
afterEach(async () => cleanup())

async function rejection(promise: Promise<unknown>): Promise<DbkeeperError> {
  const error: unknown = await promise.then(
    () => expect.unreachable('expected a rejection'),
    (e: unknown) => e,
  )
  expect(error).toBeInstanceOf(DbkeeperError)
  return error as DbkeeperError
}

describe('SqliteEngine.probe', () => {
  it('reports the SQLite version, the tool and the tables, with ANALYZE estimates', async () => {
    const path = join(dir, 'app.db')
    const db = new Database(path)
    db.exec('CREATE TABLE a (x); CREATE TABLE b (y); CREATE INDEX ax ON a (x); CREATE VIEW v AS SELECT * FROM a')
    db.prepare('INSERT INTO a (x) VALUES (?)').run(1)
    db.prepare('INSERT INTO a (x) VALUES (?)').run(2)
    db.exec('ANALYZE')
    db.close()
    const engine = new SqliteEngine(sqliteSource(path), workDir)
    const found = await engine.probe(never)
    await engine.close() // its child waits for a dump: none follows here
    expect(found.serverVersion).toMatch(/^3\.\d+\.\d+$/)
    expect(found.tool).toEqual({ name: 'better-sqlite3', version: found.serverVersion })
    expect(found.databases).toEqual([
      {
        name: 'app',
        tables: [
          { name: 'a', rows: 2 },
          { name: 'b', rows: 0 },
        ],
      },
    ])
  })

  it('a missing file → NOT_FOUND naming the path and DBnn_PATH', async () => {
    const path = join(dir, 'nowhere', 'app.db')
    const engine = new SqliteEngine(sqliteSource(path, 'DB03'), workDir)
    for (const attempt of [engine.probe(never), engine.dump('app', never).done]) {
      const error = await rejection(attempt)
      expect(error.code).toBe('NOT_FOUND')
      expect(error.message).toBe(`SQLite database ${path} does not exist`)
      expect(error.hint).toContain('DB03_PATH')
    }
  })

  it('a file that is not a database, or a directory → NOT_FOUND saying so', async () => {
    const text = join(dir, 'notes.txt')
    await writeFile(text, 'CREATE TABLE this is not a database file; '.repeat(100))
    const error = await rejection(new SqliteEngine(sqliteSource(text), workDir).probe(never))
    expect(error.code).toBe('NOT_FOUND')
    expect(error.message).toContain('is not an SQLite database')
    expect(error.hint).toContain('DB07_PATH')
    await mkdir(join(dir, 'adir'))
    const dirError = await rejection(new SqliteEngine(sqliteSource(join(dir, 'adir')), workDir).dump('app', never).done)
    expect(dirError.message).toContain('is not a file')
    expect(await readdir(workDir)).toEqual([])
  })
})

describe('SqliteEngine.dump', () => {
  it('copies tables whose names need quoting, with exact row counts; the stream is the database', async () => {
    const path = join(dir, 'app.db')
    const db = new Database(path)
    db.pragma('journal_mode = WAL')
    db.pragma('user_version = 7') // applications keep their schema version here: a restore needs it
    db.pragma('application_id = 1234')
    AWKWARD_TABLES.forEach((name, i) => {
      const quoted = `"${name.replaceAll('"', '""')}"`
      db.exec(`CREATE TABLE ${quoted} ("col ""q""" TEXT)`)
      const insert = db.prepare(`INSERT INTO ${quoted} VALUES (?)`)
      for (let row = 0; row <= i; row++) insert.run(`${name} #${row}`)
    })
    db.exec(`CREATE VIRTUAL TABLE docs USING fts5 (body); INSERT INTO docs VALUES ('fts rows live in shadow tables')`)
    // The application keeps its connection open: the last commit is still in the -wal file.
    const out = join(dir, 'streamed.db')
    const { result } = await dumpToFile(new SqliteEngine(sqliteSource(path), workDir), 'app', out)
    db.close()

    const expected = AWKWARD_TABLES.map((name, i) => ({ name, rows: i + 1 })).sort((a, b) => (a.name < b.name ? -1 : 1))
    expect(result.tables).toEqual(expected)
    const copy = new Database(out, { readonly: true })
    expect(copy.pragma('integrity_check', { simple: true })).toBe('ok')
    expect(copy.pragma('journal_mode', { simple: true })).toBe('delete')
    expect([copy.pragma('user_version', { simple: true }), copy.pragma('application_id', { simple: true })]).toEqual([
      7, 1234,
    ])
    expect(copy.prepare(`SELECT "col ""q""" AS v FROM "we""ird 'name"`).pluck().all()).toEqual([`we"ird 'name #0`])
    expect(copy.prepare('SELECT body FROM docs WHERE docs MATCH ?').pluck().all('shadow')).toEqual([
      'fts rows live in shadow tables',
    ])
    copy.close()
    expect(await readdir(workDir)).toEqual([])
  })

  it('waits for a writer holding an exclusive lock (rollback journal), then copies its commit', async () => {
    const path = join(dir, 'app.db')
    createDatabase(path, 1, 'delete')
    const app = new Database(path)
    app.exec('BEGIN EXCLUSIVE; CREATE TABLE late (x); INSERT INTO late VALUES (42)')
    const released = Date.now() + 1500
    setTimeout(() => app.exec('COMMIT'), 1500)
    const { result, ended } = await dumpToFile(
      new SqliteEngine(sqliteSource(path), workDir),
      'app',
      join(dir, 'out.db'),
    )
    app.close()
    expect(ended).toBeGreaterThanOrEqual(released)
    expect(result.tables).toContainEqual({ name: 'late', rows: 1 })
  })

  it('abort during the copy → ABORTED, the stream errors, no temporary file is left', async () => {
    const path = join(dir, 'app.db')
    createDatabase(path, 60, 'wal')
    const controller = new AbortController()
    const dump = new SqliteEngine(sqliteSource(path), workDir).dump('app', controller.signal)
    const streamError = new Promise((resolve) => dump.stdout.on('error', resolve))
    while ((await readdir(workDir)).length === 0) await new Promise((resolve) => setTimeout(resolve, 2))
    controller.abort()
    const error = await rejection(dump.done)
    expect(error.code).toBe('ABORTED')
    expect(await streamError).toBe(error)
    expect(await readdir(workDir)).toEqual([])
  })

  it('abort while streaming → ABORTED, no temporary file is left', async () => {
    const path = join(dir, 'app.db')
    createDatabase(path, 8, 'delete')
    const controller = new AbortController()
    const dump = new SqliteEngine(sqliteSource(path), workDir).dump('app', controller.signal)
    dump.stdout.on('error', () => {})
    await new Promise((resolve) => dump.stdout.once('data', resolve))
    dump.stdout.pause()
    controller.abort()
    expect((await rejection(dump.done)).code).toBe('ABORTED')
    expect(await readdir(workDir)).toEqual([])
  })

  it('an already aborted signal and an unknown database name fail before any work', async () => {
    const path = join(dir, 'app.db')
    createDatabase(path, 1, 'wal')
    const engine = new SqliteEngine(sqliteSource(path), workDir)
    expect((await rejection(engine.dump('app', AbortSignal.abort()).done)).code).toBe('ABORTED')
    const wrong = await rejection(engine.dump('other', never).done)
    expect(wrong.code).toBe('NOT_FOUND')
    expect(wrong.hint).toContain('DB07_NAME')
  })
})

/**
 * A database SQLite reads without complaint but `PRAGMA integrity_check` refuses: rows that break a
 * NOT NULL and CHECK constraint the schema was edited to declare. `VACUUM INTO` carries them into the
 * copy unchanged, so the check on the copy is what must catch them. Two indexes make the check
 * slow next to streaming the file, so the stream usually ends before the verdict is in.
 */
function createDamagedDatabase(path: string, rows: number): void {
  const db = new Database(path)
  db.pragma('journal_mode = WAL')
  db.exec('CREATE TABLE items (id INTEGER PRIMARY KEY, qty INTEGER, name TEXT, tag TEXT)')
  const insert = db.prepare('INSERT INTO items (qty, name, tag) VALUES (?, ?, ?)')
  db.transaction(() => {
    for (let i = 0; i < rows; i++)
      insert.run(i === rows - 2 ? null : i + 1, `name ${(i * 7919) % 100003}`, `tag ${i % 977}`)
  })()
  db.exec('CREATE INDEX items_name ON items (name); CREATE INDEX items_tag ON items (tag, name)')
  db.unsafeMode(true) // lifts SQLite's defensive mode: the schema may be edited
  db.exec(
    `PRAGMA writable_schema = ON; UPDATE sqlite_schema SET sql = 'CREATE TABLE items (id INTEGER PRIMARY KEY, qty INTEGER NOT NULL CHECK (qty > 0), name TEXT, tag TEXT)' WHERE name = 'items'`,
  )
  db.close()
}

/**
 * The dump of createDamagedDatabase's file: the stream may end before the verdict (the bytes are the
 * copy's) or break off with it; done rejects with what integrity_check found; nothing is left.
 */
async function expectRefusedAsDamaged(dump: DumpProcess): Promise<void> {
  const streamed = pipeline(dump.stdout, createWriteStream(join(dir, 'out.db'))).then(
    () => undefined,
    (e: unknown) => e,
  )
  const error = await rejection(dump.done)
  expect(error.code).toBe('DUMP_FAILED')
  expect(error.message).toMatch(/app\.db is damaged: integrity_check found: .*NULL value in items\.qty/)
  expect([undefined, error]).toContain(await streamed)
  expect(await readdir(workDir)).toEqual([])
}

describe('SqliteEngine.dump of a damaged database', () => {
  it('the copy streams while integrity_check runs on it; done rejects with what the check found, nothing is left', async () => {
    const path = join(dir, 'app.db')
    createDamagedDatabase(path, 200_000)
    await expectRefusedAsDamaged(new SqliteEngine(sqliteSource(path), workDir).dump('app', never))
  })

  it('dbkeeper backup fails and keeps nothing (uncompressed: the file is written before the verdict is in)', async () => {
    const path = join(dir, 'app.db')
    createDamagedDatabase(path, 300_000)
    const backups = join(dir, 'backups')
    // No compression: the file is written long before integrity_check is done.
    const r = await runCli(['backup', '--json'], {
      DB01_TYPE: 'sqlite',
      DB01_PATH: path,
      DB01_LABEL: 'app',
      BACKUP_DIR: backups,
      COMPRESSION: 'none',
    })
    expect(r.exitCode, r.all).not.toBe(0)
    expect(r.all).toMatch(/is damaged: integrity_check found: .*NULL value in items\.qty/)
    expect(await readdir(join(backups, 'app', 'app'))).toEqual([])
  }, 60_000)
})

/** Waits until `check` holds (the child's exit is seen a little after the promise settled). */
async function until(check: () => boolean, what: string): Promise<void> {
  for (const deadline = Date.now() + 10_000; !check();) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

describe('SqliteEngine: the probe and the snapshot in one child', () => {
  // Children of this test alone: any an earlier test left exiting are not counted here.
  let earlier: number[] = []
  const ours = (): number[] => snapshotChildren().filter((pid) => !earlier.includes(pid))
  beforeEach(() => {
    earlier = snapshotChildren()
  })

  it('the child that probed takes the snapshot: no second process, none left after the dump', async () => {
    const path = join(dir, 'app.db')
    createDatabase(path, 4, 'wal')
    const engine = new SqliteEngine(sqliteSource(path), workDir)
    await engine.probe(never)
    const parked = ours()
    expect(parked).toHaveLength(1)
    const dump = engine.dump('app', never)
    const seen = new Set<number>()
    dump.stdout.on('data', () => ours().forEach((pid) => seen.add(pid)))
    await pipeline(dump.stdout, createWriteStream(join(dir, 'out.db')))
    expect((await dump.done).tables).toEqual([{ name: 'filler', rows: 4 * 1024 }])
    expect([...seen].filter((pid) => !parked.includes(pid))).toEqual([])
    await until(() => ours().length === 0, 'the child to exit')
    expect(await readdir(workDir)).toEqual([])
  })

  it('a failed integrity_check after a probe still fails the dump; nothing is left, no process', async () => {
    const path = join(dir, 'app.db')
    createDamagedDatabase(path, 50_000)
    const engine = new SqliteEngine(sqliteSource(path), workDir)
    await engine.probe(never)
    const parked = ours()
    expect(parked).toHaveLength(1)
    const dump = engine.dump('app', never)
    await expectRefusedAsDamaged(dump)
    await until(() => ours().length === 0, 'the child to exit')
  })

  it('the probed child killed during the snapshot → DUMP_FAILED naming the signal; nothing is left', async () => {
    const path = join(dir, 'app.db')
    createDatabase(path, 40, 'wal')
    const engine = new SqliteEngine(sqliteSource(path), workDir)
    await engine.probe(never)
    const [pid] = ours()
    expect(pid).toBeDefined()
    const dump = engine.dump('app', never)
    dump.stdout.on('error', () => {})
    dump.stdout.resume()
    // Killed once it has begun the copy (its file appears in the work directory).
    await until(() => readdirSync(workDir).length > 0, 'the copy to begin')
    process.kill(pid!, 'SIGKILL')
    const error = await rejection(dump.done)
    expect(error.code).toBe('DUMP_FAILED')
    expect(error.message).toContain('was killed by SIGKILL')
    expect(await readdir(workDir)).toEqual([])
    await until(() => ours().length === 0, 'no child left')
  })

  it('close() ends a probed child no dump took; a dump after it starts its own', async () => {
    const path = join(dir, 'app.db')
    createDatabase(path, 1, 'delete')
    const engine = new SqliteEngine(sqliteSource(path), workDir)
    await engine.probe(never)
    await engine.probe(never) // a second probe replaces the first child
    expect(ours()).toHaveLength(1)
    await engine.close()
    expect(ours()).toEqual([])
    const { result } = await dumpToFile(engine, 'app', join(dir, 'out.db'))
    expect(result.tables).toEqual([{ name: 'filler', rows: 1024 }])
    await until(() => ours().length === 0, 'the child to exit')
    // A probe that fails keeps no child either.
    const text = join(dir, 'notes.txt')
    await writeFile(text, 'not a database '.repeat(1000))
    expect((await rejection(new SqliteEngine(sqliteSource(text), workDir).probe(never))).code).toBe('NOT_FOUND')
    expect(ours()).toEqual([])
  })
})

describe('SqliteEngine.checkContent', () => {
  const engine = new SqliteEngine(sqliteSource('/x/app.db'), '/nonexistent')
  it('accepts the SQLite header and names what it found otherwise', () => {
    expect(engine.checkContent(Buffer.from('SQLite format 3\0\x10\0\x01\x01'), Buffer.alloc(0))).toBeUndefined()
    expect(engine.checkContent(Buffer.from('-- MySQL dump 10.19'), Buffer.alloc(0))).toMatch(
      /not an SQLite database.*"-- MySQL dump 10"/,
    )
    expect(engine.checkContent(Buffer.alloc(0), Buffer.alloc(0))).toMatch(/not an SQLite database/)
    expect(engine.checkContent(Buffer.from('SQLite format 3'), Buffer.alloc(0))).toMatch(/not an SQLite database/)
  })
})
