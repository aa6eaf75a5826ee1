/**
 * Issue 14, item 8: a drill SIGKILLed while its scratch database exists (failpoint `drill.loaded`).
 * The scratch database used to stay for ever, and `DBnn_NAME=ALL` backed it up every run. Now the
 * next backup run drops it (it is recorded under BACKUP_DIR/.dbkeeper/scratch/ and its owner is
 * gone), `ALL` never lists a scratch name, and a database that only looks like one is never dropped.
 */
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { resolveDatabases } from '../../src/engines/postgres/probe.js'
import { parseScratchName, scratchName } from '../../src/restore/scratch.js'
import { dropDatabases, mysqlEnv, NASTY_PASSWORD, rootQuery } from '../backup/mysql-support.js'
import { pgSource, server as pgServer, sql } from '../engines/postgres/helpers.js'
import { startCli } from '../support/cli.js'
import { pgAdmin, uniqueName } from '../support/servers.js'
import { waitStopped } from '../support/faults/processes.js'
import { trial } from '../support/faults/trials.js'
import { backupNow, cli } from './support.js'

const dirs: string[] = []
const cleanup: (() => Promise<unknown>)[] = []
afterAll(async () => {
  for (const c of cleanup) await c().catch(() => undefined)
  for (const d of dirs) await rm(d, { recursive: true, force: true })
})

/** Starts `verify --drill` stopped at `drill.loaded` (its scratch database exists), SIGKILLs it; the recorded scratch name. */
async function killDrill(env: Record<string, string>, source: string): Promise<string> {
  const run = startCli(['verify', 'latest', '--source', source, '--drill'], {
    ...env,
    DBKEEPER_FAILPOINTS: 'drill.loaded',
  })
  let ended = false
  void run.finally(() => {
    ended = true
  })
  await waitStopped(run.pid!, () => ended, 'drill.loaded')
  run.kill('SIGKILL')
  await run
  const dir = join(env.BACKUP_DIR!, '.dbkeeper', 'scratch')
  const records = await readdir(dir)
  expect(records).toHaveLength(1)
  const { name } = JSON.parse(await readFile(join(dir, records[0]!), 'utf8')) as { name: string }
  expect(parseScratchName(name)?.tag).toBe('drill')
  return name
}

describe('scratch databases of killed drills', () => {
  it('MariaDB: the next run drops the leftover, ALL never backs it up, a look-alike is left alone', async () => {
    await trial(
      'adversarial: killed drill leftovers',
      'MariaDB drill SIGKILLed after loading its scratch database',
      async () => {
        const db = uniqueName('scr')
        const user = uniqueName('scr_u')
        const lookalike = scratchName('dbkeeper', 'drill')
        await rootQuery(`CREATE DATABASE \`${db}\``)
        await rootQuery('CREATE TABLE t (id INT PRIMARY KEY); INSERT INTO t VALUES (1), (2), (3)', [], db)
        // The user sees its database and the drill's scratch names only, so ALL is exactly those here.
        await rootQuery("CREATE USER ?@'%' IDENTIFIED BY ?", [user, NASTY_PASSWORD])
        await rootQuery(`GRANT ALL ON \`${db}\`.* TO ?@'%'`, [user])
        await rootQuery("GRANT ALL ON `dbkeeper\\_drill\\_%`.* TO ?@'%'", [user])
        await rootQuery("GRANT SELECT ON mysql.proc TO ?@'%'", [user])
        cleanup.push(
          () => rootQuery(`DROP USER IF EXISTS ?@'%'`, [user]),
          () => dropDatabases(db, lookalike),
        )
        const { env, dir } = await mysqlEnv('ALL', user)
        dirs.push(dir)
        expect((await backupNow(env)).map((r) => r.database)).toEqual([db])

        const scratch = await killDrill(env, 'maria')
        cleanup.push(() => dropDatabases(scratch))
        const exists = async (name: string) =>
          (await rootQuery<unknown[]>('SELECT 1 FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?', [name]))
            .length > 0
        expect(await exists(scratch)).toBe(true)
        await rootQuery(`CREATE DATABASE \`${lookalike}\``)

        const r = await cli(['backup', '--json'], env)
        expect(r.exitCode, r.all).toBe(0)
        expect((JSON.parse(r.stdout) as { results: { database: string }[] }).results.map((x) => x.database)).toEqual([
          db,
        ])
        expect(r.stderr).toContain(`dropped scratch database ${scratch}`)
        expect(await exists(scratch)).toBe(false)
        expect(await exists(lookalike)).toBe(true) // our pattern, but not our record
        expect(await readdir(join(env.BACKUP_DIR!, '.dbkeeper', 'scratch'))).toEqual([])
      },
    )
  }, 180_000)

  it('PostgreSQL: the next run drops the leftover; ALL never lists a scratch name', async () => {
    await trial(
      'adversarial: killed drill leftovers',
      'PostgreSQL drill SIGKILLed after loading its scratch database',
      async () => {
        const db = uniqueName('scr')
        await sql('postgres', `CREATE DATABASE ${db} TEMPLATE template0`)
        await sql(db, 'CREATE TABLE t (id int PRIMARY KEY); INSERT INTO t VALUES (1), (2), (3)')
        const lookalike = scratchName(db, 'dbkold')
        cleanup.push(
          () => sql('postgres', `DROP DATABASE IF EXISTS ${db}`),
          () => sql('postgres', `DROP DATABASE IF EXISTS "${lookalike}"`),
        )
        const info = pgServer()
        const dir = await mkdtemp(join(tmpdir(), 'dbk-scr-'))
        dirs.push(dir)
        const env = {
          DB01_TYPE: 'postgres',
          DB01_HOST: info.host,
          DB01_PORT: String(info.port),
          DB01_USER: info.user,
          DB01_NAME: db,
          DB01_LABEL: 'pg',
          BACKUP_DIR: join(dir, 'b'),
        }
        await backupNow(env)

        const scratch = await killDrill(env, 'pg')
        cleanup.push(() => sql('postgres', `DROP DATABASE IF EXISTS "${scratch}"`))
        await sql('postgres', `CREATE DATABASE "${lookalike}" TEMPLATE template0`)
        const client = await pgAdmin(info)
        try {
          const names = async () =>
            (await client.query<{ datname: string }>('SELECT datname FROM pg_database')).rows.map((x) => x.datname)
          expect(await names()).toEqual(expect.arrayContaining([scratch, lookalike]))
          const all = await resolveDatabases(pgSource({ databases: 'ALL' }), client)
          expect(all).toContain(db)
          expect(all).not.toContain(scratch)
          expect(all).not.toContain(lookalike)

          const r = await cli(['backup'], env)
          expect(r.exitCode, r.all).toBe(0)
          expect(r.stderr).toContain(`dropped scratch database ${scratch}`)
          expect(await names()).not.toContain(scratch)
          expect(await names()).toContain(lookalike)
        } finally {
          await client.end()
        }
      },
    )
  }, 180_000)
})
