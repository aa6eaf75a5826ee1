/**
 * DRILL_HOST: the drills of MySQL/MariaDB sources on a separate scratch server. The source's user
 * may only back up (it cannot create the scratch database on the production server, so a drill
 * there fails); with DRILL_* pointing at a second private MariaDB the same drill passes there,
 * its password (from DRILL_PASS_FILE) appears nowhere, and no scratch database is left on either
 * server. And the settings that are refused.
 */
import { rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { VerifyJson } from '../../src/cli/commands/verify.js'
import { ConfigError, parseConfig } from '../../src/config/index.js'
import { drillTarget } from '../../src/restore/drill.js'
import { NASTY_PASSWORD, dropDatabases, makeRichDatabase, mysqlEnv, rootQuery } from '../backup/mysql-support.js'
import { startMariadb } from '../support/mariadb-server.js'
import { mysqlAdmin, startWithRetry, type RunningServer } from '../support/servers.js'
import { backupNow, cli } from './support.js'

const DRILL_PASSWORD = `drill "pw" $HOME #2 \\ x`

async function scratchOn(query: (sql: string) => Promise<{ n: string }[]>): Promise<string[]> {
  return (
    await query(
      "SELECT SCHEMA_NAME AS n FROM information_schema.SCHEMATA WHERE SCHEMA_NAME LIKE 'dbkeeper\\_drill\\_%'",
    )
  ).map((r) => r.n)
}

describe('drills on a DRILL_HOST server', () => {
  let second: RunningServer
  let db: string
  let dir: string
  let env: Record<string, string>
  let drillEnv: Record<string, string>
  const onSecond = async (sql: string, params: unknown[] = []) => {
    const conn = await mysqlAdmin(second.info)
    try {
      return (await conn.query(sql, params))[0] as { n: string }[]
    } finally {
      await conn.end()
    }
  }

  beforeAll(async () => {
    second = await startWithRetry(startMariadb)
    await onSecond("CREATE USER 'drill'@'%' IDENTIFIED BY ?", [DRILL_PASSWORD])
    await onSecond("GRANT ALL PRIVILEGES ON *.* TO 'drill'@'%' WITH GRANT OPTION")
    const rich = await makeRichDatabase(2000)
    db = rich.db
    ;({ dir, env } = await mysqlEnv(db, rich.user))
    const passFile = join(dir, 'drill_password')
    await writeFile(passFile, `${DRILL_PASSWORD}\n`, { mode: 0o600 })
    drillEnv = {
      ...env,
      DRILL_HOST: second.info.host,
      DRILL_PORT: String(second.info.port),
      DRILL_USER: 'drill',
      DRILL_PASS_FILE: passFile,
    }
    await backupNow(env)
  }, 300_000)

  afterAll(async () => {
    if (db) await dropDatabases(db)
    await second?.stop()
    if (dir) await rm(dir, { recursive: true, force: true })
  })

  it('a backup-only user cannot drill on the production server; on DRILL_HOST the same drill passes', async () => {
    const own = await cli(['verify', '--drill', '--json'], env)
    expect(own.exitCode, own.all).toBe(1)
    const [refused] = JSON.parse(own.stdout) as VerifyJson[]
    expect(refused).toMatchObject({
      ok: false,
      drill: { ok: false },
      error: { message: expect.stringMatching(/denied/i) },
    })

    const r = await cli(['verify', '--drill', '--json'], drillEnv)
    expect(r.exitCode, r.all).toBe(0)
    const [passed] = JSON.parse(r.stdout) as VerifyJson[]
    expect(passed).toMatchObject({
      ok: true,
      drill: {
        ok: true,
        server: `${second.info.host}:${second.info.port}`,
        scratch: expect.stringMatching(/^dbkeeper_drill_/),
      },
    })
    expect(passed!.drill!.compared).toBeGreaterThan(100)
    const human = await cli(['verify', '--drill'], drillEnv)
    expect(human.exitCode, human.all).toBe(0)
    expect(human.stdout).toMatch(
      new RegExp(
        `drill: restored into dbkeeper_drill_\\w+ on ${second.info.host}:${second.info.port} \\(DRILL_HOST\\), re-dumped, \\d+ lines identical`,
      ),
    )

    for (const out of [own.all, r.all, human.all]) {
      expect(out).not.toContain(NASTY_PASSWORD)
      expect(out).not.toContain(DRILL_PASSWORD)
    }
    expect(await scratchOn((sql) => onSecond(sql))).toEqual([])
    expect(await scratchOn((sql) => rootQuery<{ n: string }[]>(sql))).toEqual([])
  })

  it("settings: the server's kind, credentials, and what is refused", () => {
    const base = {
      BACKUP_DIR: '/backups',
      DB01_TYPE: 'mariadb',
      DB01_HOST: 'prod',
      DB01_USER: 'bk',
      DB01_PASS: 'p1',
      DB01_NAME: 'shop',
      DB02_TYPE: 'sqlite',
      DB02_PATH: '/data/a.db',
    }
    const config = parseConfig({ ...base, DRILL_HOST: 'scratch' })
    expect(config.restore.drillServer).toMatchObject({ engine: 'mysql', host: 'scratch', port: 3306, user: undefined })
    // Without DRILL_USER the source's own credentials; SQLite is never sent anywhere.
    expect(drillTarget(config, config.sources[0]!)).toMatchObject({ host: 'scratch', port: 3306, user: 'bk' })
    expect(drillTarget(config, config.sources[0]!).password?.reveal()).toBe('p1')
    expect(drillTarget(config, config.sources[1]!)).toBe(config.sources[1])

    const mixed = { ...base, DB03_TYPE: 'postgres', DB03_HOST: 'pg', DB03_NAME: 'app' }
    const problems = (env: Record<string, string>): string[] => {
      try {
        parseConfig(env)
        return []
      } catch (error) {
        if (error instanceof ConfigError) return error.problems.map((p) => p.variable)
        throw error
      }
    }
    expect(problems({ ...mixed, DRILL_HOST: 'scratch' })).toEqual(['DRILL_TYPE'])
    const pg = parseConfig({
      ...mixed,
      DRILL_HOST: 'scratch',
      DRILL_TYPE: 'postgres',
      DRILL_USER: 'drill',
      DRILL_PASS: 'p2',
    })
    expect(drillTarget(pg, pg.sources[0]!)).toBe(pg.sources[0])
    expect(drillTarget(pg, pg.sources[2]!)).toMatchObject({ host: 'scratch', port: 5432, user: 'drill' })
    expect(problems({ ...base, DRILL_HOST: 'scratch', DRILL_PASS: 'x' })).toEqual(['DRILL_PASS'])
    expect(problems({ ...base, DRILL_PORT: '3307', DRILL_USER: 'u' })).toEqual(['DRILL_PORT', 'DRILL_USER'])
    expect(problems({ ...base, DRILL_HOST: 'scratch', DRILL_TYPE: 'oracle', DRILL_PORT: '0' }).sort()).toEqual([
      'DRILL_PORT',
      'DRILL_TYPE',
    ])
  })
})
