/**
 * docs/RESTORE.md followed step by step, as a new operator would: every block marked
 * `<!-- runbook-test: NAME -->` is run with bash, exactly as written except for the names (the
 * database `shop`, table `orders`, the example backup ids and `/backups/`), with `docker compose
 * exec backup dbkeeper` standing for the dbkeeper CLI — on a pseudo-terminal, answering `yes`,
 * when the command would ask — and `docker compose stop/start` for nothing. Which sections are
 * not run, and why, is said at the end of the runbook.
 */
import { mkdtemp, readFile, rm, symlink, mkdir, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { execa } from 'execa'
import { afterAll, beforeAll, describe, expect, it, inject } from 'vitest'
import { checksums, dropDatabases, makeRichDatabase, mariadb, rootQuery } from '../backup/mysql-support.js'
import { ROOT } from '../support/cli.js'
import { startMariadb } from '../support/mariadb-server.js'
import { startWithRetry } from '../support/servers.js'
import { s3Env, startS3, type TestS3 } from '../support/s3.js'
import { makeSqliteDb } from '../support/sqlite.js'
import { backupNow, listNow, stripCr } from './support.js'

const HARNESS = join(ROOT, 'test', 'restore', 'runbook-harness.sh')

function blocks(markdown: string): Map<string, string> {
  const out = new Map<string, string>()
  for (const m of markdown.matchAll(/<!-- runbook-test: ([\w-]+) -->\s*```bash\n([\s\S]*?)```/g))
    out.set(m[1]!, m[2]!.replace(/^ {3}/gm, ''))
  return out
}

describe('docs/RESTORE.md, step by step', () => {
  let work: string
  let db: string
  let env: Record<string, string>
  let steps: Map<string, string>
  let original: Record<string, string>
  let backupId: string
  let s3: TestS3

  beforeAll(async () => {
    steps = blocks(await readFile(join(ROOT, 'docs', 'RESTORE.md'), 'utf8'))
    s3 = await startS3()
    ;({ db } = await makeRichDatabase(5000))
    work = await mkdtemp(join(tmpdir(), 'dbk-runbook-'))
    await symlink(join(ROOT, 'scripts'), join(work, 'scripts'))
    await mkdir(join(work, 'data'))
    makeSqliteDb(join(work, 'data', 'notes.db'), 500)
    const info = mariadb()
    env = {
      DB01_TYPE: 'mariadb',
      DB01_HOST: info.host,
      DB01_PORT: String(info.port),
      DB01_USER: 'root',
      DB01_NAME: db,
      DB01_LABEL: 'app',
      DB02_TYPE: 'sqlite',
      DB02_PATH: join(work, 'data', 'notes.db'),
      DB02_LABEL: 'notes',
      BACKUP_DIR: join(work, 'backups'),
      DB_PORT: String(info.port),
      DB_PASSWORD: '',
      DBKEEPER_CLI: inject('cliEntry'),
      // Every backup is also copied to a real S3 server: section 9 restores from there.
      ...s3Env(s3.endpoint, 'runbook'),
    }
    backupId = (await backupNow(env)).find((r) => r.source === 'app')!.id!
    original = await checksums(db)
  })
  afterAll(async () => {
    await dropDatabases(db, 'shop_restored', 'shop_table')
    await rm(work, { recursive: true, force: true })
    await s3?.destroy()
  })

  async function step(name: string, ids: Record<string, string> = {}): Promise<string> {
    const text = steps.get(name)
    expect(text, `docs/RESTORE.md has no runbook-test block "${name}"`).toBeDefined()
    let script = text!
      .replaceAll('/backups/', `${env.BACKUP_DIR}/`)
      .replace(/\bshop\b/g, db)
      .replace(/\borders\b/g, 'big')
    for (const [example, real] of Object.entries(ids)) script = script.replaceAll(example, real)
    const r = await execa('bash', ['-c', `source "$0"\n${script}`, HARNESS], {
      cwd: work,
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/root', LOG_FORMAT: 'json', ...env },
      extendEnv: false,
      reject: false,
      timeout: 300_000,
    })
    const all = stripCr(`${r.stdout}\n${r.stderr}`)
    expect(r.exitCode, `runbook step ${name}:\n${all}`).toBe(0)
    return all
  }

  it('0. first minute: stop, list, verify', async () => {
    await step('stop')
    expect(await step('list')).toContain(backupId)
    expect(await step('verify')).toMatch(new RegExp(`ok {5}app/${db} ${backupId}: verified`))
  })

  it('1–4. restore latest (typing yes), a specific time, into a new database, undo', async () => {
    await rootQuery(`DELETE FROM \`${db}\`.big WHERE id <= 100`)
    const changed = await checksums(db)
    const latest = await step('restore-latest')
    expect(latest).toContain('Type yes to continue:')
    expect(await checksums(db)).toEqual(original)
    const safetyId = /the previous content is in safety backup (\S+)/.exec(latest)![1]!

    await rootQuery(`DELETE FROM \`${db}\`.texts`)
    await step('restore-id', { shop_20260314T030000Z: backupId })
    expect(await checksums(db)).toEqual(original)

    await step('into')
    expect(await checksums('shop_restored')).toEqual(original)

    const listed = await listNow(env, 'app', '--database', db)
    expect(listed.find((b) => b.id === safetyId)?.kind).toBe('pre-restore')
    await step('undo', { shop_20260315T101500Z: safetyId })
    expect(await checksums(db)).toEqual(changed)
  })

  it('5. one table from a MySQL dump: --to-file, the awk recipe, loaded with the script', async () => {
    await step('table-file')
    expect(await step('table-extract')).toMatch(/^\d+$/m)
    const extracted = await readFile(join(work, 'big.sql'), 'utf8')
    expect(extracted).toContain('CREATE TABLE `big`')
    expect(extracted).not.toMatch(/CREATE TABLE `(texts|blobs|audit)`/)
    await step('table-load')
    const [row] = await rootQuery<{ Checksum: number }[]>('CHECKSUM TABLE shop_table.big')
    expect(String(row!.Checksum)).toBe(original.big)
  })

  it('6 and 11. SQLite restore, and a drill of everything', async () => {
    expect(await step('sqlite')).toContain('check ok: 1 table, 500 rows')
    expect(await step('drill')).toMatch(/drill: restored into dbkeeper_drill_\w+, re-dumped, \d+ lines identical/)
  })

  it('8. into a different server: the connection overridden for one command', async () => {
    const other = await startWithRetry(startMariadb)
    try {
      const password = 'new "root" pw $1 #2'
      await rootQuery("CREATE USER 'newroot'@'%' IDENTIFIED BY ?", [password], undefined, other.info)
      await rootQuery("GRANT ALL PRIVILEGES ON *.* TO 'newroot'@'%' WITH GRANT OPTION", [], undefined, other.info)
      const passFile = join(work, 'db_root_password')
      await writeFile(passFile, `${password}\n`, { mode: 0o600 })
      const out = await step('other-server', {
        'DB01_HOST=db-new': `DB01_HOST=${other.info.host}`,
        'DB01_PORT=3306': `DB01_PORT=${other.info.port}`,
        'DB01_USER=root': 'DB01_USER=newroot',
        '/run/secrets/db_root_password': passFile,
      })
      expect(out).not.toContain(password)
      expect(await checksums(db, other.info)).toEqual(original)
    } finally {
      await other.stop()
    }
  })

  it('9. the volume is gone: list and restore latest from S3', async () => {
    await rm(env.BACKUP_DIR!, { recursive: true, force: true })
    await rootQuery(`DELETE FROM \`${db}\`.big WHERE id <= 100`)
    const out = await step('s3')
    expect(out).toMatch(new RegExp(`${backupId}\\s.*\\ss3\\b`))
    expect(out).toContain(`off-site only: using it from s3://dbk-test/runbook/app/${db}/${backupId}`)
    expect(out).toContain('Type yes to continue:')
    expect(await checksums(db)).toEqual(original)
  })
})
