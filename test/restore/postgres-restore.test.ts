/**
 * `dbkeeper restore` against the private PostgreSQL 15, through the real CLI: plain and custom
 * format, replace (built aside and swapped in) and --into, a failing statement and a database in
 * use (both leave the target as it was), a database holding only a large object (not empty: a
 * safety backup first), and the _globals backup.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { comparableDump, databasesLike, largeObjects, pgCliEnv, server, sql } from '../engines/postgres/helpers.js'
import { pgAdmin, uniqueName } from '../support/servers.js'
import { backupNow, cli, insertLine, listNow, writeResignedBackup } from './support.js'

const SCHEMA = `CREATE SCHEMA shop; CREATE TYPE shop.state AS ENUM ('new', 'paid');
  CREATE SEQUENCE shop.invoice_no START 1000;
  CREATE TABLE shop.orders (id serial PRIMARY KEY, doc jsonb, tags text[], blob bytea, state shop.state, note text);
  INSERT INTO shop.orders (doc, tags, blob, state, note) SELECT jsonb_build_object('n', g, 'emoji', '🐘'), ARRAY['a', g::text],
    decode(md5(g::text), 'hex'), 'paid', CASE WHEN g % 100 = 0 THEN E'-- not a comment\\nline two' END FROM generate_series(1, 3000) g;
  CREATE VIEW shop.paid AS SELECT id FROM shop.orders WHERE state = 'paid';
  CREATE FUNCTION shop.touch() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN NEW.note := coalesce(NEW.note, 'touched'); RETURN NEW; END $$;
  CREATE TRIGGER orders_touch BEFORE INSERT ON shop.orders FOR EACH ROW EXECUTE FUNCTION shop.touch();
  CREATE TABLE public.plain (k text PRIMARY KEY); INSERT INTO public.plain VALUES ('x'), ('y');`

describe('restore into PostgreSQL', () => {
  const db = uniqueName('pgr')
  const into = uniqueName('pgr_into')
  let dir: string
  let env: Record<string, string>
  let original: string
  let plainPath: string

  beforeAll(async () => {
    await sql('postgres', `CREATE DATABASE ${db} TEMPLATE template0`)
    await sql(db, SCHEMA)
    original = await comparableDump(db)
    dir = await mkdtemp(join(tmpdir(), 'dbk-pgr-'))
    env = pgCliEnv(db, dir, { DB01_PG_GLOBALS: 'true' })
    plainPath = (await backupNow(env)).find((r) => r.database === db)!.path!
  })
  afterAll(async () => {
    for (const name of [db, into]) await sql('postgres', `DROP DATABASE IF EXISTS ${name}`)
    await rm(dir, { recursive: true, force: true })
  })

  it('replaces a changed database (plain dump); the safety backup brings the change back', async () => {
    await sql(
      db,
      `DELETE FROM shop.orders WHERE id <= 100; DROP VIEW shop.paid; CREATE TABLE public.added_later (id int)`,
    )
    const changed = await comparableDump(db)
    const r = await cli(['restore', 'latest', '--source', 'pg', '--database', db, '--yes'], env)
    expect(r.exitCode, r.all).toBe(0)
    expect(r.stderr).toMatch(/check ok: 2 tables/)
    expect(await comparableDump(db)).toBe(original)
    expect(await databasesLike(`${db}_dbk%`)).toEqual([])
    const safetyId = /safety backup (\S+)/.exec(r.stdout)![1]!
    expect((await listNow(env, 'pg')).find((b) => b.id === safetyId)?.kind).toBe('pre-restore')
    const back = await cli(['restore', safetyId, '--source', 'pg', '--yes', '--no-safety-backup'], env)
    expect(back.exitCode, back.all).toBe(0)
    expect(await comparableDump(db)).toBe(changed)
    expect(
      (await cli(['restore', 'latest', '--source', 'pg', '--database', db, '--yes', '--no-safety-backup'], env))
        .exitCode,
    ).toBe(0)
  })

  it('a database holding only a large object is not empty: replaced after a safety backup that brings it back', async () => {
    const lo = uniqueName('pgr_lo')
    const loEnv = pgCliEnv(lo, dir)
    await sql('postgres', `CREATE DATABASE ${lo} TEMPLATE template0`)
    try {
      await sql(lo, 'CREATE TABLE t (id int); INSERT INTO t VALUES (1)')
      await backupNow(loEnv)
      await sql(lo, `DROP TABLE t; SELECT lo_from_bytea(0, 'precious')`)
      const r = await cli(['restore', 'latest', '--source', 'pg', '--database', lo, '--yes'], loEnv)
      expect(r.exitCode, r.all).toBe(0)
      const safetyId = /safety backup (\S+)/.exec(r.stdout)?.[1]
      expect(safetyId, r.all).toBeDefined()
      expect(await largeObjects(lo)).toEqual([])
      const back = await cli(['restore', safetyId!, '--source', 'pg', '--yes', '--no-safety-backup'], loEnv)
      expect(back.exitCode, back.all).toBe(0)
      expect(await largeObjects(lo)).toEqual(['precious'])
    } finally {
      await sql('postgres', `DROP DATABASE IF EXISTS ${lo}`)
    }
  })

  it('a custom-format backup restores --into a new database, chosen by its extension', async () => {
    const customEnv = { ...env, DB01_PG_FORMAT: 'custom', DB01_PG_GLOBALS: 'false' }
    const custom = (await backupNow(customEnv))[0]!
    expect(custom.path).toMatch(/\.dump\.gz$/)
    // Configuration switched back to plain: the backup's own format still decides.
    const r = await cli(['restore', custom.id!, '--source', 'pg', '--into', into, '--yes'], env)
    expect(r.exitCode, r.all).toBe(0)
    expect((await comparableDump(into)).replaceAll(into, '<db>')).toBe(original.replaceAll(db, '<db>'))
  })

  it("a failing statement stops the restore with psql's line, and the database stays as it was", async () => {
    let line = 0
    const { manifest, remove } = await writeResignedBackup(
      plainPath,
      (raw) => {
        const t = insertLine(raw, /^CREATE VIEW/, 'INSERT INTO shop.no_such_table VALUES (1);')
        line = t.line
        return t.content
      },
      3,
    )
    try {
      await sql(db, "INSERT INTO public.plain VALUES ('kept')")
      const before = await comparableDump(db)
      const r = await cli(['restore', manifest.id, '--source', 'pg', '--yes', '--no-safety-backup'], env)
      expect(r.exitCode, r.all).toBe(1)
      expect(r.stderr).toContain(`psql:<stdin>:${line}: ERROR:  relation "shop.no_such_table" does not exist`)
      expect(r.stderr).toMatch(/database "[^"]+" on [^ ]+ was not changed/)
      expect(await comparableDump(db)).toBe(before)
      expect(await databasesLike(`${db}_dbk%`)).toEqual([])
    } finally {
      // The broken backup would otherwise be the newest: the next test restores `latest`.
      await remove()
    }
  })

  it('a database with open sessions is not replaced: nothing changes, a clear next step', async () => {
    const before = await comparableDump(db)
    const session = await pgAdmin(server(), db)
    try {
      const r = await cli(['restore', 'latest', '--source', 'pg', '--database', db, '--yes', '--no-safety-backup'], env)
      expect(r.exitCode, r.all).toBe(1)
      expect(r.stderr).toMatch(
        /is in use by other sessions, so it was not replaced; nothing was changed — stop the application/,
      )
    } finally {
      await session.end()
    }
    expect(await comparableDump(db)).toBe(before)
    expect(await databasesLike(`${db}_dbk%`)).toEqual([])
  })

  it('the _globals backup replays roles onto the server ("already exists" passes)', async () => {
    const role = uniqueName('dbk_role')
    await sql('postgres', `CREATE ROLE ${role} LOGIN CONNECTION LIMIT 4`)
    await backupNow(env)
    await sql('postgres', `DROP ROLE ${role}`)
    const r = await cli(['restore', 'latest', '--source', 'pg', '--database', '_globals', '--yes'], env)
    expect(r.exitCode, r.all).toBe(0)
    const c = await pgAdmin(server())
    try {
      expect((await c.query('SELECT rolconnlimit FROM pg_roles WHERE rolname = $1', [role])).rows).toEqual([
        { rolconnlimit: 4 },
      ])
      await c.query(`DROP ROLE ${role}`)
    } finally {
      await c.end()
    }
  })
})
