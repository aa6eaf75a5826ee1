/**
 * Dumps that must not count, and secrets that must not leak: pg_dump dying halfway, an old
 * pg_dump, a wrong password, a password full of separators, the password in no command line.
 */
import { readdir, readFile, readlink, stat } from 'node:fs/promises'
import { basename, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { inspect } from 'node:util'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { PostgresEngine } from '../../../src/engines/postgres/engine.js'
import { DbkeeperError, describeError } from '../../../src/runtime/errors.js'
import { uniqueName } from '../../support/servers.js'
import { dumpToGzip, failure, gunzipFile, headTail, pgSource, privateDir, removeDir, sql } from './helpers.js'

const fixtureBin = (name: string) => fileURLToPath(new URL(`../../fixtures/bin/${name}`, import.meta.url))
const signal = () => new AbortController().signal
const PATH = process.env.PATH
// Every character libpq's passfile or a shell could trip over.
const HARD_PASSWORD = `p:a\\ss 'w"o$rd#1 \\:end`

let work: string
const db = uniqueName('pg_fail')
const role = uniqueName('dbk_pw')

beforeAll(async () => {
  work = await privateDir()
  await sql('postgres', `CREATE DATABASE ${db}`)
  // ~2 MB of rows so that a dump we do not read blocks on its pipe and stays alive to be inspected.
  await sql(
    db,
    `CREATE TABLE filler AS SELECT g AS id, md5(g::text) || md5((g + 1)::text) AS v FROM generate_series(1, 30000) g`,
  )
  const literal = `'${HARD_PASSWORD.replace(/'/g, "''")}'`
  await sql('postgres', `CREATE ROLE ${role} LOGIN PASSWORD ${literal}`)
  await sql(db, `GRANT SELECT ON filler TO ${role}`)
})

afterEach(() => {
  process.env.PATH = PATH
})

afterAll(async () => {
  await sql('postgres', `DROP DATABASE IF EXISTS ${db}`)
  await sql('postgres', `DROP ROLE IF EXISTS ${role}`)
  await removeDir(work)
})

/** Every way an error reaches an operator: message, hint, the one-line form, inspect(), JSON. */
function everywhere(error: DbkeeperError): string {
  return [
    error.message,
    error.hint,
    describeError(error),
    inspect(error, { depth: 5 }),
    JSON.stringify(error),
    String(error.stack),
  ].join('\n')
}

describe('PostgreSQL dumps that must not count', () => {
  it('pg_dump dying halfway: done rejects and checkContent refuses the partial output', async () => {
    process.env.PATH = `${fixtureBin('pg_dump-dies-halfway')}:${PATH}`
    const engine = new PostgresEngine(pgSource({ databases: [db] }), work)
    const file = join(work, 'half.sql.gz')
    const error = await failure(dumpToGzip(engine, db, file))
    expect(error).toBeInstanceOf(DbkeeperError)
    expect(error).toMatchObject({ code: 'DUMP_FAILED' })
    expect(error.message).toMatch(/^DB01: pg_dump exited 1: .*PQgetResult\(\) failed/)
    const raw = await gunzipFile(file)
    expect(raw.toString()).toContain('COPY "public"."half"')
    expect(engine.checkContent(...headTail(raw))).toMatch(/dump complete.*missing/)
  })

  it('an old pg_dump that reaches the server anyway: VERSION with both versions', async () => {
    process.env.PATH = `${fixtureBin('pg_dump-old')}:${PATH}`
    const engine = new PostgresEngine(pgSource({ databases: [db] }), work)
    const error = await failure(dumpToGzip(engine, db, join(work, 'old.sql.gz')))
    expect(error).toMatchObject({ code: 'VERSION' })
    expect(error.message).toContain('server 15.20, pg_dump 13.0')
    expect(error.hint).toContain('postgresql-client')
  })
})

describe('PostgreSQL credentials', () => {
  it('a wrong password: AUTH from probe and dump, naming DB01_USER / DB01_PASS, the password nowhere', async () => {
    const wrong = `wrong-${HARD_PASSWORD}-${Date.now()}`
    const engine = new PostgresEngine(pgSource({ databases: [db], user: role, password: wrong }), work)
    const probeError = await failure(engine.probe(signal()))
    const dumpError = await failure(dumpToGzip(engine, db, join(work, 'wrong.sql.gz')))
    for (const error of [probeError, dumpError]) {
      expect(error).toMatchObject({ code: 'AUTH' })
      expect(error.message).toContain('password authentication failed')
      expect(error.hint).toContain('DB01_USER / DB01_PASS')
      expect(everywhere(error)).not.toContain(wrong)
      expect(everywhere(error)).not.toContain(HARD_PASSWORD)
    }
    expect(await readdir(work)).not.toContainEqual(expect.stringMatching(/^pgpass-/))
  })

  it('a password with : \\ \' " $ # and spaces works through the passfile, in no command line or environment', async () => {
    const engine = new PostgresEngine(pgSource({ databases: [db], user: role, password: HARD_PASSWORD }), work)
    await expect(engine.probe(signal())).resolves.toMatchObject({ databases: [{ name: db }] })

    const dump = engine.dump(db, signal())
    // Not reading stdout yet: pg_dump fills the pipe and waits, so it is alive while we look.
    const pgDumpPid = await waitForChild('pg_dump', dump.done)
    const passfiles = (await readdir(work)).filter((f) => f.startsWith('pgpass-'))
    expect(passfiles).toHaveLength(1)
    expect((await stat(join(work, passfiles[0]!))).mode & 0o777).toBe(0o600)
    const environ = await readFile(`/proc/${pgDumpPid}/environ`, 'utf8')
    expect(environ).toContain(`PGPASSFILE=${join(work, passfiles[0]!)}`)
    expect(environ).not.toContain(HARD_PASSWORD)
    expect(environ).not.toContain('PGPASSWORD')
    for (const cmdline of await allCommandLines()) expect(cmdline).not.toContain(HARD_PASSWORD)

    const chunks: Buffer[] = []
    for await (const chunk of dump.stdout) chunks.push(chunk as Buffer)
    await expect(dump.done).resolves.toMatchObject({ options: expect.arrayContaining(['--username', role]) })
    expect(engine.checkContent(...headTail(Buffer.concat(chunks)))).toBeUndefined()
    expect(await readdir(work)).not.toContainEqual(expect.stringMatching(/^pgpass-/))
  })
})

describe('PostgreSQL abort', () => {
  it('aborting the signal kills pg_dump, rejects done with ABORTED and removes the password file', async () => {
    const engine = new PostgresEngine(pgSource({ databases: [db], user: role, password: HARD_PASSWORD }), work)
    const controller = new AbortController()
    const dump = engine.dump(db, controller.signal)
    const pid = await waitForChild('pg_dump', dump.done)
    controller.abort()
    dump.stdout.resume()
    expect(await failure(dump.done)).toMatchObject({ code: 'ABORTED' })
    // Exited and reaped: no process left behind.
    await expect(stat(`/proc/${pid}`)).rejects.toThrow()
    expect(await readdir(work)).not.toContainEqual(expect.stringMatching(/^pgpass-/))
  })
})

/**
 * The pid of a child of this process running `name`, once it runs the tool itself: Debian's
 * pg_dump is first a perl wrapper (pg_wrapper) that execs the real binary in the same process;
 * caught in that exec, the child's environ reads empty and a kill may land on perl (CI, loaded
 * host). Fails with the dump's outcome if it ends first, and after 45 s of wall time (the test has 60).
 */
async function waitForChild(name: string, done: Promise<unknown>): Promise<number> {
  let ended: string | undefined
  done.then(
    () => (ended = 'it succeeded'),
    (error: unknown) => (ended = String(error)),
  )
  const deadline = Date.now() + 45_000
  while (Date.now() < deadline && ended === undefined) {
    for (const pid of await numericDirs()) {
      const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '')
      // A live child only: an earlier test's pg_dump may still be a zombie (State: Z) whose
      // /proc entry vanishes under us once it is reaped.
      if (
        new RegExp(`^Name:\\s+${name}$`, 'm').test(status) &&
        new RegExp(`^PPid:\\s+${process.pid}$`, 'm').test(status) &&
        !/^State:\s+[ZX]/m.test(status) &&
        basename(await readlink(`/proc/${pid}/exe`).catch(() => '')) === name
      )
        return pid
    }
    await new Promise((r) => setTimeout(r, 25))
  }
  throw new Error(
    `no ${name} child process appeared${ended === undefined ? ' in 60 s' : `: the dump ended first, ${ended}`}`,
  )
}

async function numericDirs(): Promise<number[]> {
  return (await readdir('/proc')).filter((d) => /^\d+$/.test(d)).map(Number)
}

async function allCommandLines(): Promise<string[]> {
  const lines = await Promise.all(
    (await numericDirs()).map((pid) => readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '')),
  )
  return lines.map((l) => l.replace(/\0/g, ' '))
}
