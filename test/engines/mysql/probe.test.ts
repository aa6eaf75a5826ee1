import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { MysqlEngine } from '../../../src/engines/mysql/engine.js'
import { DbkeeperError } from '../../../src/runtime/errors.js'
import { freePort } from '../../support/servers.js'
import { createDatabase, createUser, mysqlSource, privateDir, removeDir, server, sql } from './helpers.js'

const FULL_GRANTS = (db: string) => [
  `SELECT, SHOW VIEW, TRIGGER, EVENT, LOCK TABLES ON \`${db}\`.*`,
  'SELECT ON mysql.proc',
]
const signal = () => new AbortController().signal

/** The rejection of `promise`, which must be a DbkeeperError. */
async function failure(promise: Promise<unknown>): Promise<DbkeeperError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  )
  expect(error).toBeInstanceOf(DbkeeperError)
  return error as DbkeeperError
}

describe('MysqlEngine.probe', () => {
  let workDir: string
  let db: string
  beforeAll(async () => {
    workDir = await privateDir()
    db = await createDatabase(
      'CREATE TABLE big (id INT PRIMARY KEY, pad CHAR(200)); INSERT INTO big SELECT seq, REPEAT("x", 200) FROM seq_1_to_5000; ANALYZE TABLE t, big; CREATE VIEW v AS SELECT id FROM t',
    )
  })
  afterAll(async () => {
    await sql(`DROP DATABASE IF EXISTS \`${db}\``)
    await removeDir(workDir)
  })

  it('reports server and tool versions, and the tables of a named database with sizes', async () => {
    const result = await new MysqlEngine(mysqlSource({ databases: [db] }), workDir).probe(signal())
    expect(result.serverVersion).toBe(server().version)
    expect(result.serverVersion).toMatch(/MariaDB/)
    expect(result.tool.name).toBe('mysqldump')
    expect(result.tool.version).toMatch(/MariaDB/)
    expect(result.databases).toHaveLength(1)
    const info = result.databases[0]!
    expect(info.name).toBe(db)
    // Base tables only (the view is not a table), sorted; InnoDB row counts are estimates.
    expect(info.tables.map((t) => t.name)).toEqual(['big', 't'])
    const big = info.tables[0]!
    expect(big.rows).toBeGreaterThan(2500)
    expect(big.rows).toBeLessThan(10000)
    expect(big.bytes).toBeGreaterThan(500_000)
  })

  it('expands ALL to every non-system database', async () => {
    const other = await createDatabase()
    try {
      const result = await new MysqlEngine(mysqlSource({ databases: 'ALL' }), workDir).probe(signal())
      const names = result.databases.map((d) => d.name)
      expect(names).toEqual(expect.arrayContaining([db, other]))
      for (const system of ['mysql', 'information_schema', 'performance_schema', 'sys'])
        expect(names).not.toContain(system)
    } finally {
      await sql(`DROP DATABASE \`${other}\``)
    }
  })

  it('ALL expands to what the user can see', async () => {
    const user = await createUser('pw-all', FULL_GRANTS(db))
    const result = await new MysqlEngine(mysqlSource({ user, password: 'pw-all', databases: 'ALL' }), workDir).probe(
      signal(),
    )
    expect(result.databases.map((d) => d.name)).toEqual([db])
  })

  it('a wrong password is AUTH, names the variables, and never shows the password', async () => {
    const password = 'Wr0ng-Secret-Value'
    const error = await failure(new MysqlEngine(mysqlSource({ password, databases: [db] }), workDir).probe(signal()))
    expect(error.code).toBe('AUTH')
    expect(error.message).toMatch(/Access denied/)
    expect(error.hint).toBe('check DB07_USER / DB07_PASS or DB07_PASS_FILE')
    expect(`${error.message} ${error.hint} ${String(error)}`).not.toContain(password)
  })

  it('a port nobody listens on is CONNECT, naming host:port and the variables', async () => {
    const port = await freePort()
    const error = await failure(new MysqlEngine(mysqlSource({ port, databases: [db] }), workDir).probe(signal()))
    expect(error.code).toBe('CONNECT')
    expect(error.message).toContain(`127.0.0.1:${port}`)
    expect(error.message).toContain('connection refused')
    expect(error.hint).toBe('check DB07_HOST / DB07_PORT and that the server is running')
  })

  it('a named database that does not exist is NOT_FOUND naming DBnn_NAME', async () => {
    const error = await failure(
      new MysqlEngine(mysqlSource({ databases: [db, 'no_such_db_here'] }), workDir).probe(signal()),
    )
    expect(error.code).toBe('NOT_FOUND')
    expect(error.message).toContain('`no_such_db_here`')
    expect(error.message).toContain('DB07_NAME')
    expect(error.hint).toContain('check DB07_NAME')
  })

  it('a user without any privilege on the database is PRIVILEGE with the grants to give', async () => {
    const user = await createUser('pw-none', [])
    const error = await failure(
      new MysqlEngine(mysqlSource({ user, password: 'pw-none', databases: [db] }), workDir).probe(signal()),
    )
    expect(error.code).toBe('PRIVILEGE')
    expect(error.message).toContain(user)
    expect(error.hint).toContain('GRANT SELECT, SHOW VIEW, TRIGGER, EVENT, LOCK TABLES')
    expect(error.hint).toContain('DB07_USER')
  })

  it('refuses a user without TRIGGER: mysqldump would leave the triggers out and still exit 0', async () => {
    const user = await createUser('pw-trig', [`SELECT, SHOW VIEW, EVENT ON \`${db}\`.*`, 'SELECT ON mysql.proc'])
    const error = await failure(
      new MysqlEngine(mysqlSource({ user, password: 'pw-trig', databases: [db] }), workDir).probe(signal()),
    )
    expect(error.code).toBe('PRIVILEGE')
    expect(error.message).toMatch(/no TRIGGER: mysqldump would silently leave out the triggers/)
    expect(error.hint).toContain(`GRANT TRIGGER ON \`${db}\`.* TO '${user}'@'%'`)
  })

  it('refuses a user who cannot read routines: they would be missing from the dump', async () => {
    const user = await createUser('pw-proc', [`SELECT, SHOW VIEW, TRIGGER, EVENT ON \`${db}\`.*`])
    const error = await failure(
      new MysqlEngine(mysqlSource({ user, password: 'pw-proc', databases: [db] }), workDir).probe(signal()),
    )
    expect(error.code).toBe('PRIVILEGE')
    expect(error.message).toContain('stored procedures and functions')
    expect(error.hint).toContain('SELECT ON mysql.proc')
  })

  it('accepts the documented grants', async () => {
    const user = await createUser('pw-full', FULL_GRANTS(db))
    const result = await new MysqlEngine(mysqlSource({ user, password: 'pw-full', databases: [db] }), workDir).probe(
      signal(),
    )
    expect(result.databases.map((d) => d.name)).toEqual([db])
  })

  it('an aborted probe rejects with ABORTED', async () => {
    const controller = new AbortController()
    controller.abort()
    const error = await failure(new MysqlEngine(mysqlSource({ databases: [db] }), workDir).probe(controller.signal))
    expect(error.code).toBe('ABORTED')
  })
})
