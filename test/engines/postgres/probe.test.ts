/**
 * The probe against the private PostgreSQL 15: what it reports, how `ALL` expands, and each way it
 * refuses (NOT_FOUND, VERSION, CONNECT, TOOL_MISSING, PRIVILEGE) with the variable to fix.
 */
import { fileURLToPath } from 'node:url'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { PostgresEngine } from '../../../src/engines/postgres/engine.js'
import { freePort, uniqueName } from '../../support/servers.js'
import { failure, pgSource, privateDir, removeDir, server, sql } from './helpers.js'

const OLD_PG_DUMP = fileURLToPath(new URL('../../fixtures/bin/pg_dump-old', import.meta.url))
const signal = () => new AbortController().signal
const PATH = process.env.PATH

let work: string
const app = uniqueName('pg_probe_app')
const other = uniqueName('pg_probe_other')
const template = uniqueName('pg_probe_tpl')
const closed = uniqueName('pg_probe_closed')
const reader = uniqueName('dbk_reader')

beforeAll(async () => {
  work = await privateDir()
  await sql('postgres', `CREATE DATABASE ${app}`)
  await sql('postgres', `CREATE DATABASE ${other}`)
  await sql('postgres', `CREATE DATABASE ${template} IS_TEMPLATE true`)
  await sql('postgres', `CREATE DATABASE ${closed} ALLOW_CONNECTIONS false`)
  await sql(
    app,
    `CREATE SCHEMA sales;
    CREATE TABLE sales.orders AS SELECT g AS id, repeat('x', 100) AS note FROM generate_series(1, 5000) g;
    CREATE TABLE public.secret (id int);
    CREATE TABLE public.measure (at date, v int) PARTITION BY RANGE (at);
    CREATE TABLE public.measure_2024 PARTITION OF public.measure FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
    ANALYZE;`,
  )
  await sql('postgres', `CREATE ROLE ${reader} LOGIN PASSWORD 'reader pw'`)
  await sql(
    app,
    `GRANT USAGE ON SCHEMA sales TO ${reader}; GRANT SELECT ON ALL TABLES IN SCHEMA sales TO ${reader}; REVOKE ALL ON public.secret FROM PUBLIC`,
  )
})

afterEach(() => {
  process.env.PATH = PATH
})

afterAll(async () => {
  await sql('postgres', `ALTER DATABASE ${template} IS_TEMPLATE false`)
  for (const db of [app, other, template, closed]) await sql('postgres', `DROP DATABASE IF EXISTS ${db}`)
  await sql('postgres', `DROP ROLE IF EXISTS ${reader}`)
  await removeDir(work)
})

describe('PostgresEngine.probe', () => {
  it('reports server and pg_dump versions and approximate table statistics', async () => {
    const result = await new PostgresEngine(pgSource({ databases: [app] }), work).probe(signal())
    expect(result.serverVersion).toBe(server().version)
    expect(result.tool.name).toBe('pg_dump')
    expect(result.tool.version).toMatch(/^\d+\.\d+/)
    expect(result.databases.map((d) => d.name)).toEqual([app])
    const tables = result.databases[0]!.tables
    expect(tables.map((t) => t.name)).toEqual([
      'public.measure',
      'public.measure_2024',
      'public.secret',
      'sales.orders',
    ])
    const orders = tables.find((t) => t.name === 'sales.orders')!
    expect(orders.rows).toBe(5000)
    expect(orders.bytes).toBeGreaterThan(500_000)
  })

  it('ALL expands to every connectable non-template database, postgres included', async () => {
    const result = await new PostgresEngine(pgSource({ databases: 'ALL' }), work).probe(signal())
    const names = result.databases.map((d) => d.name)
    expect(names).toEqual(expect.arrayContaining(['postgres', app, other]))
    for (const left of ['template0', 'template1', template, closed]) expect(names).not.toContain(left)
  })

  it('NOT_FOUND names every missing database and DB01_NAME', async () => {
    const missing = [uniqueName('nope'), uniqueName('nope')]
    const error = await failure(
      new PostgresEngine(pgSource({ databases: [missing[0]!, app, missing[1]!] }), work).probe(signal()),
    )
    expect(error).toMatchObject({ code: 'NOT_FOUND' })
    for (const m of missing) expect(error.message).toContain(m)
    expect(error.hint).toContain('DB01_NAME')
  })

  it('VERSION when pg_dump is older than the server, naming both versions and the package to install', async () => {
    process.env.PATH = `${OLD_PG_DUMP}:${PATH}`
    const error = await failure(new PostgresEngine(pgSource({ databases: [app] }), work).probe(signal()))
    expect(error).toMatchObject({ code: 'VERSION' })
    expect(error.message).toContain('pg_dump 13.0')
    expect(error.message).toContain(server().version)
    expect(error.hint).toContain(`postgresql-client-${server().version.split('.')[0]}`)
  })

  it('CONNECT when nothing listens, naming DB01_HOST / DB01_PORT', async () => {
    const error = await failure(new PostgresEngine(pgSource({ port: await freePort() }), work).probe(signal()))
    expect(error).toMatchObject({ code: 'CONNECT' })
    expect(error.hint).toContain('DB01_HOST / DB01_PORT')
  })

  it('TOOL_MISSING when pg_dump is not on PATH', async () => {
    process.env.PATH = '/nonexistent'
    const error = await failure(new PostgresEngine(pgSource(), work).probe(signal()))
    expect(error).toMatchObject({ code: 'TOOL_MISSING' })
    expect(error.hint).toContain('postgresql-client')
  })

  it('PRIVILEGE before dumping when the user cannot read a table, naming it', async () => {
    const source = pgSource({ databases: [app], user: reader, password: 'reader pw' })
    const error = await failure(new PostgresEngine(source, work).probe(signal()))
    expect(error).toMatchObject({ code: 'PRIVILEGE' })
    expect(error.message).toContain('public.secret')
    expect(error.hint).toContain('DB01_USER')
  })
})
