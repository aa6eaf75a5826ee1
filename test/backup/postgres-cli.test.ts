/**
 * PostgreSQL through the real CLI: `dbkeeper backup` of every database plus the globals, restored
 * with plain tools (`gunzip -c | psql`), equal on a re-dump; a wrong password fails with exit 1 and
 * the password nowhere in the output.
 */
import { mkdtemp } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { execa } from 'execa'
import { describe, expect, it } from 'vitest'
import { runCli } from '../support/cli.js'
import { uniqueName } from '../support/servers.js'
import { comparableDump, libpqEnv, server, sql } from '../engines/postgres/helpers.js'
import type { ListedBackup } from '../../src/cli/commands/list.js'

describe('PostgreSQL backups through the CLI', () => {
  it('backs up ALL databases and the globals; gunzip | psql restores an equal database', async () => {
    const db = uniqueName('pgcli')
    await sql('postgres', `CREATE DATABASE ${db} TEMPLATE template0`)
    await sql(
      db,
      `CREATE SCHEMA shop; CREATE TYPE shop.state AS ENUM ('new','paid');
      CREATE TABLE shop.orders (id serial PRIMARY KEY, doc jsonb, tags text[], blob bytea, state shop.state);
      INSERT INTO shop.orders (doc, tags, blob, state) SELECT jsonb_build_object('n', g, 'emoji', '🐘'), ARRAY['a', g::text], decode(md5(g::text), 'hex'), 'paid' FROM generate_series(1, 5000) g;
      CREATE VIEW shop.paid AS SELECT id FROM shop.orders WHERE state = 'paid';`,
    )
    const info = server()
    const dir = await mkdtemp(join(tmpdir(), 'dbk-pgcli-'))
    const env = {
      DB01_TYPE: 'postgres',
      DB01_HOST: info.host,
      DB01_PORT: String(info.port),
      DB01_USER: info.user,
      DB01_NAME: 'ALL',
      DB01_LABEL: 'pg',
      DB01_PG_GLOBALS: 'true',
      BACKUP_DIR: join(dir, 'backups'),
    }
    const r = await runCli(['backup', '--json'], env)
    expect(r.exitCode, r.all).toBe(0)
    const listed = JSON.parse((await runCli(['list', '--json'], env)).stdout) as ListedBackup[]
    const names = listed.map((b) => b.database)
    expect(names).toContain(db)
    expect(names).toContain('_globals')
    expect(names).not.toContain('template0')
    expect(names).not.toContain('template1')

    const restored = uniqueName('pgrest')
    await sql('postgres', `CREATE DATABASE ${restored} TEMPLATE template0`)
    const file = listed.find((b) => b.database === db)!.path
    await execa(
      'bash',
      [
        '-o',
        'pipefail',
        '-c',
        `gunzip -c "$1" | psql -v ON_ERROR_STOP=1 --single-transaction -q -d "$2"`,
        'restore',
        file,
        restored,
      ],
      { env: libpqEnv(), extendEnv: false },
    )
    expect(await comparableDump(restored)).toBe((await comparableDump(db)).replaceAll(db, '<db>'))
    const globals = await execa('bash', [
      '-c',
      'gunzip -c "$1"',
      'g',
      listed.find((b) => b.database === '_globals')!.path,
    ])
    expect(globals.stdout).toContain('CREATE ROLE "postgres"')
    await sql('postgres', `DROP DATABASE ${db}`)
    await sql('postgres', `DROP DATABASE ${restored}`)
  })

  it('a wrong password fails with exit 1, names the variables to fix, and never shows the password', async () => {
    const user = uniqueName('pguser')
    const password = `Pg's "pass" $HOME #1 \\ :x`
    await sql('postgres', `CREATE ROLE ${user} LOGIN PASSWORD 'right-one'`)
    const info = server()
    const dir = await mkdtemp(join(tmpdir(), 'dbk-pgcli-'))
    const env = {
      DB01_TYPE: 'postgres',
      DB01_HOST: info.host,
      DB01_PORT: String(info.port),
      DB01_USER: user,
      DB01_PASS: password,
      DB01_NAME: 'postgres',
      BACKUP_DIR: join(dir, 'backups'),
    }
    const r = await runCli(['backup'], env)
    expect(r.exitCode).toBe(1)
    expect(r.all).toMatch(/DB01_PASS/)
    expect(r.all).not.toContain(password)
    expect(r.all).not.toContain('right-one')
    const config = await runCli(['config', '--json'], env)
    expect(config.all).not.toContain(password)
    await sql('postgres', `DROP ROLE ${user}`)
  })
})
