/**
 * Restores and verification against the private server: awkward database names, the globals
 * backup, a restore that stops at the first SQL error, and custom archives that do not read back.
 */
import { createReadStream } from 'node:fs'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { createGunzip } from 'node:zlib'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { GLOBALS_DATABASE, PostgresEngine } from '../../../src/engines/postgres/engine.js'
import { verifyCustomArchive, verifyCustomArchiveStream } from '../../../src/engines/postgres/verify.js'
import { pgAdmin, uniqueName } from '../../support/servers.js'
import {
  comparableDump,
  dumpToGzip,
  failure,
  gunzipFile,
  headTail,
  pgSource,
  privateDir,
  removeDir,
  server,
  sql,
} from './helpers.js'

const signal = () => new AbortController().signal
const query = async (text: string) => {
  const client = await pgAdmin(server())
  try {
    return (await client.query(text)).rows
  } finally {
    await client.end()
  }
}
let work: string
// A leading dash (an option?), '=' (a connection string?), quotes and a backslash.
const awkward = `-x=y 'q' \\ ${uniqueName('db')}`
const plainDb = uniqueName('pg_restore_src')
const created: string[] = []

beforeAll(async () => {
  work = await privateDir()
  await sql('postgres', `CREATE DATABASE "${awkward}"`)
  await sql(awkward, `CREATE TABLE t (v text); INSERT INTO t VALUES ('in the awkward one')`)
  await sql('postgres', `CREATE DATABASE ${plainDb}`)
  await sql(
    plainDb,
    `CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t SELECT g, 'row ' || g FROM generate_series(1, 3000) g`,
  )
})

afterAll(async () => {
  for (const db of [awkward, plainDb, ...created]) await sql('postgres', `DROP DATABASE IF EXISTS "${db}"`)
  await removeDir(work)
})

describe('PostgreSQL names, globals and restores', () => {
  it('a database named like an option and a connection string is dumped and restored by name', async () => {
    const engine = new PostgresEngine(pgSource({ databases: 'ALL' }), work)
    expect((await engine.probe(signal())).databases.map((d) => d.name)).toContain(awkward)
    const file = join(work, 'awkward.sql.gz')
    await dumpToGzip(engine, awkward, file)
    const target = `${awkward} restored`
    await engine.createDatabase(target)
    created.push(target)
    await engine.restore(createReadStream(file).pipe(createGunzip()), target)
    expect(await comparableDump(target)).toBe(await comparableDump(awkward))
    expect(await comparableDump(target)).toContain('in the awkward one')
  })

  it('globals: pg_dumpall --globals-only with its own end marker, filed as _globals.sql, restorable', async () => {
    const role = uniqueName('dbk_global')
    await sql('postgres', `CREATE ROLE ${role} LOGIN PASSWORD 'global pw' CONNECTION LIMIT 3`)
    const hash = `SELECT rolpassword, rolconnlimit FROM pg_authid WHERE rolname = '${role}'`
    const before = await query(hash)
    const engine = new PostgresEngine(pgSource({ pgGlobals: true }), work)
    const globals = engine.globalsEngine()
    expect(GLOBALS_DATABASE).toBe('_globals')
    expect(globals.contentExt).toBe('sql')
    const dump = globals.dump(GLOBALS_DATABASE, signal())
    const chunks: Buffer[] = []
    for await (const chunk of dump.stdout) chunks.push(chunk as Buffer)
    const result = await dump.done
    expect(result.options).toContain('--globals-only')
    const raw = Buffer.concat(chunks)
    expect(raw.toString()).toMatch(/CREATE ROLE "?postgres"?;/)
    expect(globals.checkContent(...headTail(raw))).toBeUndefined()
    // A database dump's marker is not the cluster's, and the reverse.
    expect(engine.checkContent(...headTail(raw))).toMatch(/missing/)

    // Restored onto a cluster where the role is gone and `postgres` exists ("already exists" is expected).
    await sql('postgres', `DROP ROLE ${role}`)
    await engine.restoreGlobals(Readable.from([raw]))
    expect(await query(hash)).toEqual(before)
    await sql('postgres', `DROP ROLE ${role}`)
  })

  it("a restore stops at the first SQL error and reports psql's line (statement by statement: the caller drops the database)", async () => {
    const engine = new PostgresEngine(pgSource(), work)
    const target = uniqueName('pg_restore_bad')
    await engine.createDatabase(target)
    created.push(target)
    const script =
      'CREATE TABLE kept (id int);\nINSERT INTO kept VALUES (1);\nINSERT INTO missing_table VALUES (2);\nCREATE TABLE after_error (id int);\n'
    const error = await failure(engine.restore(Readable.from([script]), target))
    expect(error).toMatchObject({ code: 'RESTORE_FAILED' })
    expect(error.message).toContain('psql:<stdin>:3: ERROR:  relation "missing_table" does not exist')
    // Not one transaction (restore/postgres.ts loads into a new database and drops it on failure).
    const left = await comparableDump(target)
    expect(left).toContain('kept')
    expect(left).not.toContain('after_error')
  })

  it('createDatabase refuses an existing name with RESTORE_FAILED', async () => {
    const engine = new PostgresEngine(pgSource(), work)
    await expect(engine.createDatabase(plainDb)).rejects.toMatchObject({
      code: 'RESTORE_FAILED',
      message: expect.stringContaining('already exists'),
    })
  })

  it('a custom archive cut short or corrupted does not verify; the whole one does', async () => {
    const engine = new PostgresEngine(pgSource({ pgFormat: 'custom' }), work)
    const gz = join(work, 'c.dump.gz')
    await dumpToGzip(engine, plainDb, gz)
    const raw = await gunzipFile(gz)
    const whole = join(work, 'whole.dump')
    const cut = join(work, 'cut.dump')
    const flipped = join(work, 'flipped.dump')
    await writeFile(whole, raw)
    await writeFile(cut, raw.subarray(0, Math.floor(raw.length * 0.6)))
    const damaged = Buffer.from(raw)
    damaged.fill(0xff, Math.floor(raw.length * 0.5), Math.floor(raw.length * 0.5) + 64)
    await writeFile(flipped, damaged)

    expect(await verifyCustomArchive(whole)).toBeUndefined()
    expect(await verifyCustomArchiveStream(createReadStream(gz).pipe(createGunzip()))).toBeUndefined()
    // The header is intact in both broken files: only reading the whole archive finds the damage.
    expect(engine.checkContent(...headTail(raw.subarray(0, 1000)))).toBeUndefined()
    expect(await verifyCustomArchive(cut)).toMatch(/^pg_restore cannot read the custom-format archive/)
    expect(await verifyCustomArchive(flipped)).toMatch(/^pg_restore cannot read the custom-format archive/)
  })

  it('a plain dump into custom-format verification, and a custom archive to checkContent of plain: refused', async () => {
    const plain = new PostgresEngine(pgSource(), work)
    const file = join(work, 'p.sql.gz')
    await dumpToGzip(plain, plainDb, file)
    expect(await verifyCustomArchiveStream(createReadStream(file).pipe(createGunzip()))).toMatch(/cannot read/)
    const custom = new PostgresEngine(pgSource({ pgFormat: 'custom' }), work)
    expect(custom.checkContent(...headTail(await gunzipFile(file)))).toMatch(/PGDMP/)
  })
})
