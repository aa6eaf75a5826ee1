/**
 * `dbkeeper restore --at T` of an SQLite source archived by the daemon's archivers (the real
 * Litestream, supervised by daemon/archivers.ts), through the real CLI: a writer commits ≥ 200
 * transactions a second, each row carrying its commit time; the state at T holds every row up
 * to T − 5 s and none after T, without holes, to a file and in place (with a safety backup); a
 * time outside the window is refused naming the window; status shows the window and lag, and
 * `status --check` fails once the archive is further behind than PITR_MAX_LAG.
 */
import Database from 'better-sqlite3'
import { execFile } from 'node:child_process'
import { mkdir, mkdtemp, readdir, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parseConfig } from '../../src/config/index.js'
import { startArchivers, type RunningArchivers } from '../../src/daemon/archivers.js'
import { readPitrStates } from '../../src/daemon/pitr-status.js'
import type { Status } from '../../src/daemon/status.js'
import { captureLogger } from '../support/logs.js'
import { backupNow, cli } from './support.js'

const WRITER = fileURLToPath(new URL('../fixtures/pitr-writer.mjs', import.meta.url))
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

function rows(path: string): { ids: number[]; times: number[] } {
  const db = new Database(path, { readonly: true })
  try {
    const all = db.prepare('SELECT id, committed_at FROM rows ORDER BY id').all() as {
      id: number
      committed_at: number
    }[]
    return { ids: all.map((r) => r.id), times: all.map((r) => r.committed_at) }
  } finally {
    db.close()
  }
}

describe('restore to a time (SQLite, Litestream)', () => {
  let dir: string
  let live: string
  let env: Record<string, string>
  let archivers: RunningArchivers | undefined
  let T: Date
  let source: { ids: number[]; times: number[] }

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'dbk-at-'))
    await mkdir(join(dir, 'data'))
    live = join(dir, 'data', 'app.db')
    const seed = new Database(live)
    seed.pragma('journal_mode = WAL')
    seed.exec('CREATE TABLE rows (id INTEGER PRIMARY KEY, committed_at INTEGER NOT NULL, pad TEXT)')
    seed.close()
    env = {
      DB01_TYPE: 'sqlite',
      DB01_PATH: live,
      DB01_PITR: 'true',
      PITR_MAX_LAG: '3s',
      BACKUP_DIR: join(dir, 'backups'),
    }
    const config = parseConfig(env)
    archivers = await startArchivers(config, captureLogger().logger)
    for (let i = 0; i < 100 && (await readPitrStates(config, new Date()))[0]!.state.ranges.length === 0; i++)
      await sleep(200)
    const { stdout } = await promisify(execFile)(process.execPath, [WRITER, live, '250', '10'])
    expect((JSON.parse(stdout) as { rate: number }).rate).toBeGreaterThanOrEqual(200)
    // T counts from the writer's first commit, not from when it was started: a loaded host took
    // over a second to start its node, and T − 5 s then fell before any row.
    T = new Date(rows(live).times[0]! + 6000)
    for (let i = 0; i < 50 && (await readPitrStates(config, new Date()))[0]!.state.lagMs !== 0; i++) await sleep(200)
    source = rows(live)
    await backupNow(env)
  }, 120_000)
  afterAll(async () => {
    await archivers?.stop()
    await rm(dir, { recursive: true, force: true })
  })

  it('shows the window and a lag of 0 in status, and passes status --check', async () => {
    const r = await cli(['status', '--json'], env)
    const status = JSON.parse(r.stdout) as Status
    const pitr = status.sources[0]!.databases[0]!.pitr!
    expect(pitr).toMatchObject({ healthy: true, lagSeconds: 0, maxLagSeconds: 3 })
    expect(Date.parse(pitr.window!.from)).toBeLessThan(T.getTime())
    expect((await cli(['status'], env)).stdout).toMatch(
      /app\/app: point-in-time: restore to a time from .* UTC, lag 0s/,
    )
    expect((await cli(['status', '--check'], env)).exitCode).toBe(0)
  })

  it('is checked by dbkeeper check and shown by dbkeeper config', async () => {
    const check = await cli(['check'], env)
    expect(check.all).toMatch(/point-in-time archiving of app \(DB01_PITR\).*litestream v0\.3\.13, .* writable/)
    const shown = (await cli(['config'], env)).stdout
    expect(shown).toContain('point-in-time recovery (pitr):\n  window: 7d\n  max lag: 3s')
    expect(shown).toMatch(/DB01 app:\n( {4}.*\n)* {4}pitr: true/)
  }, 60_000)

  it('writes the state at T to a file: every row up to T − 5 s, none after T, no hole', async () => {
    const out = join(dir, 'at.db')
    const r = await cli(['restore', '--at', T.toISOString(), '--source', 'app', '--to-file', out], env)
    expect(r.exitCode, r.all).toBe(0)
    expect(r.stdout).toContain(`wrote app/app as of ${T.toISOString()}`)
    const at = rows(out)
    const before = source.times.filter((t) => t <= T.getTime() - 5000).length
    // The writer's first second: 250 rows at its rate, ≥ 200 checked above.
    expect(before).toBeGreaterThan(100)
    expect(at.times.filter((t) => t <= T.getTime() - 5000).length).toBe(before)
    expect(at.times.filter((t) => t > T.getTime())).toEqual([])
    expect(at.ids).toEqual(at.ids.map((_, i) => i + 1))
  }, 60_000)

  it('restores to the very start of the window, the millisecond status shows', async () => {
    const status = JSON.parse((await cli(['status', '--json'], env)).stdout) as Status
    const from = status.sources[0]!.databases[0]!.pitr!.window!.from
    const out = join(dir, 'from.db')
    // The snapshot's mtime has nanoseconds; the window's start is its millisecond, and Litestream
    // refused a -timestamp before the snapshot ("no matching backups found").
    const r = await cli(['restore', '--at', from, '--source', 'app', '--to-file', out], env)
    expect(r.exitCode, r.all).toBe(0)
    const at = rows(out)
    expect(at.times.filter((t) => t > Date.parse(from))).toEqual([])
    expect(at.ids).toEqual(at.ids.map((_, i) => i + 1))
  }, 60_000)

  it('refuses a time outside the window, naming the window, and touches nothing', async () => {
    const early = new Date(Date.now() - 3_600_000)
    const r = await cli(['restore', '--at', early.toISOString(), '--source', 'app', '--yes'], env)
    expect(r.exitCode).toBe(1)
    expect(r.stderr).toContain(`no restore to ${early.toISOString()} is possible: the archive of app/app reaches 20`)
    expect(r.stderr).toMatch(/reaches \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ – \d{4}-/)
    expect(rows(live)).toEqual(source)
    const future = await cli(['restore', '--at', '2999-01-01T00:00:00Z', '--source', 'app', '--yes'], env)
    expect(future.exitCode).toBe(2)
    expect(future.stderr).toContain('is in the future')
    const bad = await cli(['restore', '--at', 'yesterday', '--source', 'app', '--yes'], env)
    expect(bad.exitCode).toBe(2)
    expect(bad.stderr).toContain('--at "yesterday" is not a time')
  }, 60_000)

  it('restores in place to T, through the safe restore (safety backup, exact counts)', async () => {
    const r = await cli(['restore', '--at', T.toISOString(), '--source', 'app', '--yes'], env)
    expect(r.exitCode, r.all).toBe(0)
    expect(r.stderr).toContain('integrity_check ok')
    expect(r.stderr).toMatch(/safety backup app_\d{8}T\d{6}Z committed/)
    expect(r.stderr).toContain("row counts equal to the backup's")
    const restored = rows(live)
    expect(restored.times.filter((t) => t > T.getTime())).toEqual([])
    expect(restored.ids.length).toBeGreaterThanOrEqual(source.times.filter((t) => t <= T.getTime() - 5000).length)
    expect((await readdir(join(dir, 'data'))).filter((n) => !n.startsWith('.'))).toContain('app.db')
  }, 60_000)

  it('fails status --check once the archive is further behind than PITR_MAX_LAG', async () => {
    await archivers!.stop()
    await sleep(1200)
    const db = new Database(live)
    db.prepare('INSERT INTO rows (committed_at) VALUES (?)').run(Date.now())
    db.close()
    await sleep(4000)
    const r = await cli(['status', '--check'], env)
    expect(r.exitCode).toBe(1)
    expect(r.stdout).toMatch(/app\/app: point-in-time archive is \d+s behind, limit 3s \(PITR_MAX_LAG\)/)
  }, 60_000)
})

describe('restore to a time without an archive', () => {
  it('says that nothing is archived yet, and that the daemon does the archiving', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'dbk-at0-'))
    try {
      const live = join(dir, 'app.db')
      new Database(live).close()
      const env = { DB01_TYPE: 'sqlite', DB01_PATH: live, DB01_PITR: 'true', BACKUP_DIR: join(dir, 'backups') }
      const r = await cli(
        ['restore', '--at', new Date(Date.now() - 1000).toISOString(), '--source', 'app', '--yes'],
        env,
      )
      expect(r.exitCode).toBe(1)
      expect(r.stderr).toContain('nothing of app/app is archived yet')
      const plain = await cli(['restore', '--at', new Date().toISOString(), '--source', 'app', '--yes'], {
        ...env,
        DB01_PITR: 'false',
      })
      expect(plain.exitCode).toBe(2)
      expect(plain.stderr).toContain('app (DB01) is not archived for point-in-time recovery')
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  }, 60_000)
})
