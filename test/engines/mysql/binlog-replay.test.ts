/**
 * The replay's guard, on a private mariadbd's real binlog: `--rewrite-db` renames the default
 * database and the row events, not a database name written in a statement, so a logged
 * `ALTER TABLE app.t …` replayed "into the copy" would run against the live `app`. Such a range is
 * refused before anything is replayed; ordinary traffic (row events, unqualified DDL) replays.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import mysql from 'mysql2/promise'
import { afterAll, beforeAll, beforeEach, expect, it } from 'vitest'
import { localBinlogs } from '../../../src/engines/mysql/binlog-archive.js'
import { replayBinlog } from '../../../src/engines/mysql/binlog-replay.js'
import { startMariadb } from '../../support/mariadb-server.js'
import type { RunningServer } from '../../support/servers.js'
import { mysqlSourceOn } from './helpers.js'

let server: RunningServer & { binlogDir?: string }
let admin: mysql.Connection
let work: string
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

beforeAll(async () => {
  server = await startMariadb({ binlog: {} })
  const { host, port, user } = server.info
  admin = await mysql.createConnection({ host, port, user, password: '', multipleStatements: true })
  work = await mkdtemp(join(tmpdir(), 'dbk-replay-'))
}, 60_000)
afterAll(async () => {
  await admin?.end()
  await server?.stop()
  await rm(work, { recursive: true, force: true })
})
beforeEach(async () => {
  await admin.query('DROP DATABASE IF EXISTS app; DROP DATABASE IF EXISTS app_copy')
  await admin.query('CREATE DATABASE app; CREATE TABLE app.t (id INT PRIMARY KEY, v INT)')
  await admin.query('CREATE DATABASE app_copy; CREATE TABLE app_copy.t (id INT PRIMARY KEY, v INT)')
})

async function position(): Promise<{ file: string; position: number }> {
  const [[row]] = (await admin.query('SHOW MASTER STATUS')) as unknown as [{ File: string; Position: number }[]]
  return { file: row!.File, position: Number(row!.Position) }
}
const columns = async (db: string) => {
  const [rows] = await admin.query(`SHOW COLUMNS FROM ${db}.t`)
  return (rows as { Field: string }[]).map((c) => c.Field)
}
async function replay(from: { file: string; position: number }) {
  await sleep(1100) // binlog times are whole seconds: T lies after every event
  const files = (await localBinlogs(server.binlogDir!)).filter((f) => f.file >= from.file)
  return replayBinlog({
    source: mysqlSourceOn(server.info),
    paths: files.map((f) => join(server.binlogDir!, f.file)),
    position: from.position,
    at: new Date(),
    database: 'app',
    into: 'app_copy',
    label: 'database `app_copy`',
    workDir: work,
    signal: new AbortController().signal,
  })
}

it('replays row events and unqualified DDL into the copy, not the live database', async () => {
  const from = await position()
  await admin.query('USE app; INSERT INTO t VALUES (1, 1), (2, 2); ALTER TABLE t ADD COLUMN w INT; UPDATE t SET w = 7')
  await replay(from)
  const [rows] = await admin.query('SELECT id, v, w FROM app_copy.t ORDER BY id')
  expect(rows).toEqual([
    { id: 1, v: 1, w: 7 },
    { id: 2, v: 2, w: 7 },
  ])
})

it('refuses a range holding a statement that names the database itself, replaying nothing', async () => {
  const from = await position()
  await admin.query('USE app; INSERT INTO t VALUES (1, 1); ALTER TABLE `app`.t ADD COLUMN live_only INT')
  // The live database is as the statement left it; the replay must not run it a second time
  // there (it would fail: the column exists) nor anything else.
  const error = await replay(from).then(
    () => undefined,
    (e: unknown) => e as Error & { code?: string },
  )
  expect(error?.code).toBe('RESTORE_FAILED')
  expect(error?.message).toContain('names `app` itself')
  expect(error?.message).toContain('ALTER TABLE `app`.t ADD COLUMN live_only INT')
  expect(error?.message).toContain('nothing was replayed')
  const [rows] = await admin.query('SELECT COUNT(*) AS n FROM app_copy.t')
  expect((rows as { n: number }[])[0]!.n).toBe(0)
  expect(await columns('app_copy')).toEqual(['id', 'v'])
})
