import { readdir } from 'node:fs/promises'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { MysqlEngine } from '../../../src/engines/mysql/engine.js'
import { DbkeeperError } from '../../../src/runtime/errors.js'
import { createDatabase, createUser, headTail, mysqlSource, privateDir, removeDir, runDump, sql } from './helpers.js'

/** The password a shell, an option file and a SQL literal would each get wrong. */
const NASTY_PASSWORD = `it's a "pass word" $HOME #not-a-comment \\back\\slash\\`

describe('MysqlEngine.dump', () => {
  let workDir: string
  let db: string
  beforeAll(async () => {
    workDir = await privateDir()
    db = await createDatabase(`
      CREATE VIEW v AS SELECT id, v FROM t;
      CREATE TRIGGER t_upper BEFORE INSERT ON t FOR EACH ROW SET NEW.v = UPPER(NEW.v);
      CREATE PROCEDURE count_t() SELECT COUNT(*) FROM t;`)
  })
  afterAll(async () => {
    await sql(`DROP DATABASE IF EXISTS \`${db}\``)
    await removeDir(workDir)
  })

  it('streams a complete dump, resolves done with the options, and leaves no credentials file', async () => {
    const engine = new MysqlEngine(mysqlSource({ databases: [db] }), workDir)
    const { content, result, error } = await runDump(engine, db)
    expect(error).toBeUndefined()
    const text = content.toString('utf8')
    expect(text).toContain('CREATE TABLE `t`')
    expect(text).toContain('drei 🦆')
    expect(text).toMatch(/TRIGGER `?t_upper`?/)
    expect(text).toContain('PROCEDURE `count_t`')
    expect(text).toContain('VIEW `v`')
    // No --databases: the dump restores into whatever database the operator names.
    expect(text).not.toMatch(/^CREATE DATABASE/m)
    expect(text).not.toMatch(/^USE /m)
    expect(engine.checkContent(...headTail(content))).toBeUndefined()
    expect(result!.options).toEqual([
      '--single-transaction',
      '--quick',
      '--routines',
      '--triggers',
      '--events',
      '--hex-blob',
      '--default-character-set=utf8mb4',
      '--no-tablespaces',
      '--',
      db,
    ])
    expect(result!.options.join(' ')).not.toContain('defaults')
    expect(await readdir(workDir)).toEqual([])
  })

  it('works with a password holding quotes, spaces, $, # and backslashes', async () => {
    const user = await createUser(NASTY_PASSWORD, [
      `SELECT, SHOW VIEW, TRIGGER, EVENT, LOCK TABLES ON \`${db}\`.*`,
      'SELECT ON mysql.proc',
    ])
    const engine = new MysqlEngine(mysqlSource({ user, password: NASTY_PASSWORD, databases: [db] }), workDir)
    await engine.probe(new AbortController().signal)
    const { content, error } = await runDump(engine, db)
    expect(error).toBeUndefined()
    expect(engine.checkContent(...headTail(content))).toBeUndefined()
    expect(content.toString('utf8')).toContain('PROCEDURE `count_t`')
  })

  it('adds DBnn_EXTRA_OPTS before the database name', async () => {
    const engine = new MysqlEngine(
      mysqlSource({ databases: [db], extraOpts: ['--skip-dump-date', '--ignore-table=' + db + '.t'] }),
      workDir,
    )
    const { content, result, error } = await runDump(engine, db)
    expect(error).toBeUndefined()
    expect(result!.options.slice(-4)).toEqual(['--skip-dump-date', `--ignore-table=${db}.t`, '--', db])
    expect(content.toString()).not.toContain('CREATE TABLE `t`')
    expect(content.toString()).toMatch(/-- Dump completed\s*$/)
  })

  it('dumps a database whose name starts with "-" as a name, not an option', async () => {
    const odd = '-odd name'
    await sql(`CREATE DATABASE \`${odd}\`; CREATE TABLE \`${odd}\`.x (a INT); INSERT INTO \`${odd}\`.x VALUES (42)`)
    try {
      const { content, error } = await runDump(new MysqlEngine(mysqlSource({ databases: [odd] }), workDir), odd)
      expect(error).toBeUndefined()
      expect(content.toString()).toContain('INSERT INTO `x` VALUES')
    } finally {
      await sql(`DROP DATABASE \`${odd}\``)
    }
  })

  it('a wrong password fails done with AUTH and no password in the message', async () => {
    const password = 'definitely-Wrong-42'
    const { error } = await runDump(new MysqlEngine(mysqlSource({ password, databases: [db] }), workDir), db)
    expect(error).toBeInstanceOf(DbkeeperError)
    const e = error as DbkeeperError
    expect(e.code).toBe('AUTH')
    expect(e.message).toMatch(/^mysqldump exited 2: .*Access denied/)
    expect(e.hint).toBe('check DB07_USER / DB07_PASS or DB07_PASS_FILE')
    expect(`${e.message}${e.hint}`).not.toContain(password)
    expect(await readdir(workDir)).toEqual([])
  })

  it('a missing database fails done with NOT_FOUND', async () => {
    const { error } = await runDump(new MysqlEngine(mysqlSource(), workDir), 'gone_db_xyz')
    expect((error as DbkeeperError).code).toBe('NOT_FOUND')
    expect((error as DbkeeperError).message).toContain('Unknown database')
    expect((error as DbkeeperError).hint).toBe('check DB07_NAME')
  })

  it('a user without SHOW VIEW fails done with PRIVILEGE naming the grant', async () => {
    const user = await createUser('pw-noview', [`SELECT ON \`${db}\`.*`])
    const { error } = await runDump(
      new MysqlEngine(mysqlSource({ user, password: 'pw-noview', databases: [db] }), workDir),
      db,
    )
    const e = error as DbkeeperError
    expect(e.code).toBe('PRIVILEGE')
    expect(e.message).toContain('SHOW VIEW command denied')
    expect(e.hint).toContain(`GRANT SHOW VIEW ON \`${db}\`.* TO '${user}'@'%'`)
  })

  it('an unreachable server fails done with CONNECT', async () => {
    const { error } = await runDump(new MysqlEngine(mysqlSource({ port: 1, databases: [db] }), workDir), db)
    expect((error as DbkeeperError).code).toBe('CONNECT')
    expect((error as DbkeeperError).hint).toContain('DB07_HOST / DB07_PORT')
  })

  it('an option mysqldump does not know points at DBnn_EXTRA_OPTS', async () => {
    const { error } = await runDump(new MysqlEngine(mysqlSource({ extraOpts: ['--no-such-option'] }), workDir), db)
    expect((error as DbkeeperError).code).toBe('DUMP_FAILED')
    expect((error as DbkeeperError).hint).toContain('DB07_EXTRA_OPTS')
  })

  it('aborting the signal kills mysqldump and rejects done with ABORTED', async () => {
    const controller = new AbortController()
    const dump = new MysqlEngine(mysqlSource(), workDir).dump(db, controller.signal)
    controller.abort()
    dump.stdout.resume()
    await expect(dump.done).rejects.toMatchObject({ code: 'ABORTED' })
    expect(await readdir(workDir)).toEqual([])
  })
})

describe('MysqlEngine.checkContent', () => {
  const engine = new MysqlEngine(mysqlSource(), '/nonexistent')
  const head = Buffer.from('-- MariaDB dump 10.19\n')

  it('accepts a tail whose last line is the end marker, with trailing blank lines', () => {
    expect(
      engine.checkContent(head, Buffer.from('UNLOCK TABLES;\n\n-- Dump completed on 2026-01-01  3:00:00\n\n')),
    ).toBeUndefined()
  })

  it('rejects a dump that stops before the marker', () => {
    expect(engine.checkContent(head, Buffer.from('INSERT INTO `t` VALUES (1);\n'))).toBe(
      "the dump has no '-- Dump completed' end marker: mysqldump stopped early",
    )
  })

  it('rejects a marker that is not the last line (something came after it)', () => {
    expect(
      engine.checkContent(head, Buffer.from('-- Dump completed on 2026-01-01\nINSERT INTO t VALUES (1);\n')),
    ).toBeDefined()
  })

  it('rejects empty content', () => {
    expect(engine.checkContent(Buffer.alloc(0), Buffer.alloc(0))).toBeDefined()
  })
})
