/**
 * The engine runs the dump tool by name from PATH (childEnv copies PATH from process.env), so
 * these tests put fixture scripts first on process.env.PATH, as the CLI tests do for the process.
 */
import { mkdtemp, readdir } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { MysqlEngine } from '../../../src/engines/mysql/engine.js'
import type { DbkeeperError } from '../../../src/runtime/errors.js'
import { ROOT } from '../../support/cli.js'
import { freePort } from '../../support/servers.js'
import { createDatabase, headTail, mysqlSource, privateDir, removeDir, runDump, server, sql } from './helpers.js'

const fixture = (name: string) => join(ROOT, 'test/fixtures/bin', name)
const originalPath = process.env.PATH
const signal = () => new AbortController().signal

describe('mysqldump stand-ins on PATH', () => {
  let workDir: string
  let db: string
  beforeAll(async () => {
    workDir = await privateDir()
    db = await createDatabase()
  })
  const emptyDirs: string[] = []
  const emptyDir = async () => {
    const d = await mkdtemp(join(tmpdir(), 'dbk-empty-path-'))
    emptyDirs.push(d)
    return d
  }
  afterEach(() => {
    process.env.PATH = originalPath
  })
  afterAll(async () => {
    await sql(`DROP DATABASE IF EXISTS \`${db}\``)
    await removeDir(workDir)
    for (const d of emptyDirs) await removeDir(d)
  })

  it('a mysqldump that dies halfway: done rejects with the exit code and its stderr, and the content has no end marker', async () => {
    process.env.PATH = `${fixture('mysqldump-dies-halfway')}:${originalPath}`
    const engine = new MysqlEngine(mysqlSource({ databases: [db] }), workDir)
    const probe = await engine.probe(signal())
    expect(probe.tool.name).toBe('mysqldump')
    const { content, error } = await runDump(engine, db)
    const e = error as DbkeeperError
    expect(e.code).toBe('DUMP_FAILED')
    expect(e.message).toBe(
      'mysqldump exited 2: Error 2013: Lost connection to server during query when dumping table `half` at row: 3000',
    )
    expect(content.length).toBeGreaterThan(200_000)
    expect(engine.checkContent(...headTail(content))).toMatch(/no '-- Dump completed' end marker/)
    expect(await readdir(workDir)).toEqual([])
  })

  it('a mysqldump that exits 0 without the end marker: only checkContent catches it', async () => {
    process.env.PATH = `${fixture('mysqldump-no-marker')}:${originalPath}`
    const engine = new MysqlEngine(mysqlSource({ databases: [db] }), workDir)
    const { content, error } = await runDump(engine, db)
    expect(error).toBeUndefined()
    expect(content.toString()).toContain('INSERT INTO `cut`')
    expect(engine.checkContent(...headTail(content))).toBe(
      "the dump has no '-- Dump completed' end marker: mysqldump stopped early",
    )
  })

  it("MySQL's mysqldump against a MariaDB server is refused with VERSION naming both", async () => {
    // Only the fixture on PATH: the real MariaDB tools must not be found as a better match.
    process.env.PATH = fixture('mysqldump-mysql8')
    const error = (await new MysqlEngine(mysqlSource({ databases: [db] }), workDir)
      .probe(signal())
      .catch((e: unknown) => e)) as DbkeeperError
    expect(error.code).toBe('VERSION')
    expect(error.message).toContain('8.0.36')
    expect(error.message).toContain(server().version)
    expect(error.hint).toContain("MariaDB's client tools (Debian: mariadb-client)")
  })

  it('no dump tool on PATH: the probe fails with TOOL_MISSING', async () => {
    process.env.PATH = await emptyDir()
    const error = (await new MysqlEngine(mysqlSource({ databases: [db] }), workDir)
      .probe(signal())
      .catch((e: unknown) => e)) as DbkeeperError
    expect(error.code).toBe('TOOL_MISSING')
    expect(error.hint).toContain('mariadb-client')
  })

  it('no dump tool on PATH and no server: the connection error comes first, though the tools are asked first', async () => {
    // The probe starts the tools' `--version` before connecting (engine.ts) and awaits them after
    // the server's version: the error that names the cause the operator must fix first stays first.
    process.env.PATH = await emptyDir()
    const error = (await new MysqlEngine(mysqlSource({ databases: [db], port: await freePort() }), workDir)
      .probe(signal())
      .catch((e: unknown) => e)) as DbkeeperError
    expect(error.code).toBe('CONNECT')
    expect(error.message).toContain('connection refused')
  })

  it('no dump tool on PATH at dump time: done rejects with TOOL_MISSING and the credentials file is gone', async () => {
    process.env.PATH = await emptyDir()
    const { error } = await runDump(new MysqlEngine(mysqlSource({ databases: [db] }), workDir), db)
    expect((error as DbkeeperError).code).toBe('TOOL_MISSING')
    expect(await readdir(workDir)).toEqual([])
  })
})
