/**
 * `dbkeeper restore` of SQLite snapshots, through the real CLI: the file replaced atomically with
 * the old mode kept, a stale `-wal` of a crashed application not replayed onto the new file,
 * `--if-missing` for start-up, a damaged backup refused with the file untouched, `--to-file`.
 */
import { chmod, chown, copyFile, mkdir, mkdtemp, readdir, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { execa } from 'execa'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { countItems as count, makeSqliteDb } from '../support/sqlite.js'
import { sha256File as sha } from '../support/files.js'
import { runCli } from '../support/cli.js'
import { backupNow, cli, flipByte, listNow, writeResignedBackup } from './support.js'

describe('restore of SQLite', () => {
  let dir: string
  let live: string
  let env: Record<string, string>
  let backupPath: string

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'dbk-sqr-'))
    live = join(dir, 'data', 'notes.db')
    await mkdir(join(dir, 'data'))
    makeSqliteDb(live, 5000)
    env = { DB01_TYPE: 'sqlite', DB01_PATH: live, DB01_LABEL: 'notes', BACKUP_DIR: join(dir, 'backups') }
    backupPath = (await backupNow(env))[0]!.path!
  })
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  it('replaces the file atomically, keeps its mode, and never replays a stale -wal onto it', async () => {
    // A crashed application: rows committed only to the -wal, which outlives its process.
    const app = new Database(live)
    app.pragma('wal_autocheckpoint = 0')
    app.prepare('INSERT INTO items (name, payload) VALUES (?, ?)').run('after the backup', 'x')
    const staleWal = join(dir, 'stale-wal')
    await copyFile(`${live}-wal`, staleWal)
    app.close()
    await copyFile(staleWal, `${live}-wal`)
    await chmod(live, 0o640)
    expect(count(live)).toBe(5001)

    const r = await cli(['restore', 'latest', '--source', 'notes', '--yes'], env)
    expect(r.exitCode, r.all).toBe(0)
    expect(r.stderr).toContain("check ok: 1 table, 5,000 rows — row counts equal to the backup's")
    expect((await readdir(join(dir, 'data'))).sort()).toEqual(['notes.db'])
    expect(count(live)).toBe(5000)
    expect((await stat(live)).mode & 0o777).toBe(0o640)
    expect(new Database(live, { readonly: true }).pragma('integrity_check', { simple: true })).toBe('ok')

    // The safety backup is a snapshot of the crashed file including its -wal: 5001 rows.
    const safety = (await listNow(env)).find((b) => b.kind === 'pre-restore')!
    const back = await cli(['restore', safety.id, '--source', 'notes', '--yes', '--no-safety-backup'], env)
    expect(back.exitCode, back.all).toBe(0)
    expect(count(live)).toBe(5001)
  })

  it('--if-missing: an existing file is left alone (exit 0); a missing one is restored', async () => {
    const before = await sha(live)
    const skip = await cli(['restore', 'latest', '--source', 'notes', '--if-missing', '--yes'], env)
    expect(skip.exitCode, skip.all).toBe(0)
    expect(skip.stderr).toContain('exists: nothing restored (--if-missing)')
    expect(await sha(live)).toBe(before)

    await rm(join(dir, 'data'), { recursive: true })
    const fresh = await cli(['restore', 'latest', '--source', 'notes', '--if-missing', '--yes'], env)
    expect(fresh.exitCode, fresh.all).toBe(0)
    expect(fresh.stderr).toContain('no safety backup: SQLite file')
    expect(count(live)).toBe(5000)
  })

  it('a damaged backup is refused and the file is untouched', async () => {
    const { manifest, path } = await writeResignedBackup(backupPath, (raw) => raw, 30)
    await flipByte(path)
    const before = await sha(live)
    const r = await cli(['restore', manifest.id, '--source', 'notes', '--yes'], env)
    expect(r.exitCode, r.all).toBe(1)
    expect(r.stderr).toContain('is damaged and was refused')
    expect(await sha(live)).toBe(before)
    await rm(path)
  })

  it('--to-file writes the database file itself; --into is refused for SQLite', async () => {
    const out = join(dir, 'copy.db')
    const r = await cli(['restore', 'latest', '--source', 'notes', '--to-file', out], env)
    expect(r.exitCode, r.all).toBe(0)
    expect(count(out)).toBe(5000)
    const into = await cli(['restore', 'latest', '--source', 'notes', '--into', 'x', '--yes'], env)
    expect(into.exitCode, into.all).toBe(2)
    expect(into.stderr).toContain('--to-file')
  })
})

/**
 * dbkeeper not running as root (setpriv to nobody): the restored file cannot be given its old
 * owner. That is said, with the owner and the command that gives it back, not swallowed.
 */
describe.skipIf(process.getuid?.() !== 0)('restore of SQLite by a user that cannot chown (setpriv needs root)', () => {
  let dir: string
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'dbk-sqo-'))
    await chmod(dir, 0o755)
  })
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  it('warns with the owner the file had and `chown UID:GID FILE` when it cannot give it back', async () => {
    const nobody = 65534
    const data = join(dir, 'data')
    await mkdir(data)
    const live = join(data, 'app.db')
    makeSqliteDb(live, 200)
    const env = { DB01_TYPE: 'sqlite', DB01_PATH: live, DB01_LABEL: 'owned', BACKUP_DIR: join(dir, 'backups') }
    await backupNow(env)
    // The application's user owns the file; dbkeeper runs as nobody, which may write the directory.
    await chown(live, 1234, 1235)
    await chmod(live, 0o664)
    await chown(data, nobody, nobody)
    await execa('chown', ['-R', `${nobody}:${nobody}`, join(dir, 'backups')])

    const r = await runCli(['restore', 'latest', '--source', 'owned', '--yes', '--no-safety-backup'], env, {
      under: ['setpriv', `--reuid=${nobody}`, `--regid=${nobody}`, '--clear-groups', '--'],
      timeoutMs: 300_000,
    })
    expect(r.exitCode, r.all).toBe(0)
    expect(r.stderr).toContain(`${live} could not be given its owner 1234:1235 (EPERM`)
    expect(r.stderr).toContain(`chown 1234:1235 ${live}`)
    expect(count(live)).toBe(200)
    const after = await stat(live)
    expect([after.uid, after.gid, after.mode & 0o777]).toEqual([nobody, nobody, 0o664])
  })
})
