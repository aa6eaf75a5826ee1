/**
 * SQLite point-in-time recovery with the real Litestream, supervised as the daemon runs it: a
 * writer commits ≥ 200 transactions a second in its own process (each row carrying its commit
 * time), and the archive must restore to a time exactly (every row up to T − 5 s, none after T, no
 * hole), equal the source once the writer stopped, and survive a SIGKILLed Litestream (restarted
 * by the supervisor, no change lost).
 */
import Database from 'better-sqlite3'
import { execFile } from 'node:child_process'
import { mkdtemp, readdir, rm, stat, utimes } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { archiveDir } from '../../../src/catalog/naming.js'
import { createArchive, rangeAt, startArchiver, type Archiver } from '../../../src/engines/index.js'
import { litestreamError, MTIME_SLACK_MS } from '../../../src/engines/sqlite/archive.js'
import { litestreamConfig } from '../../../src/engines/sqlite/litestream.js'
import { archivedEveryCommit } from '../../../src/engines/sqlite/wal-position.js'
import { asyncReads } from '../../../src/runtime/file-reads.js'
import { captureLogger } from '../../support/logs.js'
import { sqliteSource } from './helpers.js'

const WRITER = fileURLToPath(new URL('../../fixtures/pitr-writer.mjs', import.meta.url))
const run = promisify(execFile)
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

interface Rows {
  ids: number[]
  times: number[]
}
function readRows(path: string): Rows {
  const db = new Database(path, { readonly: true })
  try {
    const rows = db.prepare('SELECT id, committed_at FROM rows ORDER BY id').all() as {
      id: number
      committed_at: number
    }[]
    return { ids: rows.map((r) => r.id), times: rows.map((r) => r.committed_at) }
  } finally {
    db.close()
  }
}

let dir: string
let archiver: Archiver | undefined
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'dbk-pitr-'))
})
afterEach(async () => {
  await archiver?.stop()
  archiver = undefined
  await rm(dir, { recursive: true, force: true })
})

async function setUp() {
  const path = join(dir, 'app.db')
  const seed = new Database(path)
  seed.pragma('journal_mode = WAL')
  seed.exec('CREATE TABLE rows (id INTEGER PRIMARY KEY, committed_at INTEGER NOT NULL, pad TEXT)')
  seed.close()
  const source = { ...sqliteSource(path), pitr: true }
  const replica = archiveDir(join(dir, 'backups'), source.label, 'app')
  const log = captureLogger()
  archiver = await startArchiver({
    source,
    database: 'app',
    dir: replica,
    windowMs: 7 * 86_400_000,
    logger: log.logger,
    backoff: { initialMs: 200, maxMs: 1000 },
  })
  return { path, source, replica, log, archive: await createArchive(source, replica) }
}

/** The newest WAL segment's mtime (ms), over every generation of the replica. */
async function newestSegmentTime(replica: string): Promise<number> {
  let newest = 0
  for (const generation of await readdir(join(replica, 'generations'))) {
    const wal = join(replica, 'generations', generation, 'wal')
    for (const name of await readdir(wal).catch(() => [])) {
      if (name.endsWith('.wal.lz4')) newest = Math.max(newest, (await stat(join(wal, name))).mtimeMs)
    }
  }
  return newest
}

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await probe()
    if (value !== undefined) return value
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await sleep(200)
  }
}

describe('SQLite archiving with Litestream', () => {
  it('writes its configuration 0600 with retention following PITR_WINDOW', async () => {
    const { replica } = await setUp()
    const s = await stat(`${replica}.litestream.yml`)
    expect(s.mode & 0o777).toBe(0o600)
    // 7 days: a snapshot a day, kept 8 days (the oldest time in the window keeps a snapshot before it).
    expect(litestreamConfig('/d/app.db', '/r', 7 * 86_400_000)).toContain('snapshot-interval: 86400000ms')
    expect(litestreamConfig('/d/app.db', '/r', 7 * 86_400_000)).toContain('retention: 691200000ms')
    expect(litestreamConfig('/d/$HOME.db', '/r', 3_600_000)).toContain('path: "/d/$HOME.db"')
  })

  it('restores to a time exactly under a 250 tx/s writer, and to the source once it stopped', async () => {
    const { path, archive } = await setUp()
    await until('the first snapshot', async () => ((await archive.state(new Date())).ranges.length ? true : undefined))
    const writerStart = Date.now()
    const writer = run(process.execPath, [WRITER, path, '250', '12'])
    await sleep(6000)
    const live = await archive.state(new Date())
    expect(live.lagMs, 'lag while writing').toBeLessThan(5000)
    const { stdout } = await writer
    const written = JSON.parse(stdout) as { rows: number; rate: number }
    expect(written.rate).toBeGreaterThanOrEqual(200)
    await sleep(2500)

    const state = await archive.state(new Date())
    expect(state.lagMs).toBe(0)
    const T = new Date(writerStart + 7000)
    const range = rangeAt(state.ranges, T)
    expect(range, 'T inside the window').toBeDefined()
    const atFile = join(dir, 'at.db')
    await archive.materialize(T, range!, atFile, dir, new AbortController().signal)
    const at = readRows(atFile)
    const source = readRows(path)
    const upToTminus5 = source.times.filter((t) => t <= T.getTime() - 5000).length
    expect(at.times.filter((t) => t <= T.getTime() - 5000).length, 'every row up to T − 5 s').toBe(upToTminus5)
    expect(
      at.times.filter((t) => t > T.getTime()),
      'no row after T',
    ).toEqual([])
    expect(at.ids, 'no hole').toEqual(at.ids.map((_, i) => i + 1))
    expect(at.ids.length).toBeGreaterThan(upToTminus5 - 1)

    const finalFile = join(dir, 'final.db')
    const now = new Date(state.ranges.at(-1)!.to)
    await archive.materialize(now, rangeAt(state.ranges, now)!, finalFile, dir, new AbortController().signal)
    expect(readRows(finalFile)).toEqual(source)
    expect(source.ids.length).toBe(written.rows)
  }, 60_000)

  it('restarts a SIGKILLed Litestream and loses no change', async () => {
    const { path, archive, log } = await setUp()
    await until('the first snapshot', async () => ((await archive.state(new Date())).ranges.length ? true : undefined))
    const first = archiver!.pid!
    const writer = run(process.execPath, [WRITER, path, '200', '6'])
    await sleep(2000)
    process.kill(first, 'SIGKILL')
    const second = await until('a restarted litestream', async () => {
      const pid = archiver!.pid
      return pid !== undefined && pid !== first ? pid : undefined
    })
    expect(second).not.toBe(first)
    expect(archiver!.restarts).toBe(1)
    expect(log.text()).toMatch(/litestream was killed by SIGKILL .*restarting in/)
    await writer
    await until('the archive to catch up', async () => {
      const s = await archive.state(new Date())
      return s.lagMs === 0 ? s : undefined
    })
    // A restore cuts MTIME_SLACK_MS before the time asked: ask for a time past the newest segment
    // by more than that (the catch-up may be seen the moment its segment lands).
    await sleep(2 * MTIME_SLACK_MS)
    const at = new Date()
    const state = await archive.state(at)
    const out = join(dir, 'after-kill.db')
    await archive.materialize(at, rangeAt(state.ranges, at)!, out, dir, new AbortController().signal)
    expect(readRows(out)).toEqual(readRows(path))
  }, 60_000)

  it('reports a lag while a commit older than the newest segment is not in it', async () => {
    // Litestream copies the WAL (shadow WAL), then ships the copy, each once a second: a commit
    // between the two is older than the segment written next and not in it. Here Litestream is
    // frozen after such a commit, and the live WAL's mtime set just before the newest segment's.
    const { path, archive, replica, source } = await setUp()
    const db = new Database(path)
    try {
      db.prepare('INSERT INTO rows (committed_at) VALUES (?)').run(Date.now())
      await until('every commit archived', async () =>
        (await archivedEveryCommit(path, replica, asyncReads)) ? true : undefined,
      )
      const pid = archiver!.pid!
      process.kill(pid, 'SIGSTOP')
      try {
        db.prepare('INSERT INTO rows (committed_at) VALUES (?)').run(Date.now())
        const newest = await newestSegmentTime(replica)
        await utimes(`${path}-wal`, new Date(newest - 1), new Date(newest - 1))
        expect(await archivedEveryCommit(path, replica, asyncReads)).toBe(false)
        const state = await archive.state(new Date(newest + 5000))
        expect(state.lagMs, 'lag with a commit not archived').toBeGreaterThan(4000)
      } finally {
        process.kill(pid, 'SIGCONT')
      }
      await until('the archive to catch up', async () =>
        (await archive.state(new Date())).lagMs === 0 ? true : undefined,
      )
      // One state lists each directory once: the generation's newest segment and the position
      // check (which got as far as the replica's segments here: caught up) share the wal/ listing.
      const listed: string[] = []
      const counting = { ...asyncReads, readdir: (p: string) => (listed.push(p), asyncReads.readdir(p)) }
      expect((await (await createArchive(source, replica, undefined, counting)).state(new Date())).lagMs).toBe(0)
      expect(listed.filter((p) => p.endsWith('/wal'))).toHaveLength(2) // the shadow's and the replica's
      expect(listed).toEqual([...new Set(listed)])
      await sleep(2 * MTIME_SLACK_MS)
      const at = new Date()
      const state = await archive.state(at)
      const out = join(dir, 'caught-up.db')
      await archive.materialize(at, rangeAt(state.ranges, at)!, out, dir, new AbortController().signal)
      expect(readRows(out).ids).toEqual([1, 2])
    } finally {
      db.close()
    }
  }, 60_000)

  it('reports a growing lag when nothing archives the changes', async () => {
    const { path, archive } = await setUp()
    await until('the first snapshot', async () => ((await archive.state(new Date())).ranges.length ? true : undefined))
    await archiver!.stop()
    await sleep(1100)
    const db = new Database(path)
    db.prepare('INSERT INTO rows (committed_at) VALUES (?)').run(Date.now())
    db.close()
    const state = await archive.state(new Date(Date.now() + 90_000))
    expect(state.lagMs).toBeGreaterThan(90_000)
  }, 30_000)
})

describe("Litestream's reason for a failed restore", () => {
  it('is the error of its last ERROR line (it logs to stdout), else its last lines', () => {
    const log = [
      'time=2026-12-07T01:27:54.241Z level=INFO msg="restoring snapshot" db=/d/app.db replica=file generation=2c42 index=0',
      'time=2026-12-07T01:27:54.248Z level=ERROR msg="failed to run" error="cannot restore snapshot: no identity matched any of the recipients"',
      '',
    ].join('\n')
    expect(litestreamError(log)).toBe('cannot restore snapshot: no identity matched any of the recipients')
    expect(litestreamError('level=ERROR msg="failed to run" error="a \\"quoted\\" path"')).toBe('a "quoted" path')
    expect(litestreamError('2026/12/07 01:44:55 ERROR failed to run error="no matching backups found"\n')).toBe(
      'no matching backups found',
    )
    expect(litestreamError('one\ntwo\nthree\nfour\n')).toBe('two three four')
    expect(litestreamError('')).toBe('')
  })
})
