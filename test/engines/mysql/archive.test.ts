/**
 * MysqlArchive over real binlog files of a private MariaDB (`--log-bin --binlog-format=ROW`),
 * copied as the archiver would have them: event times read from the headers, the ranges split at
 * a recorded gap, other files in the directory ignored, the growing file read up to its last
 * whole event, a changed closed file refused, and materialize() refused.
 */
import { createHash } from 'node:crypto'
import { appendFile, copyFile, mkdir, mkdtemp, readFile, rm, truncate, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import mysql from 'mysql2/promise'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { binlogArchiveDir } from '../../../src/catalog/naming.js'
import { createArchive } from '../../../src/engines/index.js'
import { MysqlArchive, readSpan } from '../../../src/engines/mysql/archive.js'
import { appendIndex, writeHeartbeat } from '../../../src/engines/mysql/binlog-archive.js'
import { DbkeeperError } from '../../../src/runtime/errors.js'
import { startMariadb } from '../../support/mariadb-server.js'
import type { RunningServer } from '../../support/servers.js'
import { mysqlSourceOn } from './helpers.js'

let server: RunningServer & { binlogDir?: string }
let root: string
let dir: string
let startedAt: number
let files: string[]
const sha = async (path: string) =>
  createHash('sha256')
    .update(await readFile(path))
    .digest('hex')

beforeAll(async () => {
  server = await startMariadb({ binlog: {} })
  const admin = await mysql.createConnection({
    host: server.info.host,
    port: server.info.port,
    user: server.info.user,
    password: '',
  })
  try {
    startedAt = Math.floor(Date.now() / 1000) * 1000
    await admin.query('CREATE DATABASE app')
    await admin.query('CREATE TABLE app.t (id INT AUTO_INCREMENT PRIMARY KEY, v VARCHAR(100))')
    await admin.query('INSERT INTO app.t (v) VALUES (UUID()), (UUID())')
    await admin.query('FLUSH BINARY LOGS')
    await admin.query('INSERT INTO app.t (v) VALUES (UUID())')
    const [logs] = await admin.query('SHOW BINARY LOGS')
    files = (logs as { Log_name: string }[]).map((l) => l.Log_name)
  } finally {
    await admin.end()
  }
  root = await mkdtemp(join(tmpdir(), 'dbk-myarchive-'))
  dir = binlogArchiveDir(root, 'my')
  await mkdir(dir, { recursive: true })
  for (const f of files) await copyFile(join(server.binlogDir!, f), join(dir, f))
  await appendIndex(dir, {
    kind: 'closed',
    file: files[0]!,
    size: 0,
    sha256: await sha(join(dir, files[0]!)),
    provenAt: new Date().toISOString(),
  })
  // What the archiver leaves beside the binlogs: never read as binlogs.
  await writeFile(join(dir, 'offsite.abc.jsonl'), '{}\n')
}, 60_000)
afterAll(async () => {
  await server?.stop()
  await rm(root, { recursive: true, force: true })
})

describe('MysqlArchive', () => {
  it('is what createArchive gives a mysql source, and its range spans the events written', async () => {
    const archive = await createArchive(mysqlSourceOn(server.info), dir)
    expect(archive).toBeInstanceOf(MysqlArchive)
    const caughtUpAt = new Date(Date.now() + 1000)
    await writeHeartbeat(dir, {
      checkedAt: caughtUpAt.toISOString(),
      server: { file: files.at(-1)!, position: 4 },
      local: { file: files.at(-1)!, size: 4 },
      caughtUpAt: caughtUpAt.toISOString(),
    })
    const state = await archive.state(caughtUpAt)
    expect(state.lagMs).toBe(0)
    expect(state.ranges).toHaveLength(1)
    expect(state.ranges[0]!.base).toBe(files[0])
    // The first event is the server's start, before this test's writes; the end is the catch-up.
    expect(state.ranges[0]!.from.getTime()).toBeLessThanOrEqual(startedAt)
    expect(state.ranges[0]!.to).toEqual(caughtUpAt)
  })

  it('reads a file to its last whole event: a torn tail is not read', async () => {
    const path = join(dir, files.at(-1)!)
    const whole = await readSpan(path, files.at(-1)!)
    const size = (await readFile(path)).length
    expect(whole.end).toBe(size)
    expect(whole.last!.getTime()).toBeGreaterThanOrEqual(startedAt)
    const torn = join(root, 'torn.000009')
    await copyFile(path, torn)
    await appendFile(torn, Buffer.alloc(10, 7))
    expect(await readSpan(torn, 'torn.000009')).toEqual({ ...whole, file: 'torn.000009' })
    await truncate(torn, size - 3)
    expect((await readSpan(torn, 'torn.000009')).end).toBeLessThan(size - 3)
    expect(await readSpan(join(dir, 'offsite.abc.jsonl'), 'x')).toMatchObject({ first: undefined, end: 0 })
  })

  it('continues a span read before where it ended, as a growing file is read again', async () => {
    const path = join(dir, files.at(-1)!)
    const whole = await readSpan(path, files.at(-1)!)
    const growing = join(root, 'growing.000009')
    const bytes = await readFile(path)
    await writeFile(growing, bytes.subarray(0, Math.floor(bytes.length / 2)))
    const half = await readSpan(growing, 'g')
    expect(half.end).toBeGreaterThan(4)
    expect(half.end).toBeLessThan(whole.end)
    await writeFile(growing, bytes)
    expect(await readSpan(growing, 'g', half)).toEqual({ ...whole, file: 'g' })
    // Continued, not read again from the start: the first time is taken from what was read before.
    const marked = { ...half, first: new Date(1000) }
    expect(await readSpan(growing, 'g', marked)).toEqual({ ...whole, file: 'g', first: new Date(1000) })
  })

  it('proves closed files by their sha256 and refuses a changed one', async () => {
    const archive = new MysqlArchive(dir)
    expect(await archive.prove(files)).toEqual({ proven: [files[0]], unproven: files.slice(1) })
    const path = join(dir, files[0]!)
    const bytes = await readFile(path)
    bytes[bytes.length - 10] = bytes[bytes.length - 10]! ^ 0xff
    await writeFile(path, bytes)
    const refused = await archive.prove(files).catch((e: unknown) => e)
    expect(refused).toBeInstanceOf(DbkeeperError)
    expect((refused as DbkeeperError).code).toBe('VERIFY_FAILED')
    expect((refused as Error).message).toContain(`binlog ${files[0]} in ${dir} is not the file that was archived`)
    await copyFile(join(server.binlogDir!, files[0]!), path)
  })

  it('splits the ranges at a recorded gap', async () => {
    const gapped = join(root, 'gapped')
    await mkdir(gapped)
    await copyFile(join(dir, files[0]!), join(gapped, files[0]!))
    const later = files[0]!.replace(/\d+$/, (n) => String(Number(n) + 5).padStart(n.length, '0'))
    await copyFile(join(dir, files.at(-1)!), join(gapped, later))
    await appendIndex(gapped, {
      kind: 'gap',
      after: files[0]!,
      resumedAt: later,
      detectedAt: new Date().toISOString(),
      reason: 'purged',
    })
    const state = await new MysqlArchive(gapped).state(new Date())
    expect(state.ranges.map((r) => r.base)).toEqual([files[0], later])
  })

  it('refuses to materialize into a file', async () => {
    const refused = await new MysqlArchive(dir).materialize().then(
      () => undefined,
      (e: unknown) => e as DbkeeperError,
    )
    expect(refused).toMatchObject({ code: 'USAGE' })
    expect(refused?.hint).toContain('--into')
  })
})
