/**
 * When `dbkeeper restore` must not go ahead, or must stop: a damaged backup (refused, the target
 * untouched: a truncated one before the load, one damaged inside when its load is proven, which
 * drops the copy loaded beside the target), a statement that fails (stops, names the line), no
 * confirmation (exit 2), a prompt answered no, and the volume lock held (exit 3).
 */
import { open, rm, truncate } from 'node:fs/promises'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { acquireLock } from '../../src/catalog/lock.js'
import { checksums, dropDatabases, makeRichDatabase, mariadb, mysqlEnv, rootQuery } from '../backup/mysql-support.js'
import { uniqueName } from '../support/servers.js'
import {
  backupNow,
  cli,
  cliOnTerminal,
  flipByte,
  insertLine,
  listNow,
  makeAdminUser,
  readManifest,
  writeResignedBackup,
} from './support.js'

describe('restore refusals and failures (MariaDB)', () => {
  let db: string
  let dir: string
  let backupDir: string
  let env: Record<string, string>
  let backupPath: string
  let before: Record<string, string>
  const scratch = uniqueName('bad_into')

  beforeAll(async () => {
    ;({ db } = await makeRichDatabase(5000))
    ;({ dir, env, backupDir } = await mysqlEnv(db, await makeAdminUser()))
    backupPath = (await backupNow(env))[0]!.path!
    before = await checksums(db)
  })
  afterAll(async () => {
    await dropDatabases(db, scratch)
    await rm(dir, { recursive: true, force: true })
  })

  const safetyBackups = async () => (await listNow(env)).filter((b) => b.kind === 'pre-restore').length
  /** Databases loaded beside `name` (`<name>_dbkrestore_<hex>`) still on the server. */
  const besides = async (name: string) =>
    (
      await rootQuery<{ n: string }[]>(
        'SELECT SCHEMA_NAME AS n FROM information_schema.SCHEMATA WHERE SCHEMA_NAME LIKE ?',
        [`${name.replace(/_/g, '\\_')}\\_dbkrestore\\_%`],
      )
    ).map((r) => r.n)

  it('a backup with one flipped byte in the middle is refused: the database unchanged, no copy left beside it, no safety backup', async () => {
    const { manifest, path } = await writeResignedBackup(backupPath, (raw) => raw, 5)
    await flipByte(path)
    const safetiesBefore = await safetyBackups()
    const r = await cli(['restore', manifest.id, '--source', 'maria', '--yes'], env)
    expect(r.exitCode, r.all).toBe(1)
    expect(r.stderr).toMatch(new RegExp(`backup ${manifest.id} is damaged and was refused: .*nothing was changed`))
    expect(r.stderr).toContain('restore an older backup instead')
    expect(r.stderr).not.toContain('verified as it loaded')
    expect(await checksums(db)).toEqual(before)
    expect(await besides(db)).toEqual([])
    expect(await safetyBackups()).toBe(safetiesBefore)
    await rm(path)
  })

  it("a backup that loads to its end but is not the manifest's is refused after the load, and the load is dropped", async () => {
    // A valid gzip of the same bytes whose header differs (its MTIME): the file's sha256 is wrong, nothing else.
    const header = await writeResignedBackup(backupPath, (raw) => raw, 8)
    const file = await open(header.path, 'r+')
    await file.write(Buffer.from([1]), 0, 1, 4)
    await file.close()
    // Valid SQL the manifest does not describe (one comment line more): the content's size and sha256 are wrong.
    const content = await writeResignedBackup(
      backupPath,
      (raw) => insertLine(raw, /^-- Table structure for table `big`/, '-- not in the backup').content,
      9,
      { raw: (await readManifest(backupPath)).raw },
    )
    const safetiesBefore = await safetyBackups()
    try {
      const inPlace = await cli(['restore', header.manifest.id, '--source', 'maria', '--yes'], env)
      expect(inPlace.exitCode, inPlace.all).toBe(1)
      expect(inPlace.stderr).toMatch(
        new RegExp(
          `backup ${header.manifest.id} is damaged and was refused: file sha256 \\w+, expected ${header.manifest.compressed.sha256}.*nothing was changed`,
        ),
      )
      expect(inPlace.stderr).toContain('restoring into')
      expect(await checksums(db)).toEqual(before)
      expect(await besides(db)).toEqual([])

      const into = await cli(['restore', content.manifest.id, '--source', 'maria', '--into', scratch, '--yes'], env)
      expect(into.exitCode, into.all).toBe(1)
      expect(into.stderr).toMatch(/is damaged and was refused: decompressed size \d+ bytes, expected \d+/)
      expect(await rootQuery('SELECT 1 FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?', [scratch])).toEqual([])
      expect(await safetyBackups()).toBe(safetiesBefore)
    } finally {
      await header.remove()
      await content.remove()
    }
  })

  it('a truncated backup is refused the same way', async () => {
    const { manifest, path } = await writeResignedBackup(backupPath, (raw) => raw, 6)
    await truncate(path, 1000)
    const r = await cli(['restore', manifest.id, '--source', 'maria', '--yes'], env)
    expect(r.exitCode, r.all).toBe(1)
    expect(r.stderr).toMatch(/is damaged and was refused: the data file has 1000 bytes/)
    expect(await checksums(db)).toEqual(before)
    await rm(path)
  })

  it('a failing statement stops the restore and names its line; in place, the database is not changed', async () => {
    let line = 0
    const { manifest, path } = await writeResignedBackup(
      backupPath,
      (raw) => {
        const tampered = insertLine(raw, /^-- Table structure for table `big`/, 'INSERT INTO no_such_table VALUES (1);')
        line = tampered.line
        return tampered.content
      },
      7,
    )
    const into = await cli(['restore', manifest.id, '--source', 'maria', '--into', scratch, '--yes'], env)
    expect(into.exitCode, into.all).toBe(1)
    expect(into.stderr).toContain(`mariadb stopped at the first failing statement at line ${line} of the dump`)
    expect(into.stderr).toContain(`ERROR 1146 (42S02) at line ${line}:`)
    expect(into.stderr).toContain(`sed -n '${line}p'`)

    // Loaded beside the database and dropped: nothing to undo, so no safety backup was taken.
    const safetiesBefore = await safetyBackups()
    const replace = await cli(['restore', manifest.id, '--source', 'maria', '--yes'], env)
    await rm(path)
    expect(replace.exitCode, replace.all).toBe(1)
    expect(replace.stderr).toContain(`mariadb stopped at the first failing statement at line ${line} of the dump`)
    expect(replace.stderr).toMatch(/was not changed \(the backup was loaded into a new database beside it/)
    expect(await checksums(db)).toEqual(before)
    expect(await besides(db)).toEqual([])
    expect(await safetyBackups()).toBe(safetiesBefore)
  })

  it('without a terminal and without --yes: exit 2, nothing touched', async () => {
    const r = await cli(['restore', 'latest', '--source', 'maria'], env)
    expect(r.exitCode, r.all).toBe(2)
    expect(r.stderr).toMatch(/needs a confirmation, and there is no terminal to ask on — .*--yes/)
    expect(await checksums(db)).toEqual(before)
  })

  it('on a terminal it names server, database and backup time; "no" changes nothing', async () => {
    const r = await cliOnTerminal(['restore', 'latest', '--source', 'maria'], env, 'no')
    expect(r.exitCode, r.all).toBe(1)
    const info = mariadb()
    expect(r.all).toContain(
      `into    database \`${db}\` on ${info.host}:${info.port} — its current content will be REPLACED`,
    )
    expect(r.all).toMatch(/taken \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC/)
    expect(r.all).toContain('Type yes to continue:')
    expect(r.all).toContain('not confirmed')
    expect(await checksums(db)).toEqual(before)
    const yes = await cliOnTerminal(['restore', 'latest', '--source', 'maria', '--no-safety-backup'], env, 'yes')
    expect(yes.exitCode, yes.all).toBe(0)
    expect(await checksums(db)).toEqual(before)
  })

  it('while another run holds the volume lock: exit 3', async () => {
    const lock = await acquireLock(backupDir, { command: 'test' })
    try {
      const r = await cli(['restore', 'latest', '--source', 'maria', '--yes'], env)
      expect(r.exitCode, r.all).toBe(3)
      expect(r.stderr).toContain('another dbkeeper run holds the lock')
    } finally {
      await lock.release()
    }
  })
})
