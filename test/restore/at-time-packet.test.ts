/**
 * `dbkeeper restore --at T` across a row the server took within its max_allowed_packet but whose
 * replay is longer: a row event is replayed as one `BINLOG '…'` statement, its base64 a third
 * longer than the row, so a 14 MB BLOB written on a server left at its 16 MiB default comes back
 * as an 18 MiB statement (ERROR 1153 at the statement, before the replay measured it). The replay
 * raises the setting for itself and sets it back; a user who may not raise it is refused with the
 * value to set, and nothing is left behind. The by-hand measure of docs/RESTORE.md gives the size.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { execa } from 'execa'
import mysql from 'mysql2/promise'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { localBinlogs, readHeartbeat } from '../../src/engines/mysql/binlog-archive.js'
import { NASTY_PASSWORD } from '../backup/mysql-support.js'
import { startMariadb } from '../support/mariadb-server.js'
import type { RunningServer } from '../support/servers.js'
import { backupNow, cli, pitrSource, readManifest } from './support.js'

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
const DEFAULT_PACKET = 16 * 1024 * 1024
/** 14,000,000 bytes: 218,750 copies of a 64-character hex digest. */
const BIG_ROW = "CONCAT(REPEAT(SHA2('dbkeeper', 256), 218750))"

describe('restore to a time across a row whose replay is longer than max_allowed_packet', () => {
  let server: RunningServer & { binlogDir?: string }
  let admin: mysql.Connection
  let root: string
  let env: Record<string, string>
  let archiveDir: string
  let end: string
  let source: unknown[]
  let basePath: string

  const rowsOf = async (database: string) =>
    (await admin.query(`SELECT id, LENGTH(b) AS n, MD5(b) AS md5 FROM \`${database}\`.t ORDER BY id`))[0] as unknown[]
  const globalPacket = async () =>
    Number(((await admin.query('SELECT @@GLOBAL.max_allowed_packet AS p'))[0] as { p: number }[])[0]!.p)
  const scratch = async () =>
    ((await admin.query("SHOW DATABASES WHERE `Database` LIKE '%\\_dbk%' OR `Database` = 'nosuper_x'"))[0] as unknown[])
      .length

  beforeAll(async () => {
    server = await startMariadb({ binlog: {} })
    const { host, port } = server.info
    admin = await mysql.createConnection({ host, port, user: server.info.user, password: '' })
    // May replay and restore into its own names, but not SET GLOBAL (no SUPER).
    await admin.query("CREATE USER nosuper@'%' IDENTIFIED BY ?", [NASTY_PASSWORD])
    await admin.query("GRANT BINLOG REPLAY ON *.* TO nosuper@'%'")
    await admin.query("GRANT ALL PRIVILEGES ON `app`.* TO nosuper@'%'")
    await admin.query("GRANT ALL PRIVILEGES ON `nosuper\\_%`.* TO nosuper@'%'")
    // As production servers with GTID replicas run: a replay that kept the original GTIDs is refused.
    await admin.query('SET GLOBAL gtid_strict_mode = 1')
    await admin.query('CREATE DATABASE app')
    await admin.query('CREATE TABLE app.t (id INT PRIMARY KEY, b LONGBLOB)')
    await admin.query("INSERT INTO app.t VALUES (1, 'before the base')")
    root = await mkdtemp(join(tmpdir(), 'dbk-at-packet-'))
    const backupDir = join(root, 'backups')
    const pitr = await pitrSource(server.info, admin, backupDir)
    ;({ env, archiveDir } = pitr)
    const archiver = pitr.archiver
    try {
      await sleep(500)
      basePath = (await backupNow(env))[0]!.path!
      await sleep(1100)
      // Made by the server: the statement is short, the row 14 MB, the row event as long.
      await admin.query(`INSERT INTO app.t SELECT 2, ${BIG_ROW}`)
      await admin.query("INSERT INTO app.t VALUES (3, 'after it')")
      const last = Date.now()
      const caughtUp = async () => Date.parse((await readHeartbeat(archiveDir))?.caughtUpAt ?? '') || 0
      for (let i = 0; i < 300 && Math.floor((await caughtUp()) / 1000) <= Math.floor(last / 1000); i++) await sleep(100)
      expect(Math.floor((await caughtUp()) / 1000)).toBeGreaterThan(Math.floor(last / 1000))
    } finally {
      await archiver.stop()
    }
    end = (await readHeartbeat(archiveDir))!.caughtUpAt!
    source = await rowsOf('app')
    expect(source).toHaveLength(3)
    expect(await globalPacket()).toBe(DEFAULT_PACKET)
  }, 120_000)
  afterAll(async () => {
    await admin?.end()
    await server?.stop()
    await rm(root, { recursive: true, force: true })
  })

  it('the documented by-hand measure finds the statement longer than the server allows', async () => {
    const base = (await readManifest(basePath)).binlog!
    const files = (await localBinlogs(archiveDir)).map((b) => b.file).filter((f) => f >= base.file)
    const measured = await execa(
      'bash',
      [
        '-c',
        `TZ=UTC mariadb-binlog --skip-gtid-strict-mode --verify-binlog-checksum --start-position=${base.position} --database=app "$@" | LC_ALL=C awk '!/^#/ { n += length($0) + 1 } /\\/\\*!\\*\\/;$/ { if (n > m) m = n; n = 0 } END { print m }'`,
        'measure',
        ...files,
      ],
      { cwd: archiveDir },
    )
    const longest = Number(measured.stdout.trim())
    expect(longest).toBeGreaterThan(DEFAULT_PACKET)
    expect(longest).toBeLessThan(20 * 1024 * 1024)
  })

  it('restores --into a new database exactly, the setting raised for the replay and set back', async () => {
    const r = await cli(['restore', '--at', end, '--source', 'my', '--into', 'app_at', '--yes'], env)
    expect(r.exitCode, r.all).toBe(0)
    expect(r.all).toMatch(/the binlog's longest statement is 1[89]\.\d MiB: max_allowed_packet \(16\.0 MiB\) raised/)
    expect(await rowsOf('app_at')).toEqual(source)
    expect(await globalPacket()).toBe(DEFAULT_PACKET)
  }, 120_000)

  it('restores in place (loaded beside, swapped in) exactly', async () => {
    await admin.query('DELETE FROM app.t WHERE id >= 2')
    const r = await cli(['restore', '--at', end, '--source', 'my', '--yes'], env)
    expect(r.exitCode, r.all).toBe(0)
    expect(await rowsOf('app')).toEqual(source)
    expect(await globalPacket()).toBe(DEFAULT_PACKET)
    expect(await scratch()).toBe(0)
    // The server can still read its own binlog: a replayed statement annotated beside its rows
    // would be an event longer than max_allowed_packet, and the next backup's mysqldump
    // (--single-transaction --master-data=2) crashed on it.
    const [[status]] = (await admin.query('SHOW MASTER STATUS')) as unknown as [[{ File: string; Position: number }]]
    const [[pos]] = (await admin.query('SELECT BINLOG_GTID_POS(?, ?) AS p', [
      status.File,
      status.Position,
    ])) as unknown as [[{ p: string | null }]]
    expect(pos.p).toMatch(/^0-1-\d+$/)
    await backupNow(env)
  }, 120_000)

  it('refuses a user who may not raise it, with the value to set, and leaves nothing behind', async () => {
    const r = await cli(['restore', '--at', end, '--source', 'my', '--into', 'nosuper_x', '--yes'], {
      ...env,
      DB01_USER: 'nosuper',
    })
    expect(r.exitCode).toBe(1)
    expect(r.stderr).toMatch(/holds a statement of 1[89]\.\d MiB .* user 'nosuper' may not raise it/)
    expect(r.stderr).toMatch(/SET GLOBAL max_allowed_packet = \d{8}/)
    expect(r.stderr).not.toContain(NASTY_PASSWORD)
    expect(await scratch()).toBe(0)
    expect(await globalPacket()).toBe(DEFAULT_PACKET)
  }, 120_000)
})
