/**
 * A PostgreSQL database of 3,000 tables, each with a serial key (9,000 relations and more), on the
 * server's default lock table (max_locks_per_transaction 64 × 100 connections = 6,400 slots): one
 * transaction cannot create it ("out of shared memory"), so the documented `psql
 * --single-transaction` failed, and so did every restore. Now: the backup warns by-hand
 * single-transaction users; `dbkeeper restore` in place and --into, the incident script and the
 * by-hand path of docs/RESTORE.md load statement by statement into a new database and restore it exactly.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { gunzipSync } from 'node:zlib'
import { execa } from 'execa'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { comparableDump, libpqEnv, pgCliEnv, server, sql } from '../engines/postgres/helpers.js'
import { trial } from '../support/faults/trials.js'
import { ROOT } from '../support/cli.js'
import { pgAdmin, uniqueName } from '../support/servers.js'
import { backupNow, cli, readManifest } from './support.js'

const TABLES = 3000
const SLOW = 400_000

/** The server's lock table in slots, as PostgreSQL sizes it. */
async function lockSlots(): Promise<{ maxLocks: number; slots: number }> {
  const c = await pgAdmin(server())
  try {
    const { rows } = await c.query<{
      l: number
      c: number
      p: number
    }>(`SELECT current_setting('max_locks_per_transaction')::int AS l,
      current_setting('max_connections')::int AS c, current_setting('max_prepared_transactions')::int AS p`)
    return { maxLocks: rows[0]!.l, slots: rows[0]!.l * (rows[0]!.c + rows[0]!.p) }
  } finally {
    await c.end()
  }
}

/** 3,000 tables in batches of 300: one transaction for all of them would itself run out of locks. */
async function createManyTables(db: string): Promise<void> {
  const c = await pgAdmin(server(), db)
  try {
    for (let from = 1; from <= TABLES; from += 300) {
      await c.query(`DO $$ BEGIN FOR i IN ${from}..${from + 299} LOOP
        EXECUTE format('CREATE TABLE public.t%s (id serial PRIMARY KEY, v text)', i);
        EXECUTE format('INSERT INTO public.t%s (v) VALUES (%L)', i, 'row of ' || i);
      END LOOP; END $$`)
    }
  } finally {
    await c.end()
  }
}

describe(`PostgreSQL: ${TABLES} tables on the default lock table`, () => {
  const db = uniqueName('pgmany')
  const into = uniqueName('pgmany_into')
  const byHand = uniqueName('pgmany_hand')
  let dir: string
  let env: Record<string, string>
  let original: string
  let plainPath: string

  beforeAll(async () => {
    // The point of this file: the global setup's server keeps PostgreSQL's default lock table.
    expect(await lockSlots()).toEqual({ maxLocks: 64, slots: 6400 })
    await sql('postgres', `CREATE DATABASE ${db} TEMPLATE template0`)
    await createManyTables(db)
    original = await comparableDump(db)
    dir = await mkdtemp(join(tmpdir(), 'dbk-pgmany-'))
    env = pgCliEnv(db, dir)
    plainPath = (await backupNow(env))[0]!.path!
  }, SLOW)
  afterAll(async () => {
    for (const name of [db, into, byHand]) await sql('postgres', `DROP DATABASE IF EXISTS ${name}`)
    await rm(dir, { recursive: true, force: true })
  })

  it(
    'the backup records the relations and warns single-transaction users, whose path indeed fails',
    async () => {
      const needs = (await readManifest(plainPath)).restoreNeeds!
      // Per table: itself, its sequence, its key's index, its TOAST table and TOAST index.
      expect(needs.relations).toBe(TABLES * 5)
      expect(needs.warnings).toHaveLength(1)
      expect(needs.warnings![0]).toMatch(
        /^for `psql --single-transaction` \/ `pg_restore --single-transaction` by hand only: the backup creates 15000 relations, more than .* = 6400/,
      )
      expect(needs.warnings![0]).toContain('set max_locks_per_transaction = 150 and restart the server')

      await sql('postgres', `CREATE DATABASE ${byHand} TEMPLATE template0`)
      const single = await execa(
        'bash',
        [
          '-c',
          'gunzip -c "$1" | psql -X -q --single-transaction -v ON_ERROR_STOP=1 -d "$2" >/dev/null',
          'bash',
          plainPath,
          byHand,
        ],
        {
          env: libpqEnv(),
          extendEnv: false,
          reject: false,
        },
      )
      expect(single.exitCode).not.toBe(0)
      expect(single.stderr).toContain('out of shared memory')
    },
    SLOW,
  )

  it(
    'the by-hand path docs/RESTORE.md gives instead (new database, then renamed) works',
    async () => {
      const doc = await readFile(join(ROOT, 'docs', 'RESTORE.md'), 'utf8')
      const block = /```bash\n(createdb -T template0 shop_new\n[\s\S]*?)```/.exec(doc)![1]!
      const file = join(dir, 'dump.sql')
      await writeFile(file, gunzipSync(await readFile(plainPath)))
      const script = block.replaceAll('shop.sql', file).replace(/\bshop(?=(_new|_old)?\b)/g, db)
      const r = await execa('bash', ['-c', script], { env: libpqEnv(), extendEnv: false, reject: false, timeout: SLOW })
      expect(r.exitCode, r.stderr).toBe(0)
      expect(r.stdout, r.stderr).toContain('restored: check the application')
      expect(await comparableDump(db)).toBe(original)
      await sql('postgres', `DROP DATABASE ${db}_old`)
    },
    SLOW,
  )

  it(
    'restore latest in place (safety backup, staged load, swap) brings all tables back',
    async () => {
      await trial(
        `adversarial restore: PostgreSQL ${TABLES} tables on the default lock table`,
        'dbkeeper restore in place',
        async () => {
          await sql(db, 'DROP TABLE public.t7; DELETE FROM public.t2999')
          const r = await cli(['restore', 'latest', '--source', 'pg', '--database', db, '--yes'], env)
          expect(r.exitCode, r.all).toBe(0)
          expect(r.stderr).toMatch(new RegExp(`check ok: ${TABLES} tables, 3,000 rows`))
          expect(await comparableDump(db)).toBe(original)
        },
      )
    },
    SLOW,
  )

  it(
    'restore --into a new database from a custom-format backup (pg_restore)',
    async () => {
      await trial(
        `adversarial restore: PostgreSQL ${TABLES} tables on the default lock table`,
        'dbkeeper restore --into (custom format)',
        async () => {
          const custom = (await backupNow({ ...env, DB01_PG_FORMAT: 'custom' }))[0]!
          const r = await cli(['restore', custom.id!, '--source', 'pg', '--into', into, '--yes'], env)
          expect(r.exitCode, r.all).toBe(0)
          expect(await comparableDump(into)).toBe(original)
        },
      )
    },
    SLOW,
  )

  it(
    'the incident script restores it in place',
    async () => {
      await trial(
        `adversarial restore: PostgreSQL ${TABLES} tables on the default lock table`,
        'scripts/restore-postgres.sh in place',
        async () => {
          await sql(db, 'DROP TABLE public.t11')
          const info = server()
          const r = await execa(
            'bash',
            [
              join(ROOT, 'scripts', 'restore-postgres.sh'),
              '--host',
              info.host,
              '--port',
              String(info.port),
              '--user',
              info.user,
              '--safety-dir',
              dir,
              '--yes',
              plainPath,
            ],
            { env: { PATH: process.env.PATH ?? '' }, extendEnv: false, reject: false, stdin: 'ignore', timeout: SLOW },
          )
          expect(r.exitCode, r.stderr).toBe(0)
          expect(r.stdout).toMatch(/public\.t11\s+1 rows/)
          expect(r.stdout.match(/^ {2}public\.t\d+\s+1 rows$/gm)).toHaveLength(TABLES)
          expect(await comparableDump(db)).toBe(original)
        },
      )
    },
    SLOW,
  )
})
