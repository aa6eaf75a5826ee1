/**
 * What a PostgreSQL restore calls an empty database (restore-driver.ts inspect): an empty one is
 * replaced without a safety backup, so anything a fresh database from template0 lacks must count —
 * not only relations and functions, but large objects, types, schemas, text search configurations.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { PostgresDriver } from '../../../src/engines/postgres/restore-driver.js'
import { uniqueName } from '../../support/servers.js'
import { pgSource, privateDir, removeDir, sql } from './helpers.js'

let work: string
const made: string[] = []

beforeAll(async () => {
  work = await privateDir()
})
afterAll(async () => {
  for (const db of made) await sql('postgres', `DROP DATABASE IF EXISTS ${db}`)
  await removeDir(work)
})

/** The driver's verdict on a new database from template0 after `statement`. */
async function inspectAfter(statement: string): Promise<{ exists: boolean; empty: boolean }> {
  const db = uniqueName('pg_inspect')
  made.push(db)
  await sql('postgres', `CREATE DATABASE ${db} TEMPLATE template0`)
  if (statement !== '') await sql(db, statement)
  const driver = new PostgresDriver({
    source: pgSource({ databases: [db] }),
    backup: { id: 'x', database: db, format: 'sql', tool: { version: '15', options: [] } },
    target: db,
    replace: true,
    workDir: work,
  })
  return driver.inspect(new AbortController().signal)
}

describe('an empty PostgreSQL database (inspect)', () => {
  it('is one just created from template0', async () => {
    expect(await inspectAfter('')).toEqual({ exists: true, empty: true })
  })

  it.each([
    ['a large object', "SELECT lo_from_bytea(0, 'precious')"],
    ['an enum type', "CREATE TYPE mood AS ENUM ('happy')"],
    ['a domain', 'CREATE DOMAIN positive AS int CHECK (VALUE > 0)'],
    ['a schema', 'CREATE SCHEMA empty_but_named'],
    ['a function', "CREATE FUNCTION f() RETURNS int LANGUAGE sql AS 'SELECT 1'"],
    ['a text search configuration', 'CREATE TEXT SEARCH CONFIGURATION tsc (COPY = english)'],
    ['a collation', "CREATE COLLATION coll (locale = 'C')"],
    ['a foreign data wrapper', 'CREATE FOREIGN DATA WRAPPER w'],
  ])('is not one holding only %s', async (_what, statement) => {
    expect(await inspectAfter(statement)).toEqual({ exists: true, empty: false })
  })
})
