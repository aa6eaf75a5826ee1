/**
 * A PostgreSQL restore creates its database with the original's encoding and locale, not the
 * server's defaults (C.UTF-8 on the test server): a unique index on lower(name) that holds under
 * LC_CTYPE C comes back in place and --into; a LATIN1 database comes back LATIN1, an ICU one ICU; an older backup
 * without them keeps the replaced database's; a locale the server lacks is refused, nothing changed.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { comparableDump, databasesLike, localeOf, pgCliEnv, server, sql } from '../engines/postgres/helpers.js'
import { pgAdmin, uniqueName } from '../support/servers.js'
import { backupNow, cli, readManifest, writeResignedBackup } from './support.js'

describe('restore keeps the encoding and locale of a PostgreSQL database', () => {
  const cdb = uniqueName('pgloc_c')
  const latin = uniqueName('pgloc_latin')
  const intoC = uniqueName('pgloc_c_into')
  const intoLatin = uniqueName('pgloc_latin_into')
  let dir: string
  let cEnv: Record<string, string>
  let cPath: string

  beforeAll(async () => {
    await sql('postgres', `CREATE DATABASE ${cdb} ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0`)
    // Under LC_CTYPE C lower('É') is 'É', so both rows fit the index; under C.UTF-8 they collide.
    await sql(
      cdb,
      `CREATE TABLE users (name text); INSERT INTO users VALUES ('Émile'), ('émile'); CREATE UNIQUE INDEX ON users (lower(name))`,
    )
    await sql('postgres', `CREATE DATABASE ${latin} ENCODING 'LATIN1' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0`)
    await sql(latin, `CREATE TABLE t (s text); INSERT INTO t VALUES ('café'), ('Ærø')`)
    dir = await mkdtemp(join(tmpdir(), 'dbk-pgloc-'))
    cEnv = pgCliEnv(cdb, dir)
    cPath = (await backupNow(cEnv))[0]!.path!
  })
  afterAll(async () => {
    for (const name of [cdb, latin, intoC, intoLatin]) await sql('postgres', `DROP DATABASE IF EXISTS ${name}`)
    await rm(dir, { recursive: true, force: true })
  })

  it('the manifest records the encoding and locale', async () => {
    expect((await readManifest(cPath)).restoreNeeds?.databaseLocale).toEqual({
      encoding: 'UTF8',
      lcCollate: 'C',
      lcCtype: 'C',
      localeProvider: 'libc',
    })
  })

  it('a unique index that holds only under LC_CTYPE C restores in place and --into', async () => {
    const original = await comparableDump(cdb)
    const r = await cli(['restore', 'latest', '--source', 'pg', '--database', cdb, '--yes'], cEnv)
    expect(r.exitCode, r.all).toBe(0)
    expect(await localeOf(cdb)).toBe('UTF8 C C')
    expect(await comparableDump(cdb)).toBe(original)
    const into = await cli(['restore', 'latest', '--source', 'pg', '--database', cdb, '--into', intoC, '--yes'], cEnv)
    expect(into.exitCode, into.all).toBe(0)
    expect(await localeOf(intoC)).toBe('UTF8 C C')
    expect((await comparableDump(intoC)).replaceAll(intoC, '<db>')).toBe(original.replaceAll(cdb, '<db>'))
  })

  it('a LATIN1 database comes back LATIN1, its text intact', async () => {
    const env = pgCliEnv(latin, dir)
    await backupNow(env)
    const r = await cli(['restore', 'latest', '--source', 'pg', '--database', latin, '--into', intoLatin, '--yes'], env)
    expect(r.exitCode, r.all).toBe(0)
    expect(await localeOf(intoLatin)).toBe('LATIN1 C C')
    expect((await comparableDump(intoLatin)).replaceAll(intoLatin, '<db>')).toBe(
      (await comparableDump(latin)).replaceAll(latin, '<db>'),
    )
  })

  it('an ICU database comes back ICU, sorting numbers as numbers', async () => {
    const icu = uniqueName('pgloc_icu')
    const intoIcu = uniqueName('pgloc_icu_into')
    await sql('postgres', `CREATE DATABASE ${icu} LOCALE_PROVIDER icu ICU_LOCALE 'de-u-kn-true' TEMPLATE template0`)
    try {
      await sql(icu, `CREATE TABLE t (s text); INSERT INTO t VALUES ('a10'), ('a2')`)
      const env = pgCliEnv(icu, dir)
      await backupNow(env)
      const r = await cli(['restore', 'latest', '--source', 'pg', '--database', icu, '--into', intoIcu, '--yes'], env)
      expect(r.exitCode, r.all).toBe(0)
      const c = await pgAdmin(server(), intoIcu)
      try {
        const db = await c.query(
          'SELECT datlocprovider, daticulocale FROM pg_database WHERE datname = current_database()',
        )
        expect(db.rows).toEqual([{ datlocprovider: 'i', daticulocale: 'de-u-kn-true' }])
        expect((await c.query('SELECT s FROM t ORDER BY s')).rows.map((x) => x.s)).toEqual(['a2', 'a10'])
      } finally {
        await c.end()
      }
    } finally {
      for (const name of [icu, intoIcu]) await sql('postgres', `DROP DATABASE IF EXISTS ${name}`)
    }
  })

  it('an older backup without them keeps the locale of the database it replaces', async () => {
    const old = await readManifest(cPath)
    const { databaseLocale: _recorded, ...needs } = old.restoreNeeds ?? {}
    const { manifest, remove } = await writeResignedBackup(cPath, (raw) => raw, 30, { restoreNeeds: needs })
    try {
      const r = await cli(['restore', manifest.id, '--source', 'pg', '--yes', '--no-safety-backup'], cEnv)
      expect(r.exitCode, r.all).toBe(0)
      expect(await localeOf(cdb)).toBe('UTF8 C C')
    } finally {
      await remove()
    }
  })

  it('a locale the server lacks is refused by name, and the database is not changed', async () => {
    const old = await readManifest(cPath)
    const databaseLocale = { encoding: 'UTF8', lcCollate: 'xx_NOWHERE.UTF-8', lcCtype: 'xx_NOWHERE.UTF-8' }
    const { manifest, remove } = await writeResignedBackup(cPath, (raw) => raw, 40, {
      restoreNeeds: { ...old.restoreNeeds, databaseLocale },
    })
    try {
      await sql(cdb, `INSERT INTO users VALUES ('later')`)
      const before = await comparableDump(cdb)
      const r = await cli(['restore', manifest.id, '--source', 'pg', '--yes', '--no-safety-backup'], cEnv)
      expect(r.exitCode, r.all).toBe(1)
      expect(r.stderr).toMatch(/was not changed: .*cannot create database .*LC_COLLATE 'xx_NOWHERE\.UTF-8'/)
      expect(r.stderr).toMatch(/install that locale on the server .* and restore --into it/)
      expect(await comparableDump(cdb)).toBe(before)
      expect(await localeOf(cdb)).toBe('UTF8 C C')
      expect(await databasesLike(`${cdb}_dbk%`)).toEqual([])
    } finally {
      await remove()
    }
  })
})
