/**
 * Issue 14, item 9: database names whose %XX encoding passes NAME_MAX. A 61-character Cyrillic
 * name (366 bytes encoded) failed with ENAMETOOLONG and no hint; the longest MariaDB allows (64)
 * too. Now they get a short, stable folder and file name (catalog/naming.ts), and everything that
 * finds backups by the real name — list, restore, retention, prune — still does.
 */
import { randomBytes } from 'node:crypto'
import { readdir, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { dropDatabases, mysqlEnv, rootQuery } from './mysql-support.js'
import { backupNow, cli, listNow, makeAdminUser } from '../restore/support.js'
import { uniqueName } from '../support/servers.js'
import { trial } from '../support/faults/trials.js'

const tag = () => randomBytes(4).toString('hex')
/** 61 and 64 characters (MariaDB's limit), unique per test run: the servers are shared. */
const long61 = `База_данных_интернет_магазина_электроники_и_бытовой_т_${tag()}`.slice(0, 61)
const long64 = `${'б'.repeat(56)}${tag()}`

async function filesUnder(dir: string): Promise<string[]> {
  return (await readdir(dir, { recursive: true })).map(String)
}

describe('database names too long for a file name', () => {
  let dir: string
  let env: Record<string, string>
  const into = uniqueName('longinto')

  beforeAll(async () => {
    expect([...long61]).toHaveLength(61)
    expect([...long64]).toHaveLength(64)
    for (const [db, rows] of [
      [long61, 61],
      [long64, 64],
    ] as const) {
      await rootQuery(`CREATE DATABASE \`${db}\` CHARACTER SET utf8mb4`)
      await rootQuery('CREATE TABLE t (id INT PRIMARY KEY, s VARCHAR(20))', [], db)
      await rootQuery(`INSERT INTO t SELECT seq, CONCAT('row ', seq) FROM seq_1_to_${rows}`, [], db)
    }
    const admin = await makeAdminUser()
    ;({ dir, env } = await mysqlEnv(`${long61},${long64}`, admin))
    env = { ...env, KEEP_LAST: '1' }
  })
  afterAll(async () => {
    await dropDatabases(long61, long64, into)
    await rm(dir, { recursive: true, force: true })
  })

  it('backs them up under short names, and list, restore --into, retention and prune find them by their real names', async () => {
    await trial(
      'adversarial: long names',
      '61-character Cyrillic and 64-character database names on MariaDB',
      async () => {
        const first = await backupNow(env)
        expect(first.map((r) => r.database).sort()).toEqual([long61, long64].sort())
        const second = await backupNow(env)

        // Short, bounded names on disk; the real name in the manifest.
        const files = await filesUnder(join(dir, 'backups', 'maria'))
        for (const f of files) for (const part of f.split('/')) expect(Buffer.byteLength(part)).toBeLessThan(200)
        expect(files.some((f) => f.includes('~'))).toBe(true)

        // Retention (KEEP_LAST=1) ran in the second run and found the first backups by the real names.
        const listed = await listNow(env)
        expect(listed.map((b) => b.database).sort()).toEqual([long61, long64].sort())
        expect(listed.map((b) => b.id).sort()).toEqual(second.map((r) => r.id).sort())

        const prune = await cli(['prune', '--dry-run', '--json'], env)
        expect(prune.exitCode, prune.all).toBe(0)
        const pruned = JSON.parse(prune.stdout) as {
          databases: { database: string; status: string; backups: unknown[] }[]
        }
        expect(pruned.databases.map((d) => [d.database, d.status, d.backups.length]).sort()).toEqual(
          [
            [long61, 'ok', 1],
            [long64, 'ok', 1],
          ].sort(),
        )

        for (const [db, rows] of [
          [long61, 61],
          [long64, 64],
        ] as const) {
          await dropDatabases(into)
          const r = await cli(
            ['restore', 'latest', '--source', 'maria', '--database', db, '--into', into, '--yes'],
            env,
          )
          expect(r.exitCode, r.all).toBe(0)
          const [count] = await rootQuery<{ n: number }[]>(`SELECT COUNT(*) AS n FROM \`${into}\`.t`)
          expect(Number(count!.n)).toBe(rows)
          const byId = listed.find((b) => b.database === db)!.id
          expect((await cli(['verify', byId, '--source', 'maria'], env)).exitCode).toBe(0)
        }
      },
    )
  }, 240_000)
})
