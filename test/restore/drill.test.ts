/**
 * `dbkeeper verify [--drill]` for every engine: a good backup passes (restored into a scratch
 * database, re-dumped, identical); tampered ones fail — a flipped byte at verification, a bad
 * statement at the restore, content that restores differently at the comparison — and the scratch
 * database is dropped every time. The daemon's drill job records its result in the journal.
 */
import { readFileSync, writeFileSync } from 'node:fs'
import { mkdir, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { readRuns } from '../../src/catalog/journal.js'
import type { VerifyJson } from '../../src/cli/commands/verify.js'
import { parseConfig } from '../../src/config/index.js'
import { runDrills } from '../../src/restore/drill-run.js'
import { dropDatabases, makeRichDatabase, mysqlEnv, rootQuery } from '../backup/mysql-support.js'
import { server, sql } from '../engines/postgres/helpers.js'
import { captureLogger } from '../support/logs.js'
import { pgAdmin, uniqueName } from '../support/servers.js'
import { makeSqliteDb } from '../support/sqlite.js'
import { backupNow, cli, flipByte, insertLine, writeResignedBackup } from './support.js'

async function verify(
  env: Record<string, string>,
  ...args: string[]
): Promise<{ exitCode: number; results: VerifyJson[]; all: string }> {
  const r = await cli(['verify', '--json', ...args], env)
  return { exitCode: r.exitCode, results: r.stdout.trim() ? (JSON.parse(r.stdout) as VerifyJson[]) : [], all: r.all }
}

async function mysqlScratch(): Promise<string[]> {
  return (
    await rootQuery<{ n: string }[]>(
      "SELECT SCHEMA_NAME AS n FROM information_schema.SCHEMATA WHERE SCHEMA_NAME LIKE 'dbkeeper\\_drill\\_%'",
    )
  ).map((r) => r.n)
}

describe('drills of MariaDB backups', () => {
  let db: string
  let dir: string
  let env: Record<string, string>
  let good: string

  beforeAll(async () => {
    ;({ db } = await makeRichDatabase(20_000))
    ;({ dir, env } = await mysqlEnv(db, 'root'))
    delete env.DB01_PASS_FILE
    good = (await backupNow(env))[0]!.path!
  })
  afterAll(async () => {
    await dropDatabases(db)
    await rm(dir, { recursive: true, force: true })
  })

  it('verify (no drill) re-reads the latest backup of every database', async () => {
    const r = await verify(env)
    expect(r.exitCode, r.all).toBe(0)
    expect(r.results).toMatchObject([{ source: 'maria', database: db, ok: true }])
    expect(r.results[0]!.drill).toBeUndefined()
  })

  it('a good backup passes the drill: restored, re-dumped, identical; scratch dropped', async () => {
    const r = await verify(env, 'latest', '--source', 'maria', '--drill')
    expect(r.exitCode, r.all).toBe(0)
    expect(r.results[0]!.drill).toMatchObject({
      ok: true,
      scratch: expect.stringMatching(/^dbkeeper_drill_[0-9a-f]{8}$/),
    })
    expect(r.results[0]!.drill!.compared).toBeGreaterThan(20_000)
    expect(await mysqlScratch()).toEqual([])
  })

  it('content that restores differently fails at the comparison, naming the line', async () => {
    // Signed consistently (verification passes): the extra DELETE is in the backup, not in a re-dump.
    const { manifest } = await writeResignedBackup(
      good,
      (raw) => insertLine(raw, /^-- Dumping events for database/, 'DELETE FROM `big` WHERE id = 7;').content,
      2,
    )
    const r = await verify(env, manifest.id, '--source', 'maria', '--drill')
    expect(r.exitCode, r.all).toBe(1)
    expect(r.results[0]).toMatchObject({ ok: false, drill: { ok: false }, error: { code: 'RESTORE_FAILED' } })
    // The first line that differs: row 7, which the backup's own DELETE removed from the restored table.
    expect(r.results[0]!.error!.message).toMatch(
      /differs from the backup at line \d+ of the backup:\n {2}backup: {2}\(7,NULL,8\.75,.*\n {2}re-dump: \(8,'row 8'/,
    )
    expect(await mysqlScratch()).toEqual([])
  })

  it('a statement that fails fails the drill with the line; a flipped byte fails verification', async () => {
    const bad = await writeResignedBackup(
      good,
      (raw) => insertLine(raw, /^-- Table structure for table `texts`/, 'SELEC 1;').content,
      3,
    )
    const r = await verify(env, bad.manifest.id, '--source', 'maria', '--drill')
    expect(r.exitCode).toBe(1)
    expect(r.results[0]!.error!.message).toMatch(
      /^drill of \S+ failed: mariadb stopped at the first failing statement at line \d+ .*ERROR 1064/,
    )
    expect(await mysqlScratch()).toEqual([])

    const flipped = await writeResignedBackup(good, (raw) => raw, 4)
    await flipByte(flipped.path)
    for (const drill of [[], ['--drill']]) {
      const v = await verify(env, flipped.manifest.id, '--source', 'maria', ...drill)
      expect(v.exitCode).toBe(1)
      expect(v.results[0]!.error).toMatchObject({ code: 'VERIFY_FAILED' })
    }
    for (const p of [bad.path, flipped.path]) await rm(p)
  })
})

describe('drills of PostgreSQL and SQLite backups', () => {
  const db = uniqueName('pgdrill')
  let dir: string
  let env: Record<string, string>

  beforeAll(async () => {
    await sql('postgres', `CREATE DATABASE ${db} TEMPLATE template0`)
    await sql(
      db,
      `CREATE TABLE t (id int PRIMARY KEY, v text, j jsonb); INSERT INTO t SELECT g, CASE WHEN g % 10 = 0 THEN '-- like a comment' ELSE 'v' || g END, '{"a":1}' FROM generate_series(1, 2000) g;
      CREATE VIEW v AS SELECT count(*) FROM t`,
    )
    dir = await mkdtemp(join(tmpdir(), 'dbk-drill-'))
    await mkdir(join(dir, 'data'))
    makeSqliteDb(join(dir, 'data', 'notes.db'), 3000)
    const info = server()
    env = {
      DB01_TYPE: 'postgres',
      DB01_HOST: info.host,
      DB01_PORT: String(info.port),
      DB01_USER: info.user,
      DB01_NAME: db,
      DB01_LABEL: 'pg',
      DB02_TYPE: 'sqlite',
      DB02_PATH: join(dir, 'data', 'notes.db'),
      DB02_LABEL: 'notes',
      BACKUP_DIR: join(dir, 'backups'),
    }
    await backupNow(env)
    await backupNow({ ...env, DB01_PG_FORMAT: 'custom' })
  })
  afterAll(async () => {
    await sql('postgres', `DROP DATABASE IF EXISTS ${db}`)
    await rm(dir, { recursive: true, force: true })
  })

  it('plain and custom PostgreSQL backups and an SQLite snapshot pass', async () => {
    const plain = (await verify(env, '--drill')).results
    expect(plain.map((r) => [r.source, r.ok])).toEqual([
      ['pg', true],
      ['notes', true],
    ])
    const all = await cli(['list', '--json', 'pg'], env)
    const ids = (JSON.parse(all.stdout) as { id: string; path: string }[]).map((b) => b.id)
    for (const id of ids) expect((await verify(env, id, '--source', 'pg', '--drill')).exitCode).toBe(0)
    const c = await pgAdmin(server())
    expect((await c.query("SELECT datname FROM pg_database WHERE datname LIKE 'dbkeeper_drill_%'")).rows).toEqual([])
    await c.end()
  })

  it('a tampered SQLite snapshot (a row gone, manifest counts kept) fails; the daemon job journals it', async () => {
    const latest = JSON.parse((await cli(['list', '--json', 'notes'], env)).stdout) as { path: string }[]
    await writeResignedBackup(latest[0]!.path, (raw) => tamperSqlite(join(dir, 'tamper.db'), raw), 5)
    const config = parseConfig(env)
    const { logger } = captureLogger()
    const record = await runDrills(config, logger, new AbortController().signal)
    expect(record.trigger).toBe('drill')
    expect(record.results.map((r) => [r.source, r.ok])).toEqual([
      ['pg', true],
      ['notes', false],
    ])
    expect(record.results[1]!.error!.message).toMatch(/table items has 2999 rows, the backup has 3000/)
    expect(record.results[1]!.id).toBeUndefined()
    expect((await readRuns(config.backupDir)).at(-1)).toMatchObject({
      runId: record.runId,
      trigger: 'drill',
      ok: false,
    })
  })

  it('a tampered PostgreSQL backup (a row deleted inside it, signed consistently) fails at the comparison', async () => {
    const listed = JSON.parse((await cli(['list', '--json', 'pg'], env)).stdout) as { path: string }[]
    const plain = listed.find((b) => b.path.endsWith('.sql.gz'))!.path
    const tampered = await writeResignedBackup(
      plain,
      (raw) => insertLine(raw, /^ALTER TABLE ONLY/, 'DELETE FROM public.t WHERE id = 7;').content,
      60,
    )
    try {
      const r = await verify(env, tampered.manifest.id, '--source', 'pg', '--drill')
      expect(r.exitCode, r.all).toBe(1)
      expect(r.results[0]).toMatchObject({ ok: false, drill: { ok: false }, error: { code: 'RESTORE_FAILED' } })
      expect(r.results[0]!.error!.message).toMatch(/differs from the backup at line \d+ of the backup/)
      const c = await pgAdmin(server())
      expect((await c.query("SELECT datname FROM pg_database WHERE datname LIKE 'dbkeeper_drill_%'")).rows).toEqual([])
      await c.end()
    } finally {
      await tampered.remove()
    }
  })
})

/** The backup's database with one row deleted, through a temporary file. */
function tamperSqlite(path: string, raw: Buffer): Buffer {
  writeFileSync(path, raw)
  const db = new Database(path)
  db.prepare('DELETE FROM items WHERE id = 1').run()
  db.close()
  return readFileSync(path)
}
