/**
 * Restore and verify fall back to the S3 copy (docs/RESTORE.md, "The volume is gone"), through the
 * real CLI against a real S3 server (s3rver), the private MariaDB and a live SQLite file: the volume
 * wiped → `restore latest --source S --yes` fetches, proves and restores both; a volume restored
 * from an old snapshot loses to the newer off-site backup; an id only off-site is restored and
 * verified; a tampered object is refused before the target is touched.
 */
import { mkdir, open, readdir, rm, stat } from 'node:fs/promises'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { VerifyJson } from '../../src/cli/commands/verify.js'
import {
  NASTY_PASSWORD,
  checksums,
  dropDatabases,
  makeRichDatabase,
  mysqlEnv,
  rootQuery,
} from '../backup/mysql-support.js'
import { SECRET_ACCESS_KEY, s3Env, startS3, type TestS3 } from '../support/s3.js'
import { countItems as rowsOf, makeSqliteDb } from '../support/sqlite.js'
import { sha256File as sha } from '../support/files.js'
import { backupNow, cli, listNow, makeAdminUser } from './support.js'

const PREFIX = 'restore'
const exists = (path: string) =>
  stat(path).then(
    () => true,
    () => false,
  )

describe('restore and verify from S3', () => {
  let s3: TestS3
  let db: string
  let dir: string
  let backupDir: string
  let live: string
  let env: Record<string, string>
  let original: Record<string, string>
  /** The first backup of each source: `maria` and `notes`. */
  const first: Record<string, { id: string; file: string }> = {}

  /** Changes that the restore must undo: rows gone from both databases. */
  async function damageBoth(): Promise<void> {
    await rootQuery(`DELETE FROM \`${db}\`.big WHERE id <= 200`)
    const app = new Database(live)
    app.exec('DELETE FROM items WHERE id <= 100')
    app.close()
  }

  function expectClean(all: string): void {
    expect(all).not.toContain(NASTY_PASSWORD)
    expect(all).not.toContain(SECRET_ACCESS_KEY)
  }

  beforeAll(async () => {
    s3 = await startS3()
    ;({ db } = await makeRichDatabase(2000))
    const admin = await makeAdminUser()
    const my = await mysqlEnv(db, admin)
    ;({ dir, backupDir } = my)
    live = join(dir, 'data', 'notes.db')
    await mkdir(join(dir, 'data'))
    makeSqliteDb(live, 1000)
    env = { ...my.env, DB02_TYPE: 'sqlite', DB02_PATH: live, DB02_LABEL: 'notes', ...s3Env(s3.endpoint, PREFIX) }
    original = await checksums(db)
    for (const r of await backupNow(env)) {
      expect(r.offsite?.ok, JSON.stringify(r)).toBe(true)
      first[r.source] = { id: r.id!, file: r.path!.split('/').at(-1)! }
    }
  }, 300_000)

  afterAll(async () => {
    await dropDatabases(db)
    await s3?.destroy()
    if (dir) await rm(dir, { recursive: true, force: true })
  })

  it('the volume is gone: restore latest fetches from S3, proves and restores SQLite and MariaDB', async () => {
    await damageBoth()
    expect(rowsOf(live)).toBe(900)
    await rm(backupDir, { recursive: true, force: true })

    const notes = await cli(['restore', 'latest', '--source', 'notes', '--yes'], env)
    expect(notes.exitCode, notes.all).toBe(0)
    expect(notes.stderr).toContain(`the newest backup of notes/notes is ${first.notes!.id}`)
    expect(notes.stderr).toContain(
      `off-site only: using it from s3://dbk-test/${PREFIX}/notes/notes/${first.notes!.file}`,
    )
    expect(notes.stderr).toMatch(/fetched .* onto the volume/)
    expect(notes.stdout).toContain(`restored ${first.notes!.id}`)
    expect(rowsOf(live)).toBe(1000)

    const maria = await cli(['restore', 'latest', '--source', 'maria', '--yes'], env)
    expect(maria.exitCode, maria.all).toBe(0)
    expect(maria.stderr).toContain(`off-site only: using it from s3://dbk-test/${PREFIX}/maria/`)
    expect(await checksums(db)).toEqual(original)
    expectClean(`${notes.all}\n${maria.all}`)

    // Both backups are on the volume again, as backups that are also off-site.
    const listed = await listNow(env)
    for (const b of Object.values(first)) expect(listed.find((l) => l.id === b.id)?.location).toBe('both')
    expect(await sha(join(backupDir, 'notes', 'notes', first.notes!.file))).toBe(
      listed.find((l) => l.id === first.notes!.id)!.sha256,
    )
  })

  it('a volume restored from an old snapshot: the newer backup in S3 wins and is fetched', async () => {
    const app = new Database(live)
    app.exec("INSERT INTO items (name, payload) VALUES ('after the first backup', 'x')")
    app.close()
    const second = (await backupNow(env)).find((r) => r.source === 'notes')!
    expect(second.offsite?.ok).toBe(true)
    // The old snapshot: the volume has the first backup only.
    for (const suffix of ['', '.manifest.json', '.sha256']) await rm(`${second.path!}${suffix}`)
    new Database(live).exec('DELETE FROM items').close()

    const r = await cli(['restore', 'latest', '--source', 'notes', '--yes'], env)
    expect(r.exitCode, r.all).toBe(0)
    expect(r.stderr).toContain(`the off-site copy has a newer backup of notes/notes than the volume: ${second.id}`)
    expect(r.stderr).toContain(`the volume's newest is ${first.notes!.id}`)
    expect(r.stdout).toContain(`restored ${second.id}`)
    expect(rowsOf(live)).toBe(1001)
    expect(await exists(second.path!)).toBe(true)

    // When the volume has the newest one too, nothing is fetched.
    const again = await cli(['restore', 'latest', '--source', 'notes', '--yes'], env)
    expect(again.exitCode, again.all).toBe(0)
    expect(again.stderr).toContain(`the newest backup of notes/notes is ${second.id}`)
    expect(again.stderr).toContain('on the volume; none newer off-site')
    expect(again.stderr).not.toMatch(/fetching/)
  })

  it('an id only in S3: verify, restore and verify --drill fetch it first', async () => {
    const gone = join(backupDir, 'notes', 'notes', first.notes!.file)
    for (const suffix of ['', '.manifest.json', '.sha256']) await rm(`${gone}${suffix}`)
    const v = await cli(['verify', first.notes!.id, '--source', 'notes', '--json'], env)
    expect(v.exitCode, v.all).toBe(0)
    const [result] = JSON.parse(v.stdout) as VerifyJson[]
    expect(result).toMatchObject({
      id: first.notes!.id,
      ok: true,
      path: gone,
      fetched: `s3://dbk-test/${PREFIX}/notes/notes/${first.notes!.file}`,
    })
    expect(await exists(`${gone}.manifest.json`)).toBe(true)

    for (const suffix of ['', '.manifest.json', '.sha256']) await rm(`${gone}${suffix}`)
    const r = await cli(['restore', first.notes!.id, '--source', 'notes', '--yes'], env)
    expect(r.exitCode, r.all).toBe(0)
    expect(r.stderr).toContain(`${first.notes!.id} is not on the volume: using the off-site copy`)
    expect(rowsOf(live)).toBe(1000)

    // --drill holds the lock for all its drills: the fetch runs under it, not beside it.
    for (const suffix of ['', '.manifest.json', '.sha256']) await rm(`${gone}${suffix}`)
    const d = await cli(['verify', first.notes!.id, '--source', 'notes', '--drill', '--json'], env)
    expect(d.exitCode, d.all).toBe(0)
    expect(JSON.parse(d.stdout)).toEqual([
      expect.objectContaining({
        id: first.notes!.id,
        ok: true,
        fetched: expect.stringMatching(/^s3:/),
        drill: expect.objectContaining({ ok: true }),
      }),
    ])
    expectClean(`${v.all}\n${r.all}\n${d.all}`)
  })

  it('--if-missing on an empty volume: nothing is downloaded while the file exists; a missing file comes from S3', async () => {
    await rm(backupDir, { recursive: true, force: true })
    const kept = await cli(['restore', 'latest', '--source', 'notes', '--if-missing', '--yes'], env)
    expect(kept.exitCode, kept.all).toBe(0)
    expect(kept.stderr).toContain('exists: nothing restored (--if-missing)')
    expect(kept.stderr).not.toContain('fetching')
    expect(await exists(join(backupDir, 'notes'))).toBe(false)

    for (const suffix of ['', '-wal', '-shm']) await rm(`${live}${suffix}`, { force: true })
    const restored = await cli(['restore', 'latest', '--source', 'notes', '--if-missing', '--yes'], env)
    expect(restored.exitCode, restored.all).toBe(0)
    expect(restored.stderr).toMatch(/fetching notes_\S+ from s3:\/\/dbk-test\/restore\/notes\/notes\//)
    expect(rowsOf(live)).toBe(1001)
  })

  it('a tampered S3 object is refused before the target is touched', async () => {
    await damageBoth()
    const changed = await checksums(db)
    const liveSha = await sha(live)
    await rm(backupDir, { recursive: true, force: true })
    const listed = await listNow(env)
    const newest = (source: string) => listed.find((b) => b.source === source && b.kind === 'backup')!
    for (const source of ['notes', 'maria']) {
      const b = newest(source)
      const key = b.path.replace(`s3://dbk-test/`, '')
      const file = s3.objectFile(key)
      const size = (await stat(file)).size
      const handle = await open(file, 'r+')
      await handle.write(Buffer.from('tampered'), 0, 8, Math.floor(size / 2))
      await handle.close()

      const r = await cli(['restore', 'latest', '--source', source, '--yes'], env)
      expect(r.exitCode, r.all).toBe(1)
      expect(r.stderr).toMatch(/does not match its manifest.*do not restore from it/s)
      expect(r.stderr).not.toMatch(/safety backup|restoring into/)
      const names = await readdir(join(backupDir, source)).catch(() => [] as string[])
      for (const d of names)
        expect((await readdir(join(backupDir, source, d))).filter((n) => n.includes(b.id))).toEqual([])
    }
    expect(await sha(live)).toBe(liveSha)
    expect(await checksums(db)).toEqual(changed)
  })
})
