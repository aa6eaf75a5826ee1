/**
 * `dbkeeper restore` of SQLite, through the real CLI, where the file is not where it was or not
 * an ordinary file: a DBnn_PATH that changed since the backup (refused, `--force-path`,
 * `--to-file`), and a file that is a single-file bind mount (`./app.db:/data/app.db`), which
 * rename cannot replace.
 */
import {
  copyFile,
  link,
  lstat,
  mkdir,
  mkdtemp,
  readdir,
  readlink,
  rename,
  rm,
  stat,
  statfs,
  symlink,
  writeFile,
} from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { execa } from 'execa'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { countItems as count, makeSqliteDb } from '../support/sqlite.js'
import { sha256File as sha } from '../support/files.js'
import { trial } from '../support/faults/trials.js'
import { backupNow, cli, listNow, readManifest, writeResignedBackup } from './support.js'

describe('restore of SQLite when DBnn_PATH changed', () => {
  let dir: string
  let data: string
  let oldDb: string
  let newDb: string
  let oldEnv: Record<string, string>
  let newEnv: Record<string, string>
  let oldBackup: string

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'dbk-sqp-'))
    data = join(dir, 'data')
    await mkdir(data)
    oldDb = join(data, 'old.db')
    newDb = join(data, 'new.db')
    makeSqliteDb(oldDb, 3000)
    const common = { DB01_TYPE: 'sqlite', DB01_LABEL: 'app', BACKUP_DIR: join(dir, 'backups') }
    oldEnv = { ...common, DB01_PATH: oldDb }
    newEnv = { ...common, DB01_PATH: newDb }
    oldBackup = (await backupNow(oldEnv))[0]!.path!
    makeSqliteDb(newDb, 10)
  })
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  it("refuses to restore old.db's backup over new.db, naming both and the ways forward; --force-path and --to-file work", async () => {
    await trial(
      'adversarial restore: SQLite backup onto another file',
      'DBnn_PATH changed from old.db to new.db',
      async () => {
        const before = await sha(newDb)
        const files = (await readdir(data)).sort()
        const r = await cli(['restore', 'latest', '--source', 'app', '--database', 'old', '--yes'], newEnv)
        expect(r.exitCode, r.all).toBe(2)
        expect(r.stderr).toContain(`was taken from ${oldDb}, but DB01_PATH is now ${newDb}`)
        expect(r.stderr).toContain('nothing was changed')
        expect(r.stderr).toContain('--force-path')
        expect(r.stderr).toContain('--to-file F')
        expect(await sha(newDb)).toBe(before)
        expect((await readdir(data)).sort()).toEqual(files)
        expect((await listNow(newEnv)).filter((b) => b.kind === 'pre-restore')).toEqual([])

        const out = join(dir, 'old-copy.db')
        const toFile = await cli(
          ['restore', 'latest', '--source', 'app', '--database', 'old', '--to-file', out],
          newEnv,
        )
        expect(toFile.exitCode, toFile.all).toBe(0)
        expect(count(out)).toBe(3000)
        expect(await sha(newDb)).toBe(before)

        const forced = await cli(
          ['restore', 'latest', '--source', 'app', '--database', 'old', '--yes', '--force-path'],
          newEnv,
        )
        expect(forced.exitCode, forced.all).toBe(0)
        expect(forced.stderr).toContain('restoring onto it anyway (--force-path)')
        expect(count(newDb)).toBe(3000)
        // The way back is the safety backup of new.db, which belongs to new.db: restorable without --force-path.
        const safety = (await listNow(newEnv)).find((b) => b.kind === 'pre-restore')!
        const back = await cli(
          ['restore', safety.id, '--source', 'app', '--database', safety.database, '--yes', '--no-safety-backup'],
          newEnv,
        )
        expect(back.exitCode, back.all).toBe(0)
        expect(count(newDb)).toBe(10)
      },
    )
  })

  it("a manifest from before paths were recorded: the database name (the file's name) decides", async () => {
    await trial(
      'adversarial restore: SQLite backup onto another file',
      "old manifest without the file's path",
      async () => {
        const legacy = await writeResignedBackup(oldBackup, (raw) => raw, 30, { sqlite: undefined })
        try {
          const before = await sha(newDb)
          const r = await cli(['restore', legacy.manifest.id, '--source', 'app', '--database', 'old', '--yes'], newEnv)
          expect(r.exitCode, r.all).toBe(2)
          expect(r.stderr).toContain("its manifest predates recording the file's path")
          expect(r.stderr).toContain(`DB01_PATH ${newDb} is database \`new\``)
          expect(await sha(newDb)).toBe(before)
          // The same name (DB01_NAME kept across the move) cannot be told apart: restored, as documented.
          const same = await cli(['restore', legacy.manifest.id, '--source', 'app', '--database', 'old', '--yes'], {
            ...newEnv,
            DB01_NAME: 'old',
          })
          expect(same.exitCode, same.all).toBe(0)
          expect(count(newDb)).toBe(3000)
        } finally {
          await legacy.remove()
        }
      },
    )
  })

  it('a manifest naming its file restores onto that file without --force-path', async () => {
    const r = await cli(['restore', 'latest', '--source', 'app', '--database', 'old', '--yes'], oldEnv)
    expect(r.exitCode, r.all).toBe(0)
    expect(count(oldDb)).toBe(3000)
  })
})

/**
 * A single-file bind mount (`./app.db:/data/app.db`): rename over it fails with EBUSY. Real mounts:
 * the tests run as root (CI does); only a non-root run skips them, and a failing mount fails them.
 */
describe.skipIf(process.getuid?.() !== 0)('restore of SQLite onto a bind-mounted file (mount needs root)', () => {
  let dir: string
  const mounted: string[] = []

  const mount = async (...args: string[]) => {
    await execa('mount', args)
    mounted.push(args.at(-1)!)
  }
  /** An application that crashed: a row committed only to `path-wal`, which outlives it. */
  const leaveStaleWal = async (path: string) => {
    const app = new Database(path)
    app.pragma('wal_autocheckpoint = 0')
    app.prepare('INSERT INTO items (name, payload) VALUES (?, ?)').run('after the backup', 'x')
    await copyFile(`${path}-wal`, `${path}.stale`)
    app.close()
    await rename(`${path}.stale`, `${path}-wal`)
  }

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'dbk-sqb-'))
  })
  afterEach(async () => {
    for (let at = mounted.pop(); at !== undefined; at = mounted.pop()) {
      const r = await execa('umount', [at], { reject: false })
      if (r.exitCode !== 0) await execa('umount', ['-l', at])
    }
  })
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  it('copies the restored file into the mounted inode: exact content, the old WAL not replayed', async () => {
    await trial(
      'adversarial restore: SQLite bind-mounted file',
      'single-file bind mount, stale -wal beside it',
      async () => {
        const host = join(dir, 'host1', 'app.db')
        const data = join(dir, 'data1')
        const live = join(data, 'app.db')
        await mkdir(join(dir, 'host1'))
        await mkdir(data)
        makeSqliteDb(host, 3000)
        await writeFile(live, '')
        await mount('--bind', host, live)
        const env = { DB01_TYPE: 'sqlite', DB01_PATH: live, DB01_LABEL: 'bound', BACKUP_DIR: join(dir, 'backups') }
        const manifest = await readManifest((await backupNow(env))[0]!.path!)

        // Smaller than the backup now (the copy in place grows it), and a stale WAL beside it.
        const app = new Database(live)
        app.exec('DELETE FROM items WHERE id > 500; VACUUM')
        app.close()
        await leaveStaleWal(live)
        expect(count(live)).toBe(501)
        // Counting read through the WAL and made an -shm: a stale one too.
        expect((await readdir(data)).sort()).toEqual(['app.db', 'app.db-shm', 'app.db-wal'])

        // No safety backup: its snapshot would apply the stale WAL to the old file and remove it.
        const r = await cli(['restore', 'latest', '--source', 'bound', '--yes', '--no-safety-backup'], env)
        expect(r.exitCode, r.all).toBe(0)
        expect(r.stderr).toContain('check ok: 1 table, 3,000 rows')
        expect(await sha(live)).toBe(manifest.raw.sha256)
        expect(await sha(host)).toBe(manifest.raw.sha256)
        expect(count(live)).toBe(3000)
        expect((await readdir(data)).sort()).toEqual(['app.db'])
        const db = new Database(live, { readonly: true })
        expect(db.pragma('integrity_check', { simple: true })).toBe('ok')
        db.close()
      },
    )
  })

  it('a file system too full for the larger file: refused honestly, old content and WAL untouched', async () => {
    await trial('adversarial restore: SQLite bind-mounted file', 'the mounted file system is full', async () => {
      const small = join(dir, 'small')
      const data = join(dir, 'data2')
      const live = join(data, 'app.db')
      await mkdir(small)
      await mkdir(data)
      makeSqliteDb(live, 3000)
      const env = { DB01_TYPE: 'sqlite', DB01_PATH: live, DB01_LABEL: 'full', BACKUP_DIR: join(dir, 'backups') }
      const id = (await backupNow(env))[0]!.id!
      await mount('-t', 'tmpfs', '-o', 'size=256k', 'tmpfs', small)
      makeSqliteDb(join(small, 'app.db'), 100)
      await mount('--bind', join(small, 'app.db'), live)
      await leaveStaleWal(live)
      const before = { db: await sha(live), wal: await sha(`${live}-wal`), files: (await readdir(data)).sort() }

      // Without a safety backup, the stale WAL is still there when the file is to be replaced (a
      // safety backup's snapshot applies it to its own file, as the application would).
      const bare = await cli(['restore', id, '--source', 'full', '--yes', '--no-safety-backup'], env)
      expect(bare.exitCode, bare.all).toBe(1)
      expect(bare.stderr).toMatch(/growing it from \d+ to \d+ bytes failed \(ENOSPC\)/)
      expect(bare.stderr).toContain(`${live} was not changed`)
      expect(bare.stdout).not.toContain('restored')
      expect(await sha(live)).toBe(before.db)
      expect(await sha(`${live}-wal`)).toBe(before.wal)
      expect((await readdir(data)).sort()).toEqual(before.files)

      const saved = await cli(['restore', id, '--source', 'full', '--yes'], env)
      expect(saved.exitCode, saved.all).toBe(1)
      expect(saved.stderr).toContain(`${live} was not changed`)
      expect(saved.stderr).toMatch(/the content from before the restore is in safety backup app_\d{8}T\d{6}Z/)
      expect(saved.stdout).not.toContain('restored')
      expect(count(live)).toBe(101)
      expect((await readdir(data)).filter((name) => name.includes('.dbk-'))).toEqual([])
    })
  })

  it('a -wal bind-mounted on its own: refused before anything is touched', async () => {
    await trial('adversarial restore: SQLite bind-mounted file', 'the -wal is a bind mount of its own', async () => {
      const data = join(dir, 'data3')
      const live = join(data, 'app.db')
      await mkdir(data)
      makeSqliteDb(live, 200)
      const env = { DB01_TYPE: 'sqlite', DB01_PATH: live, DB01_LABEL: 'walmount', BACKUP_DIR: join(dir, 'backups') }
      await backupNow(env)
      await leaveStaleWal(live)
      const hostWal = join(dir, 'host-wal')
      await copyFile(`${live}-wal`, hostWal)
      await mount('--bind', hostWal, `${live}-wal`)
      const before = { db: await sha(live), wal: await sha(`${live}-wal`), backups: (await listNow(env)).length }

      const r = await cli(['restore', 'latest', '--source', 'walmount', '--yes'], env)
      expect(r.exitCode, r.all).toBe(1)
      expect(r.stderr).toContain(`${live}-wal is a mount point of its own`)
      expect(r.stderr).toContain(`${live} was not changed`)
      expect(await sha(live)).toBe(before.db)
      expect(await sha(`${live}-wal`)).toBe(before.wal)
      expect((await listNow(env)).length).toBe(before.backups) // not even a safety backup
    })
  })
})

/**
 * DBnn_PATH a symlink (`/data/app/app.db -> ../real/app.db`): the restore goes onto the file the
 * link points at, and the link stays a link. A file with other hard links: refused untouched.
 */
describe('restore of SQLite through a symlink, or onto a hard-linked file', () => {
  let dir: string
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'dbk-sql-'))
  })
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  it('restores onto the real file, says so, keeps the link; the backup still belongs to it by either name', async () => {
    await trial('adversarial restore: SQLite symlinked path', 'DBnn_PATH is a symlink to ../real/app.db', async () => {
      const app = join(dir, 'app')
      const realDir = join(dir, 'real')
      await mkdir(app)
      await mkdir(realDir)
      const real = join(realDir, 'app.db')
      const link = join(app, 'app.db')
      makeSqliteDb(real, 3000)
      await symlink('../real/app.db', link)
      const env = { DB01_TYPE: 'sqlite', DB01_PATH: link, DB01_LABEL: 'app', BACKUP_DIR: join(dir, 'backups') }
      const manifest = await readManifest((await backupNow(env))[0]!.path!)
      const db = new Database(real)
      db.exec('DELETE FROM items WHERE id > 10')
      db.close()

      const r = await cli(['restore', 'latest', '--source', 'app', '--yes'], env)
      expect(r.exitCode, r.all).toBe(0)
      expect(r.stderr).toContain(`DB01_PATH ${link} is a symlink to ${real}: restoring onto ${real}`)
      expect((await lstat(link)).isSymbolicLink()).toBe(true)
      expect(await readlink(link)).toBe('../real/app.db')
      expect(count(real)).toBe(3000)
      expect(await sha(real)).toBe(manifest.raw.sha256)
      expect(await readdir(app)).toEqual(['app.db'])
      expect((await readdir(realDir)).filter((n) => n.includes('.dbk-'))).toEqual([])
      // The safety backup holds what the real file had.
      const safety = (await listNow(env)).find((b) => b.kind === 'pre-restore')!
      expect(safety).toBeDefined()

      // DB01_PATH now names the real file: the backup taken through the link still belongs to it.
      const direct = await cli(['restore', manifest.id, '--source', 'app', '--yes', '--no-safety-backup'], {
        ...env,
        DB01_PATH: real,
      })
      expect(direct.exitCode, direct.all).toBe(0)
      expect(direct.stderr).not.toContain('symlink')
      expect(count(real)).toBe(3000)
    })
  })

  it('refuses a file with other hard links before anything is touched, naming the count and the ways forward', async () => {
    await trial('adversarial restore: SQLite hard-linked file', 'DBnn_PATH has a second hard link', async () => {
      const data = join(dir, 'hard')
      await mkdir(data)
      const live = join(data, 'app.db')
      const other = join(data, 'other-name.db')
      makeSqliteDb(live, 300)
      const env = { DB01_TYPE: 'sqlite', DB01_PATH: live, DB01_LABEL: 'hard', BACKUP_DIR: join(dir, 'backups') }
      await backupNow(env)
      await link(live, other)
      const before = { db: await sha(live), files: (await readdir(data)).sort(), backups: (await listNow(env)).length }

      const r = await cli(['restore', 'latest', '--source', 'hard', '--yes'], env)
      expect(r.exitCode, r.all).toBe(2)
      expect(r.stderr).toContain(`${live} has 2 hard links`)
      expect(r.stderr).toContain('nothing was changed')
      expect(r.stderr).toContain('--to-file F')
      expect(r.stderr).toContain(`cp F ${live}`)
      expect(await sha(live)).toBe(before.db)
      expect((await stat(live)).nlink).toBe(2)
      expect((await readdir(data)).sort()).toEqual(before.files)
      expect((await listNow(env)).length).toBe(before.backups) // not even a safety backup
    })
  })
})

/**
 * The target's own file system is full (a small tmpfs holds DBnn_PATH; the backup volume has
 * room): the hint names that file system, never the backup volume, whose backups are fine.
 */
describe.skipIf(process.getuid?.() !== 0)('restore of SQLite onto a full file system (mount needs root)', () => {
  let dir: string
  let data: string
  let mounted = false
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'dbk-sqf-'))
    data = join(dir, 'data')
    await mkdir(data)
    await execa('mount', ['-t', 'tmpfs', '-o', 'size=2m', 'tmpfs', data])
    mounted = true
  })
  afterAll(async () => {
    if (mounted) await execa('umount', [data]).catch(() => execa('umount', ['-l', data]))
    await rm(dir, { recursive: true, force: true })
  })

  it('names the target file system and says the backup is fine, in place and with --to-file', async () => {
    await trial('disk full', 'SQLite restore: the target file system is full (tmpfs of 2 MiB)', async () => {
      const live = join(data, 'app.db')
      makeSqliteDb(live, 3000)
      const env = { DB01_TYPE: 'sqlite', DB01_PATH: live, DB01_LABEL: 'full', BACKUP_DIR: join(dir, 'backups') }
      await backupNow(env)
      // Everything but 16 KiB taken: the restored copy cannot be written beside the live file.
      const filler = join(data, 'filler')
      await writeFile(filler, Buffer.alloc((await statfs(data)).bavail * (await statfs(data)).bsize - 16 * 1024))
      const before = { db: await sha(live), files: (await readdir(data)).sort() }

      // No safety backup: its snapshot of the live WAL-mode file needs room for an -shm there too.
      const r = await cli(['restore', 'latest', '--source', 'full', '--yes', '--no-safety-backup'], env)
      expect(r.exitCode, r.all).toBe(1)
      expect(r.stderr).toContain('ENOSPC')
      expect(r.stderr).toContain(`${live} was not changed`)
      expect(r.stderr).toContain(`free space on the file system that holds ${data}`)
      expect(r.stderr).toContain('the backup itself is fine')
      expect(r.stderr).not.toMatch(/KEEP_|keep fewer backups|backup volume/)
      expect(await sha(live)).toBe(before.db)
      expect((await readdir(data)).sort()).toEqual(before.files)

      const out = join(data, 'copy.db')
      const toFile = await cli(['restore', 'latest', '--source', 'full', '--to-file', out], env)
      expect(toFile.exitCode, toFile.all).toBe(1)
      expect(toFile.stderr).toContain(`free space on the file system that holds ${data}`)
      expect(toFile.stderr).not.toMatch(/KEEP_|keep fewer backups|backup volume/)
      expect((await readdir(data)).sort()).toEqual(before.files)
      await rm(filler)
    })
  })
})
