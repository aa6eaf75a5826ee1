/**
 * The MySQL round trip of issue 2, through the real CLI: a rich MariaDB database →
 * `dbkeeper backup --json` → `gunzip -c FILE | mariadb NEWDB` → CHECKSUM TABLE equal for every
 * table, and the routines, trigger, view and event present.
 */
import { rm, stat } from 'node:fs/promises'
import { execa } from 'execa'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { BackupJson } from '../../src/cli/commands/backup.js'
import { runCli } from '../support/cli.js'
import { uniqueName } from '../support/servers.js'
import {
  NASTY_PASSWORD,
  checksums,
  codeObjects,
  dropDatabases,
  makeRichDatabase,
  mariadb,
  mysqlEnv,
  restoreWithPlainTools,
  rootQuery,
} from './mysql-support.js'
import type { ListedBackup } from '../../src/cli/commands/list.js'

describe('MariaDB round trip through dbkeeper backup', () => {
  let db: string
  let user: string
  let dir: string
  let env: Record<string, string>
  const restored = uniqueName('restored')

  beforeAll(async () => {
    ;({ db, user } = await makeRichDatabase())
    ;({ dir, env } = await mysqlEnv(db, user))
  })
  afterAll(async () => {
    await dropDatabases(db, restored)
    await rm(dir, { recursive: true, force: true })
  })

  it('backs up, lists, and restores with gunzip | mariadb to identical tables and code', async () => {
    const run = await runCli(['backup', '--json'], env, { timeoutMs: 180_000 })
    expect(run.exitCode, run.all).toBe(0)
    expect(run.all).not.toContain(NASTY_PASSWORD)
    const report = JSON.parse(run.stdout) as BackupJson
    expect(report.ok).toBe(true)
    expect(report.results).toHaveLength(1)
    const result = report.results[0]!
    expect(result).toMatchObject({ source: 'maria', database: db, ok: true })
    expect(result.path).toMatch(new RegExp(`/maria/${db}/${db}_\\d{8}T\\d{6}Z\\.sql\\.gz$`))
    expect(result.rows).toBeGreaterThan(50_000) // InnoDB estimates: roughly 100k
    expect(result.rawSize).toBeGreaterThan(result.size!)
    expect((await stat(result.path!)).mode & 0o777).toBe(0o600)

    const list = await runCli(['list', '--json'], env)
    expect(list.exitCode, list.all).toBe(0)
    const listed = JSON.parse(list.stdout) as ListedBackup[]
    expect(listed).toHaveLength(1)
    expect(listed[0]).toMatchObject({
      id: result.id,
      source: 'maria',
      database: db,
      engine: 'mysql',
      path: result.path,
      size: result.size,
      rawSize: result.rawSize,
    })
    expect(listed[0]!.sha256).toMatch(/^[0-9a-f]{64}$/)

    // The file is what the manifest says, by plain tools.
    const sha = await execa('sha256sum', [result.path!])
    expect(sha.stdout.split(' ')[0]).toBe(listed[0]!.sha256)

    await restoreWithPlainTools(result.path!, restored)
    const original = await checksums(db)
    expect(Object.keys(original).sort()).toEqual(['audit', 'big', 'blobs', 'texts', 'weird table-name'])
    expect(await checksums(restored)).toEqual(original)
    const [count] = await rootQuery<{ n: number }[]>(`SELECT COUNT(*) AS n FROM \`${restored}\`.big`)
    expect(count!.n).toBe(100_000)

    const code = await codeObjects(restored)
    expect(code).toEqual(await codeObjects(db))
    expect(code).toEqual({
      routines: ['FUNCTION double_it', 'PROCEDURE count_big'],
      triggers: ['texts_audit'],
      views: ['big_summary'],
      events: ['nightly'],
    })
    // The restored code works, not just exists.
    const [fn] = await rootQuery<{ v: number }[]>(`SELECT \`${restored}\`.double_it(21) AS v`)
    expect(fn!.v).toBe(42)
    await rootQuery(`INSERT INTO \`${restored}\`.texts VALUES (99, 'after restore', NULL)`)
    const [audit] = await rootQuery<{ n: number }[]>(
      `SELECT COUNT(*) AS n FROM \`${restored}\`.audit WHERE note = 'inserted 99'`,
    )
    expect(audit!.n).toBe(1)
  })

  it('the dump restores into any name: it holds no CREATE DATABASE or USE', async () => {
    const listed = JSON.parse((await runCli(['list', '--json'], env)).stdout) as ListedBackup[]
    const head = await execa('bash', [
      '-o',
      'pipefail',
      '-c',
      'gunzip -c "$1" | grep -cE "^(CREATE DATABASE|USE )" || true',
      'grep',
      listed[0]!.path,
    ])
    expect(head.stdout.trim()).toBe('0')
    expect(mariadb().version).toMatch(/MariaDB/)
  })
})
