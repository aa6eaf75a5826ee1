/**
 * `dbkeeper restore` of SQLite, through the real CLI, where the file is not where it was or not
 * an ordinary file: a DBnn_PATH that changed since the backup (refused, `--force-path`,
 * `--to-file`), and a file that is a single-file bind mount (`./app.db:/data/app.db`), which
 * rename cannot replace.
 */
import { createHash } from 'node:crypto'
import { mkdir, mkdtemp, readdir, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { makeSqliteDb } from '../support/sqlite.js'
import { trial } from '../faults/trials.js'
import { backupNow, cli, listNow, writeResignedBackup } from './support.js'

const count = (path: string): number => {
  const db = new Database(path, { readonly: true })
  try {
    return Number(db.prepare('SELECT count(*) FROM items').pluck().get())
  } finally {
    db.close()
  }
}
const sha = async (path: string) => createHash('sha256').update(await readFile(path)).digest('hex')

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

  it('refuses to restore old.db\'s backup over new.db, naming both and the ways forward; --force-path and --to-file work', async () => {
    await trial('adversarial restore: SQLite backup onto another file', 'DBnn_PATH changed from old.db to new.db', async () => {
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
      const toFile = await cli(['restore', 'latest', '--source', 'app', '--database', 'old', '--to-file', out], newEnv)
      expect(toFile.exitCode, toFile.all).toBe(0)
      expect(count(out)).toBe(3000)
      expect(await sha(newDb)).toBe(before)

      const forced = await cli(['restore', 'latest', '--source', 'app', '--database', 'old', '--yes', '--force-path'], newEnv)
      expect(forced.exitCode, forced.all).toBe(0)
      expect(forced.stderr).toContain('restoring onto it anyway (--force-path)')
      expect(count(newDb)).toBe(3000)
      // The way back is the safety backup of new.db, which belongs to new.db: restorable without --force-path.
      const safety = (await listNow(newEnv)).find((b) => b.kind === 'pre-restore')!
      const back = await cli(['restore', safety.id, '--source', 'app', '--database', safety.database, '--yes', '--no-safety-backup'], newEnv)
      expect(back.exitCode, back.all).toBe(0)
      expect(count(newDb)).toBe(10)
    })
  })

  it('a manifest from before paths were recorded: the database name (the file\'s name) decides', async () => {
    await trial('adversarial restore: SQLite backup onto another file', 'old manifest without the file\'s path', async () => {
      const legacy = await writeResignedBackup(oldBackup, (raw) => raw, 30, { sqlite: undefined })
      try {
        const before = await sha(newDb)
        const r = await cli(['restore', legacy.manifest.id, '--source', 'app', '--database', 'old', '--yes'], newEnv)
        expect(r.exitCode, r.all).toBe(2)
        expect(r.stderr).toContain('its manifest predates recording the file\'s path')
        expect(r.stderr).toContain(`DB01_PATH ${newDb} is database \`new\``)
        expect(await sha(newDb)).toBe(before)
        // The same name (DB01_NAME kept across the move) cannot be told apart: restored, as documented.
        const same = await cli(['restore', legacy.manifest.id, '--source', 'app', '--database', 'old', '--yes'], { ...newEnv, DB01_NAME: 'old' })
        expect(same.exitCode, same.all).toBe(0)
        expect(count(newDb)).toBe(3000)
      } finally {
        await legacy.remove()
      }
    })
  })

  it('a manifest naming its file restores onto that file without --force-path', async () => {
    const r = await cli(['restore', 'latest', '--source', 'app', '--database', 'old', '--yes'], oldEnv)
    expect(r.exitCode, r.all).toBe(0)
    expect(count(oldDb)).toBe(3000)
  })
})
