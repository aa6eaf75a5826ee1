/**
 * A DBnn_PITR MariaDB source's base dump records where it stands in the binary log, and that point
 * is right: restoring the dump on another server and replaying the source's binlog from the
 * recorded file and position (or from the recorded GTID) gives exactly the source's rows — with a
 * writer committing before, during and after the dump, and the binlog rotated after it. A position
 * one transaction too early fails on a duplicate key; one too late misses rows.
 */
import { createReadStream } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { createGunzip } from 'node:zlib'
import { execa } from 'execa'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Manifest } from '../../../src/catalog/manifest.js'
import { decodeManifest } from '../../../src/catalog/manifest.js'
import { MysqlEngine } from '../../../src/engines/mysql/engine.js'
import { backupDatabase } from '../../../src/pipeline/backup.js'
import { createCompression } from '../../../src/pipeline/compression.js'
import { startMariadb } from '../../support/mariadb-server.js'
import { mysqlAdmin, startWithRetry, type RunningServer, type ServerInfo } from '../../support/servers.js'
import { mysqlSourceOn, privateDir, removeDir } from './helpers.js'

const DB = 'shop'

function sourceOf(info: ServerInfo, pitr: boolean) {
  return mysqlSourceOn(info, { databases: [DB], pitr })
}

async function query(info: ServerInfo, sql: string, database?: string): Promise<unknown> {
  const conn = await mysqlAdmin(info, database)
  try {
    return (await conn.query(sql))[0]
  } finally {
    await conn.end()
  }
}

const client = (info: ServerInfo) => [
  '--no-defaults',
  `--host=${info.host}`,
  `--port=${info.port}`,
  `--user=${info.user}`,
]
const rowsOf = (info: ServerInfo) => query(info, 'SELECT id, v FROM t ORDER BY id', DB)

describe('base dump binlog coordinates (MariaDB, --master-data=2 --gtid)', () => {
  let source: RunningServer & { binlogDir?: string }
  let replica: RunningServer
  let workDir: string
  let backupDir: string
  let manifest: Manifest
  let backupFile: string
  let binlogFiles: string[]
  let rowsInDump: number

  beforeAll(async () => {
    // One after the other: mariadb-install-db runs side by side have failed on each other's temporary tables in /tmp.
    source = await startWithRetry(() => startMariadb({ binlog: { format: 'ROW' } }))
    replica = await startWithRetry(() => startMariadb())
    workDir = await privateDir()
    backupDir = await privateDir()
    await query(source.info, `CREATE DATABASE ${DB}; CREATE TABLE ${DB}.t (id INT PRIMARY KEY, v VARCHAR(40))`)

    // A writer committing one row per transaction before, during and after the dump.
    const writer = await mysqlAdmin(source.info, DB)
    let id = 0
    let writing = true
    const written = (async () => {
      while (writing) await writer.query('INSERT INTO t VALUES (?, ?)', [++id, `row ${id}`])
    })()
    while (id < 200) await new Promise((r) => setTimeout(r, 5))

    const src = sourceOf(source.info, true)
    const engine = new MysqlEngine(src, workDir)
    const probe = await engine.probe(new AbortController().signal)
    const committed = await backupDatabase({
      backupDir,
      source: src,
      engine,
      probe,
      database: DB,
      compression: createCompression('gzip', 1),
      signal: new AbortController().signal,
    })
    const atDump = id
    while (id < atDump + 200) await new Promise((r) => setTimeout(r, 5))
    writing = false
    await written
    await writer.end()
    // After the dump: a rotation, an update and a delete, all of which the replay must carry.
    await query(
      source.info,
      `FLUSH BINARY LOGS; UPDATE ${DB}.t SET v = 'changed' WHERE id % 7 = 0; DELETE FROM ${DB}.t WHERE id % 11 = 0`,
    )

    const decoded = decodeManifest(await readFile(committed.manifestPath, 'utf8'))
    if ('error' in decoded) throw new Error(decoded.error)
    manifest = decoded.manifest
    backupFile = committed.dataPath
    const binlogs = (await query(source.info, 'SHOW BINARY LOGS')) as { Log_name: string }[]
    binlogFiles = binlogs.map((b) => join(source.binlogDir!, b.Log_name))
    rowsInDump = (await restoreDump()).length
  }, 120_000)

  afterAll(async () => {
    await Promise.all([source?.stop(), replica?.stop()])
    await removeDir(workDir)
    await removeDir(backupDir)
  })

  /** The base dump on the replica, in a fresh database of the source's name; its rows. */
  async function restoreDump(): Promise<unknown[]> {
    await query(replica.info, `DROP DATABASE IF EXISTS ${DB}; CREATE DATABASE ${DB}`)
    const load = execa('mariadb', [...client(replica.info), DB])
    createReadStream(backupFile).pipe(createGunzip()).pipe(load.stdin)
    await load
    return (await rowsOf(replica.info)) as unknown[]
  }

  /** Replays the source's binlog files onto the replica from `start` (a byte offset or a GTID position). */
  function replay(start: string, files: string[]) {
    return execa('mariadb-binlog', [`--start-position=${start}`, ...files], { reject: false }).pipe(
      'mariadb',
      [...client(replica.info)],
      { reject: false },
    )
  }

  it('records file, position and GTID in the manifest', () => {
    expect(manifest.binlog).toEqual({
      file: 'binlog.000001',
      position: expect.any(Number),
      gtid: expect.stringMatching(/^0-1-\d+$/),
    })
    expect(manifest.tool.options).toEqual(expect.arrayContaining(['--master-data=2', '--gtid']))
    // The dump is a point inside the writer's run: rows before it are in it, rows after are not.
    expect(rowsInDump).toBeGreaterThanOrEqual(200)
    expect(binlogFiles).toHaveLength(2)
  })

  it('replaying the binlog from the recorded file and position gives exactly the source', async () => {
    await restoreDump()
    const r = await replay(String(manifest.binlog!.position), binlogFiles)
    expect(r.exitCode, r.stderr).toBe(0)
    const expected = await rowsOf(source.info)
    // Hundreds of the rows came from the binlog alone, not from the dump.
    expect((expected as unknown[]).length).toBeGreaterThan(rowsInDump + 100)
    expect(await rowsOf(replica.info)).toEqual(expected)
  })

  it('a byte position one transaction too early fails on a duplicate row; one too late misses rows', async () => {
    const events = (await query(source.info, `SHOW BINLOG EVENTS IN '${manifest.binlog!.file}'`)) as {
      Pos: number
      Event_type: string
    }[]
    const starts = events.filter((e) => e.Event_type === 'Gtid').map((e) => Number(e.Pos))
    const at = manifest.binlog!.position
    // The recorded position is a transaction's first event: a replay starts on a boundary.
    expect(starts).toContain(at)
    const before = starts.filter((p) => p < at).at(-1)!
    const after = starts.find((p) => p > at)!

    await restoreDump()
    const early = await replay(String(before), binlogFiles)
    expect(early.exitCode).not.toBe(0)
    expect(early.stderr).toMatch(/Duplicate entry/)

    await restoreDump()
    await replay(String(after), binlogFiles)
    expect(await rowsOf(replica.info)).not.toEqual(await rowsOf(source.info))
  })

  it('replaying from the recorded GTID position gives exactly the source too', async () => {
    await restoreDump()
    const r = await replay(manifest.binlog!.gtid!, binlogFiles)
    expect(r.exitCode, r.stderr).toBe(0)
    expect(await rowsOf(replica.info)).toEqual(await rowsOf(source.info))
  })

  it('a GTID one transaction too early fails on a duplicate row; one too late misses rows', async () => {
    const [domain, server, seq] = manifest.binlog!.gtid!.split('-').map(Number)
    await restoreDump()
    const early = await replay(`${domain}-${server}-${seq! - 1}`, binlogFiles)
    expect(early.exitCode).not.toBe(0)
    expect(early.stderr).toMatch(/Duplicate entry/)

    // Too late: the first transaction after the dump is skipped (and a later change of its row
    // may fail the replay): never the source's rows.
    await restoreDump()
    await replay(`${domain}-${server}-${seq! + 1}`, binlogFiles)
    expect(await rowsOf(replica.info)).not.toEqual(await rowsOf(source.info))
  })

  it('a source without PITR dumps without coordinates and records none', async () => {
    const src = sourceOf(source.info, false)
    const engine = new MysqlEngine(src, workDir)
    const probe = await engine.probe(new AbortController().signal)
    const committed = await backupDatabase({
      backupDir,
      source: src,
      engine,
      probe,
      database: DB,
      compression: createCompression('gzip', 1),
      signal: new AbortController().signal,
    })
    const text = await readFile(committed.manifestPath, 'utf8')
    expect(text).not.toContain('binlog')
    expect(text).not.toContain('master-data')
  })

  it('a PITR dump that names no position is not kept: DUMP_FAILED naming DBnn_EXTRA_OPTS', async () => {
    const src = { ...sourceOf(source.info, true), extraOpts: ['--master-data=0'] }
    const engine = new MysqlEngine(src, workDir)
    const probe = await engine.probe(new AbortController().signal)
    const failed = await backupDatabase({
      backupDir,
      source: src,
      engine,
      probe,
      database: DB,
      compression: createCompression('gzip', 1),
      signal: new AbortController().signal,
    }).catch((e: unknown) => e)
    expect(failed).toMatchObject({ code: 'DUMP_FAILED', message: expect.stringContaining('names no binlog position') })
    expect((failed as { hint: string }).hint).toContain('DB07_EXTRA_OPTS')
  })

  it('a PITR dump of a server without binary logging fails naming log_bin and the my.cnf lines', async () => {
    await query(replica.info, `CREATE DATABASE IF NOT EXISTS ${DB}`)
    const src = sourceOf(replica.info, true)
    const engine = new MysqlEngine(src, workDir)
    const probe = await engine.probe(new AbortController().signal)
    const failed = await backupDatabase({
      backupDir,
      source: src,
      engine,
      probe,
      database: DB,
      compression: createCompression('gzip', 1),
      signal: new AbortController().signal,
    }).catch((e: unknown) => e)
    expect(failed).toMatchObject({ code: 'DUMP_FAILED', hint: expect.stringContaining('log_bin = binlog') })
  })
})
