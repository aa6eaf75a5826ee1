/**
 * Shared pieces of the MySQL engine tests: a SourceConfig for the private MariaDB
 * (`inject('mariadb')`), fresh databases and users, and reading a dump to the end.
 */
import { chmod, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Readable } from 'node:stream'
import { inject } from 'vitest'
import type { SourceConfig } from '../../../src/config/types.js'
import type { DumpResult } from '../../../src/engines/engine.js'
import type { MysqlEngine } from '../../../src/engines/mysql/engine.js'
import { Secret } from '../../../src/runtime/secrets.js'
import { mysqlAdmin, uniqueName, type ServerInfo } from '../../support/servers.js'

export const server = (): ServerInfo => inject('mariadb')

type SourceOverrides = Partial<Omit<SourceConfig, 'password'>> & { password?: string }

/** A source on the shared private MariaDB. */
export function mysqlSource(overrides: SourceOverrides = {}): SourceConfig {
  return mysqlSourceOn(server(), overrides)
}

/** A source on the server `info` (a test's own server: with a binlog, without one). */
export function mysqlSourceOn(info: ServerInfo, overrides: SourceOverrides = {}): SourceConfig {
  const { password, ...rest } = overrides
  return Object.freeze({
    id: 'DB07',
    label: 'my',
    type: 'mysql',
    engine: 'mysql',
    host: info.host,
    port: info.port,
    user: info.user,
    password: password === undefined ? undefined : new Secret(password),
    databases: 'ALL',
    path: undefined,
    extraOpts: [],
    pgFormat: 'plain',
    pgGlobals: false,
    retention: {},
    pitr: false,
    ...rest,
  } satisfies SourceConfig)
}

/** A private 0700 directory, as the engine's work directory. */
export async function privateDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'dbk-mytest-'))
  await chmod(dir, 0o700)
  return dir
}

export const removeDir = (dir: string) => rm(dir, { recursive: true, force: true })

/** Runs an SQL script as root, optionally inside `database`. */
export async function sql(script: string, database?: string): Promise<unknown> {
  const conn = await mysqlAdmin(server(), database)
  try {
    const [rows] = await conn.query(script)
    return rows
  } finally {
    await conn.end()
  }
}

/** A new database with a small table (`t`: 3 rows), optionally more SQL run inside it. */
export async function createDatabase(extra = ''): Promise<string> {
  const name = uniqueName('my')
  await sql(`CREATE DATABASE \`${name}\` CHARACTER SET utf8mb4`)
  await sql(
    `CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(40)); INSERT INTO t VALUES (1,'one'),(2,'two'),(3,'drei 🦆'); ${extra}`,
    name,
  )
  return name
}

/** A new user with the password and grants given, e.g. `['SELECT ON db.*']`. */
export async function createUser(password: string, grants: string[]): Promise<string> {
  const user = uniqueName('u')
  const conn = await mysqlAdmin(server())
  try {
    // Placeholders, not string building: the password may hold any character.
    await conn.query("CREATE USER ?@'%' IDENTIFIED BY ?", [user, password])
    for (const grant of grants) await conn.query(`GRANT ${grant} TO ?@'%'`, [user])
  } finally {
    await conn.end()
  }
  return user
}

/** The whole stream in memory (test dumps are small). */
export async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = []
  for await (const chunk of stream) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks)
}

/** Reads the dump to the end and waits for the verdict; the verdict's rejection is returned, not thrown. */
export async function runDump(engine: MysqlEngine, database: string, signal = new AbortController().signal) {
  const dump = engine.dump(database, signal)
  const [content, outcome] = await Promise.all([
    readAll(dump.stdout),
    dump.done.then(
      (result: DumpResult) => ({ result, error: undefined }),
      (error: unknown) => ({ result: undefined, error }),
    ),
  ])
  return { content, ...outcome }
}

/** Head and tail as the pipeline hands them to checkContent. */
export function headTail(content: Buffer): [Buffer, Buffer] {
  return [content.subarray(0, 65536), content.subarray(Math.max(0, content.length - 65536))]
}
