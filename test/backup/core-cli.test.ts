import { mkdtemp, readdir, readFile, writeFile, mkdir, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { execa } from 'execa'
import { describe, expect, it } from 'vitest'
import { acquireLock } from '../../src/catalog/lock.js'
import { readRuns } from '../../src/catalog/journal.js'
import { runCli, startCli } from '../support/cli.js'
import { makeSqliteDb } from '../support/sqlite.js'

async function setup(rows = 2000) {
  const dir = await mkdtemp(join(tmpdir(), 'dbk-core-'))
  const dbPath = join(dir, 'app.db')
  makeSqliteDb(dbPath, rows)
  const env = { DB01_TYPE: 'sqlite', DB01_PATH: dbPath, DB01_LABEL: 'app', BACKUP_DIR: join(dir, 'backups') }
  return { dir, dbPath, env, backupDir: join(dir, 'backups') }
}

describe('dbkeeper backup / list (SQLite, real files)', () => {
  it('commits a proven backup that gunzips to a database, with manifest and sha256 sidecar, 0600/0700', async () => {
    const { env, backupDir } = await setup()
    const r = await runCli(['backup', '--json'], env)
    expect(r.exitCode, r.all).toBe(0)
    const report = JSON.parse(r.stdout) as {
      ok: boolean
      results: { ok: boolean; path: string; size: number; rows: number }[]
    }
    expect(report.ok).toBe(true)
    const [res] = report.results
    expect(res!.rows).toBe(2000)
    const list = await runCli(['list', '--json'], env)
    const listed = JSON.parse(list.stdout) as {
      id: string
      path: string
      size: number
      sha256: string
      rawSize: number
      time: string
    }[]
    expect(listed).toHaveLength(1)
    expect(listed[0]!.path).toBe(res!.path)
    expect((await stat(res!.path)).mode & 0o777).toBe(0o600)
    expect((await stat(join(backupDir, 'app'))).mode & 0o777).toBe(0o700)
    // Plain tools agree: sha256sum -c on the sidecar, gunzip to a database that opens.
    const check = await execa('sha256sum', ['-c', `${res!.path}.sha256`], { cwd: join(backupDir, 'app', 'app') })
    expect(check.stdout).toMatch(/OK$/)
    const restored = join(backupDir, 'restored.db')
    await execa('bash', ['-c', `gunzip -c '${res!.path}' > '${restored}'`])
    const q = await execa('sqlite3', [restored, 'PRAGMA integrity_check; SELECT count(*) FROM items;'])
    expect(q.stdout.split('\n')).toEqual(['ok', '2000'])
  })

  it('back-to-back backups of one database never share an id, even with different extensions', async () => {
    const { env } = await setup(50)
    // gzip then none then gzip: without waiting for a fresh second, the first two would both be
    // app_<same stamp> (.db.gz and .db), and `restore app_<stamp>` could not tell them apart.
    for (const compression of ['gzip', 'none', 'gzip']) {
      const r = await runCli(['backup'], { ...env, COMPRESSION: compression })
      expect(r.exitCode, r.all).toBe(0)
    }
    const listed = JSON.parse((await runCli(['list', '--json'], env)).stdout) as { id: string; path: string }[]
    expect(listed).toHaveLength(3)
    expect(new Set(listed.map((b) => b.id)).size).toBe(3)
    expect(listed.filter((b) => !b.path.endsWith('.gz'))).toHaveLength(1)
  })

  it('exits 3 while another run holds the lock, and --wait waits for it', async () => {
    const { env, backupDir } = await setup(100)
    await mkdir(backupDir, { recursive: true })
    const lock = await acquireLock(backupDir, { command: 'test' })
    const locked = await runCli(['backup'], env)
    expect(locked.exitCode).toBe(3)
    expect(locked.stderr).toMatch(/another dbkeeper run holds the lock: pid \d+/)
    const waiting = startCli(['backup', '--wait'], env)
    await new Promise((r) => setTimeout(r, 1500))
    expect(waiting.exitCode).toBeNull()
    await lock.release()
    const done = await waiting
    expect(done.exitCode, done.stderr).toBe(0)
    expect(JSON.parse((await runCli(['list', '--json'], env)).stdout)).toHaveLength(1)
  })

  it('two runs started at once never overlap: exit codes 0/3 only, and journal intervals disjoint', async () => {
    const { env, backupDir } = await setup(60000)
    const [a, b] = await Promise.all([startCli(['backup'], env), startCli(['backup'], env)])
    expect([a.exitCode, b.exitCode].sort()).toSatisfy(
      (codes: number[]) => codes[0] === 0 && (codes[1] === 0 || codes[1] === 3),
    )
    const runs = await readRuns(backupDir)
    // Every run that exited 0 ran (and journaled) on its own; one that exited 3 did nothing.
    expect(runs.length).toBe([a.exitCode, b.exitCode].filter((c) => c === 0).length)
    expect(runs.every((run) => run.ok)).toBe(true)
    for (let i = 1; i < runs.length; i++) expect(runs[i]!.startedAt >= runs[i - 1]!.finishedAt).toBe(true)
  })

  it('a missing SQLite file fails the run (exit 1) naming DB01_PATH, and nothing is listed', async () => {
    const { env, dir } = await setup(10)
    const r = await runCli(['backup'], { ...env, DB01_PATH: join(dir, 'nope.db') })
    expect(r.exitCode).toBe(1)
    expect(r.all).toContain('DB01_PATH')
    expect(JSON.parse((await runCli(['list', '--json'], env)).stdout)).toEqual([])
  })

  it('a BACKUP_DIR through a file fails with exit 2 (configuration) naming BACKUP_DIR', async () => {
    const { env, dir } = await setup(10)
    const file = join(dir, 'a-file')
    await writeFile(file, 'x')
    const r = await runCli(['backup'], { ...env, BACKUP_DIR: join(file, 'backups') })
    expect(r.exitCode).toBe(2)
    expect(r.stderr).toMatch(/BACKUP_DIR .* is not a directory .*set BACKUP_DIR/s)
  })

  it('removes debris of killed runs, lists none of it, and leaves foreign files alone', async () => {
    const { env, backupDir } = await setup(100)
    expect((await runCli(['backup'], env)).exitCode).toBe(0)
    const dbDir = join(backupDir, 'app', 'app')
    const debris = [
      '.app_20200101T000000Z.db.gz.dbk-tmp',
      'app_20200101T000000Z.db.gz',
      'app_20200101T000001Z.db.gz.sha256',
    ]
    const foreign = [
      'README',
      'other.partial',
      'app_backup_old.db.gz',
      'notes.manifest.json',
      'other_20260101T000000Z.sql.gz',
      'other_20260101T000000Z.sql.gz.sha256',
    ]
    for (const f of [...debris, ...foreign]) await writeFile(join(dbDir, f), 'x')
    expect(JSON.parse((await runCli(['list', '--json'], env)).stdout)).toHaveLength(1)
    const r = await runCli(['backup'], env)
    expect(r.exitCode, r.all).toBe(0)
    expect(r.stderr).toContain('removed debris of an interrupted run')
    const left = await readdir(dbDir)
    for (const f of debris) expect(left).not.toContain(f)
    for (const f of foreign) expect(left).toContain(f)
    expect(await readFile(join(dbDir, 'README'), 'utf8')).toBe('x')
  })

  it('SIGKILL during a run leaves nothing listed that is not proven; the next run succeeds and cleans up', async () => {
    const { env, backupDir } = await setup(200000)
    expect((await runCli(['backup'], env)).exitCode).toBe(0)
    const before = JSON.parse((await runCli(['list', '--json'], env)).stdout) as unknown[]
    const child = startCli(['backup'], env)
    await new Promise((r) => setTimeout(r, 1500))
    child.kill('SIGKILL')
    await child
    const mid = JSON.parse((await runCli(['list', '--json'], env)).stdout) as unknown[]
    expect(mid.length).toBeGreaterThanOrEqual(before.length)
    const after = await runCli(['backup'], env)
    expect(after.exitCode, after.all).toBe(0)
    const files = await readdir(join(backupDir, 'app', 'app'))
    expect(files.filter((f) => f.endsWith('.dbk-tmp'))).toEqual([])
    const listed = JSON.parse((await runCli(['list', '--json'], env)).stdout) as { path: string }[]
    expect(files.filter((f) => f.endsWith('.db.gz')).length).toBe(listed.length)
  })
})
