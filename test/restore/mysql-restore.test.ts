/**
 * `dbkeeper restore` against the private MariaDB, through the real CLI: a 100k-row database with
 * every kind of object → backup → changed → restored (CHECKSUM TABLE equal, code objects back,
 * later tables gone) → the safety backup restores the changed state; `--into`; `--to-file`.
 * Also measures the restore against the plain `gunzip -c | mariadb`.
 */
import { createHash } from 'node:crypto'
import { readFile, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { execa } from 'execa'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  NASTY_PASSWORD,
  checksums,
  codeObjects,
  dropDatabases,
  makeRichDatabase,
  mariadb,
  mysqlEnv,
  rootQuery,
} from '../backup/mysql-support.js'
import { uniqueName } from '../support/servers.js'
import { backupNow, cli, listNow, makeAdminUser, readManifest } from './support.js'

describe('restore into MariaDB', () => {
  let db: string
  let dir: string
  let env: Record<string, string>
  let backupPath: string
  let original: Record<string, string>
  const into = uniqueName('into')
  const timed = uniqueName('timed')

  beforeAll(async () => {
    ;({ db } = await makeRichDatabase(100_000))
    const admin = await makeAdminUser()
    ;({ dir, env } = await mysqlEnv(db, admin))
    original = await checksums(db)
    backupPath = (await backupNow(env))[0]!.path!
  })
  afterAll(async () => {
    await dropDatabases(db, into, timed)
    await rm(dir, { recursive: true, force: true })
  })

  it('replaces a changed database with the backup, after a safety backup that undoes it', async () => {
    await rootQuery(`DELETE FROM \`${db}\`.big WHERE id <= 5000; UPDATE \`${db}\`.texts SET s = 'changed' WHERE id = 1;
      CREATE TABLE \`${db}\`.added_later (id INT); DROP VIEW \`${db}\`.big_summary`)
    const changed = await checksums(db)
    expect(changed).not.toEqual(original)

    const started = Date.now()
    const r = await cli(['restore', 'latest', '--source', 'maria', '--yes'], env)
    const restoreMs = Date.now() - started
    expect(r.exitCode, r.all).toBe(0)
    expect(r.all).not.toContain(NASTY_PASSWORD)
    expect(r.stderr).toMatch(/verified as it loaded: sha256/)
    expect(r.stderr).toMatch(/check ok: 5 tables, 100,011 rows/)
    expect(await checksums(db)).toEqual(original)
    expect((await codeObjects(db)).views).toEqual(['big_summary'])
    const [fn] = await rootQuery<{ v: number }[]>(`SELECT \`${db}\`.double_it(21) AS v`)
    expect(fn!.v).toBe(42)

    // The safety backup: listed, marked, and restoring it brings the changed state back.
    const safetyId = /safety backup (\S+)/.exec(r.stdout)?.[1]
    const listed = await listNow(env)
    const safety = listed.find((b) => b.id === safetyId)!
    expect(safety.kind).toBe('pre-restore')
    const back = await cli(['restore', safetyId!, '--source', 'maria', '--yes', '--no-safety-backup'], env)
    expect(back.exitCode, back.all).toBe(0)
    expect(await checksums(db)).toEqual(changed)
    // `latest` means the newest proven *backup*, never a safety backup.
    const againStart = Date.now()
    const again = await cli(['restore', 'latest', '--source', 'maria', '--yes', '--no-safety-backup'], env)
    const noSafetyMs = Date.now() - againStart
    expect(again.exitCode, again.all).toBe(0)
    expect(again.stdout).toContain((await readManifest(backupPath)).id)
    expect(await checksums(db)).toEqual(original)

    // The same file through the plain tools, for comparison (measured, reported by the test log).
    await rootQuery(`CREATE DATABASE \`${timed}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`)
    const info = mariadb()
    const plainStart = Date.now()
    await execa('bash', [
      '-o',
      'pipefail',
      '-c',
      'gunzip -c "$1" | mariadb --protocol=TCP -h "$2" -P "$3" -u root "$4"',
      'plain',
      backupPath,
      info.host,
      String(info.port),
      timed,
    ])
    const plainMs = Date.now() - plainStart
    expect(await checksums(timed)).toEqual(original)
    console.log(
      `[measure] 100k-row restore: dbkeeper restore ${restoreMs} ms (verify + safety backup + load + check, CLI start included), ` +
        `${noSafetyMs} ms with --no-safety-backup; gunzip -c | mariadb ${plainMs} ms`,
    )
  })

  it('--into creates a new database with the original character set and fills it', async () => {
    const r = await cli(['restore', 'latest', '--source', 'maria', '--into', into, '--yes'], env)
    expect(r.exitCode, r.all).toBe(0)
    expect(r.stderr).toContain('no safety backup')
    expect(await checksums(into)).toEqual(original)
    expect(await codeObjects(into)).toEqual(await codeObjects(db))
    const [schema] = await rootQuery<{ c: string }[]>(
      'SELECT DEFAULT_COLLATION_NAME AS c FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?',
      [into],
    )
    expect(schema!.c).toBe('utf8mb4_unicode_ci')
  })

  it('--into an existing database that is not empty is refused with exit 2, and it stays as it was', async () => {
    await rootQuery(`UPDATE \`${into}\`.texts SET s = 'mine' WHERE id = 1`)
    const before = await checksums(into)
    const r = await cli(['restore', 'latest', '--source', 'maria', '--into', into, '--yes'], env)
    expect(r.exitCode, r.all).toBe(2)
    expect(r.stderr).toMatch(/exists and is not empty; nothing was changed/)
    expect(await checksums(into)).toEqual(before)
  })

  it('--to-file writes the verified dump and touches no database; never over an existing file', async () => {
    const file = join(dir, 'out', 'dump.sql')
    await execa('mkdir', ['-p', join(dir, 'out')])
    const r = await cli(['restore', 'latest', '--source', 'maria', '--to-file', file], env)
    expect(r.exitCode, r.all).toBe(0)
    const manifest = await readManifest(backupPath)
    const content = await readFile(file)
    expect(createHash('sha256').update(content).digest('hex')).toBe(manifest.raw.sha256)
    expect(content.toString('utf8', content.length - 200)).toMatch(/-- Dump completed/)
    const twice = await cli(['restore', 'latest', '--source', 'maria', '--to-file', file], env)
    expect(twice.exitCode).toBe(2)
    expect(twice.stderr).toContain('never overwrites')
  })
})
