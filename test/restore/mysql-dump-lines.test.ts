/**
 * Lines of a mysqldump that act on more than the tables they come with (rewrite.ts), restored
 * through dbkeeper against the test MariaDB:
 * - `ALTER DATABASE \`shop\` …` around a routine created under another database collation: it must
 *   act on the database being loaded, never on the live one or on a name that is not there;
 * - `LOCK TABLES \`orders\` WRITE;` before a table whose DEFAULT reads a sequence: a one-connection
 *   load (a zstd backup, the drill) must not meet ERROR 1100.
 */
import { rm } from 'node:fs/promises'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { NASTY_PASSWORD, checksums, dropDatabases, mysqlEnv, rootQuery } from '../backup/mysql-support.js'
import { uniqueName } from '../support/servers.js'
import { backupNow, cli, makeAdminUser, readManifest } from './support.js'

/** The database's default collation, or undefined when it does not exist. */
async function collationOf(db: string): Promise<string | undefined> {
  const rows = await rootQuery<{ c: string }[]>(
    'SELECT DEFAULT_COLLATION_NAME AS c FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?',
    [db],
  )
  return rows[0]?.c
}

/** The database collation the server stored with each routine of `db` (what it was created under). */
async function routineCollations(db: string): Promise<Record<string, string>> {
  const rows = await rootQuery<{ n: string; c: string }[]>(
    'SELECT ROUTINE_NAME AS n, DATABASE_COLLATION AS c FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = ?',
    [db],
  )
  return Object.fromEntries(rows.map((r) => [r.n, r.c]))
}

describe('MySQL restore of a routine created under another database collation', () => {
  const db = uniqueName('coll')
  const into = uniqueName('coll_into')
  let dir: string
  let env: Record<string, string>
  let original: Record<string, string>

  beforeAll(async () => {
    // The procedure is created while the database is latin1; the database is utf8mb4 since.
    await rootQuery(`CREATE DATABASE \`${db}\` CHARACTER SET latin1`)
    await rootQuery(
      `CREATE TABLE t (id INT PRIMARY KEY); INSERT INTO t VALUES (1), (2);
       CREATE DEFINER = root@localhost PROCEDURE p() SELECT COUNT(*) FROM t;
       ALTER DATABASE \`${db}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`,
      [],
      db,
    )
    ;({ dir, env } = await mysqlEnv(db, await makeAdminUser()))
    original = await checksums(db)
    expect(await routineCollations(db)).toEqual({ p: 'latin1_swedish_ci' })
    const [result] = await backupNow(env)
    expect(result!.path).toMatch(/\.sql\.gz$/)
    expect((await readManifest(result!.path!)).restoreNeeds?.definers).toContain('root@localhost')
  })
  afterAll(async () => {
    await dropDatabases(db, into)
    await rm(dir, { recursive: true, force: true })
  })

  it('in place, failing at the DEFINER after the ALTER DATABASE line: the live database keeps its collation', async () => {
    // Every right on the database and beside it, but not SET USER: CREATE DEFINER=root fails (ERROR 1227).
    const user = uniqueName('nodefiner')
    await rootQuery("CREATE USER ?@'%' IDENTIFIED BY ?", [user, NASTY_PASSWORD])
    await rootQuery(`GRANT ALL PRIVILEGES ON \`${db}\`.* TO ?@'%'`, [user])
    await rootQuery(`GRANT ALL PRIVILEGES ON \`${db.replace(/_/g, '\\_')}\\_dbk%\`.* TO ?@'%'`, [user])
    await rootQuery("GRANT SELECT ON mysql.proc TO ?@'%'", [user])
    const r = await cli(['restore', 'latest', '--source', 'maria', '--yes', '--no-safety-backup'], {
      ...env,
      DB01_USER: user,
    })
    expect(r.exitCode, r.all).toBe(1)
    expect(r.stderr).toContain('ERROR 1227')
    expect(r.stderr).toContain('was not changed')
    expect(await collationOf(db)).toBe('utf8mb4_unicode_ci')
    expect(await checksums(db)).toEqual(original)
    expect(await routineCollations(db)).toEqual({ p: 'latin1_swedish_ci' })
  })

  it('passes a drill, the original database untouched', async () => {
    const d = await cli(['verify', 'latest', '--source', 'maria', '--drill'], env)
    expect(d.exitCode, d.all).toBe(0)
    expect(await collationOf(db)).toBe('utf8mb4_unicode_ci')
  })

  it('--into a new name while the original is not on the server: the routine keeps its collation', async () => {
    await dropDatabases(db)
    const r = await cli(['restore', 'latest', '--source', 'maria', '--into', into, '--yes'], env)
    expect(r.exitCode, r.all).toBe(0)
    expect(await collationOf(db)).toBeUndefined()
    expect(await checksums(into)).toEqual(original)
    expect(await routineCollations(into)).toEqual({ p: 'latin1_swedish_ci' })
  })
})

describe('MySQL restore of a table whose DEFAULT reads a sequence, from a zstd backup', () => {
  const db = uniqueName('seqdef')
  const into = uniqueName('seqdef_into')
  let dir: string
  let env: Record<string, string>
  let original: Record<string, string>

  beforeAll(async () => {
    await rootQuery(`CREATE DATABASE \`${db}\``)
    await rootQuery(
      `CREATE SEQUENCE s; CREATE TABLE orders (id INT PRIMARY KEY DEFAULT NEXTVAL(s), note VARCHAR(20));
       INSERT INTO orders (note) VALUES ('a'), ('b')`,
      [],
      db,
    )
    ;({ dir, env } = await mysqlEnv(db, await makeAdminUser()))
    env = { ...env, COMPRESSION: 'zstd' }
    original = await checksums(db)
    const [result] = await backupNow(env)
    // Loaded on one connection: a zstd file has no gzip members to load in parallel.
    expect(result!.path).toMatch(/\.sql\.zst$/)
  })
  afterAll(async () => {
    await dropDatabases(db, into)
    await rm(dir, { recursive: true, force: true })
  })

  it('is restored --into a new database exactly, and in place', async () => {
    const r = await cli(['restore', 'latest', '--source', 'maria', '--into', into, '--yes'], env)
    expect(r.exitCode, r.all).toBe(0)
    expect(await checksums(into)).toEqual(original)

    await rootQuery(`DELETE FROM \`${db}\`.orders WHERE note = 'b'`)
    const back = await cli(['restore', 'latest', '--source', 'maria', '--yes', '--no-safety-backup'], env)
    expect(back.exitCode, back.all).toBe(0)
    expect(await checksums(db)).toEqual(original)
  })

  it('passes a drill', async () => {
    const d = await cli(['verify', 'latest', '--source', 'maria', '--drill'], env)
    expect(d.exitCode, d.all).toBe(0)
  })
})
