/**
 * PostgreSQL backups that are restorable, not just readable (issue 14), against the private
 * PostgreSQL 15 through the real CLI: a range-partitioned table (3 partitions and a default one,
 * analysed, so the parent's estimate is the total) restores in place and --into and passes a drill
 * with its data exact; a backup needing an extension the server cannot install is refused before
 * anything is touched (and one it can, pg_trgm, restores); a load that fails at its last statement
 * leaves the target as it was and no staging database behind.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { VerifyJson } from '../../src/cli/commands/verify.js'
import { comparableDump, databasesLike, pgCliEnv, sql } from '../engines/postgres/helpers.js'
import { trial } from '../support/faults/trials.js'
import { uniqueName } from '../support/servers.js'
import { backupNow, cli, insertLine, readManifest, writeResignedBackup } from './support.js'

const SCHEMA = `CREATE EXTENSION pg_trgm; CREATE SCHEMA shop;
  CREATE TABLE shop.events (id bigserial, at date NOT NULL, payload text, PRIMARY KEY (id, at)) PARTITION BY RANGE (at);
  CREATE TABLE shop.events_2024 PARTITION OF shop.events FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
  CREATE TABLE shop.events_2025 PARTITION OF shop.events FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
  CREATE TABLE shop.events_2026 PARTITION OF shop.events FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
  CREATE TABLE shop.events_other PARTITION OF shop.events DEFAULT;
  CREATE INDEX events_payload_trgm ON shop.events USING gin (payload gin_trgm_ops);
  INSERT INTO shop.events (at, payload) SELECT date '2023-07-01' + (g % 1400), 'event ' || g FROM generate_series(1, 12000) g;
  ANALYZE shop.events;`

describe('PostgreSQL: partitioned tables, extensions, a failed load', () => {
  const db = uniqueName('pgpart')
  const into = uniqueName('pgpart_into')
  let dir: string
  let env: Record<string, string>
  let original: string
  let plainPath: string

  beforeAll(async () => {
    await sql('postgres', `CREATE DATABASE ${db} TEMPLATE template0`)
    await sql(db, SCHEMA)
    original = await comparableDump(db)
    dir = await mkdtemp(join(tmpdir(), 'dbk-pgpart-'))
    env = pgCliEnv(db, dir)
    plainPath = (await backupNow(env))[0]!.path!
  })
  afterAll(async () => {
    for (const name of [db, into]) await sql('postgres', `DROP DATABASE IF EXISTS ${name}`)
    await rm(dir, { recursive: true, force: true })
  })

  it('the manifest counts a partitioned table through its partitions and records what a restore needs', async () => {
    const m = await readManifest(plainPath)
    const rows = Object.fromEntries(m.tables.map((t) => [t.name, t.rows]))
    expect(rows['shop.events']).toBe(12_000)
    expect(['2024', '2025', '2026', 'other'].map((p) => rows[`shop.events_${p}`]! > 0)).toEqual([
      true,
      true,
      true,
      true,
    ])
    expect(
      rows['shop.events_2024']! + rows['shop.events_2025']! + rows['shop.events_2026']! + rows['shop.events_other']!,
    ).toBe(12_000)
    expect(m.restoreNeeds).toMatchObject({ partitioned: ['shop.events'], extensions: ['pg_trgm'] })
    // 5 tables, 5 primary-key indexes, 5 GIN indexes, 1 sequence, 4 TOAST tables with their indexes (not the parent's).
    expect(m.restoreNeeds!.relations).toBe(24)
    expect(m.restoreNeeds!.warnings).toBeUndefined()
  })

  it('restore latest in place: every row back in its partition, check ok', async () => {
    await sql(db, `DELETE FROM shop.events WHERE at >= '2025-01-01'; DROP TABLE shop.events_other`)
    const r = await cli(['restore', 'latest', '--source', 'pg', '--database', db, '--yes', '--no-safety-backup'], env)
    expect(r.exitCode, r.all).toBe(0)
    // 5 tables, 12,000 rows: the parent's rows are its partitions', counted once.
    expect(r.stderr).toMatch(/check ok: 5 tables, 12,000 rows/)
    expect(await comparableDump(db)).toBe(original)
    expect(await databasesLike(`${db}_dbk%`)).toEqual([])
  })

  it('restore --into a new database, plain and custom format', async () => {
    const custom = (await backupNow({ ...env, DB01_PG_FORMAT: 'custom' }))[0]!
    for (const id of [(await readManifest(plainPath)).id, custom.id!]) {
      const r = await cli(['restore', id, '--source', 'pg', '--into', into, '--yes'], env)
      expect(r.exitCode, r.all).toBe(0)
      expect(r.stderr).toMatch(/check ok: 5 tables, 12,000 rows/)
      expect(await comparableDump(into)).toBe(original)
      await sql('postgres', `DROP DATABASE ${into}`)
    }
  })

  it('verify --drill passes for the plain and the custom backup (restored, counted, re-dumped, identical)', async () => {
    const listed = JSON.parse((await cli(['list', '--json', 'pg'], env)).stdout) as { id: string }[]
    expect(listed.length).toBe(2)
    for (const { id } of listed) {
      const r = await cli(['verify', '--json', id, '--source', 'pg', '--drill'], env)
      expect(r.exitCode, r.all).toBe(0)
      expect((JSON.parse(r.stdout) as VerifyJson[])[0]).toMatchObject({ ok: true, drill: { ok: true } })
    }
    expect(await databasesLike('dbkeeper_drill_%')).toEqual([])
  })

  it('a backup needing extensions the server cannot install is refused before anything is touched', async () => {
    await trial(
      'adversarial restore: PostgreSQL extension missing on the target',
      'postgis and an unknown extension, in place and --into',
      async () => {
        const old = await readManifest(plainPath)
        const patch = { restoreNeeds: { ...old.restoreNeeds, extensions: ['pg_trgm', 'postgis', 'no_such_extension'] } }
        const bad = await writeResignedBackup(plainPath, (raw) => raw, 5, patch)
        try {
          await sql(db, `INSERT INTO shop.events (at, payload) VALUES ('2024-02-02', 'after the backup')`)
          const before = await comparableDump(db)
          for (const target of [[], ['--into', into]]) {
            const r = await cli(
              ['restore', bad.manifest.id, '--source', 'pg', ...target, '--yes', '--no-safety-backup'],
              env,
            )
            expect(r.exitCode, r.all).toBe(1)
            expect(r.stderr).toMatch(
              /was not changed: the backup creates the extensions postgis, no_such_extension, which the PostgreSQL 15 server \S+ cannot install/,
            )
            expect(r.stderr).toContain('postgis: install the package postgresql-15-postgis-3 on the server')
            expect(r.stderr).toContain('no_such_extension: install the extension no_such_extension on the server')
          }
          expect(await comparableDump(db)).toBe(before)
          expect(await databasesLike(`${db}_dbk%`)).toEqual([])
          expect(await databasesLike(into)).toEqual([])
        } finally {
          await bad.remove()
        }
      },
    )
  })

  it('a load that fails at its last statement leaves the target as it was and no staging database', async () => {
    await trial(
      'adversarial restore: PostgreSQL load fails at the last statement',
      'in place (staged, swapped) and --into (new database)',
      async () => {
        let line = 0
        const bad = await writeResignedBackup(
          plainPath,
          (raw) => {
            const t = insertLine(raw, /^-- PostgreSQL database dump complete/, 'SELECT no_such_function();')
            line = t.line
            return t.content
          },
          7,
        )
        try {
          await sql(db, `DELETE FROM shop.events WHERE at < '2024-06-01'`)
          const before = await comparableDump(db)
          const inPlace = await cli(['restore', bad.manifest.id, '--source', 'pg', '--yes', '--no-safety-backup'], env)
          expect(inPlace.exitCode, inPlace.all).toBe(1)
          expect(inPlace.stderr).toContain(`psql:<stdin>:${line}: ERROR:  function no_such_function() does not exist`)
          expect(inPlace.stderr).toMatch(
            /database "[^"]+" on \S+ was not changed \(the backup was loaded into a new database, dropped again\)/,
          )
          expect(await comparableDump(db)).toBe(before)
          expect(await databasesLike(`${db}_dbk%`)).toEqual([])

          const fresh = await cli(['restore', bad.manifest.id, '--source', 'pg', '--into', into, '--yes'], env)
          expect(fresh.exitCode, fresh.all).toBe(1)
          expect(fresh.stderr).toMatch(/was not created \(the half-loaded new database was dropped again\)/)
          expect(await databasesLike(into)).toEqual([])

          const drill = await cli(['verify', '--json', bad.manifest.id, '--source', 'pg', '--drill'], env)
          expect(drill.exitCode, drill.all).toBe(1)
          expect(await databasesLike('dbkeeper_drill_%')).toEqual([])
        } finally {
          await bad.remove()
        }
      },
    )
  })
})
