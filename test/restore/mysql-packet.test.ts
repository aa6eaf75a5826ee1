/**
 * A target whose max_allowed_packet is below mysqldump's own statements. Small rows make extended
 * INSERTs of up to `--net-buffer-length` (1 MiB), and MariaDB's mysqldump puts each row on a line
 * of its own: the longest line is a row, the longest statement a megabyte. The manifest must record
 * the statement, or the restore's check passes and the load fails part-way with ERROR 1153 where a
 * user with SUPER would have had the setting raised for it. A private server: the test lowers its
 * global max_allowed_packet, which every other test's connections on the shared one would feel.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { gunzipSync } from 'node:zlib'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { checksums, globalPacket, rootQuery } from '../backup/mysql-support.js'
import { startMariadb } from '../support/mariadb-server.js'
import { startWithRetry, type RunningServer } from '../support/servers.js'
import { execFileSync } from 'node:child_process'
import { backupNow, cli, readManifest, writeResignedBackup } from './support.js'

const DB = 'small_rows'
const SMALL_PACKET = 256 * 1024

let server: RunningServer
let dir: string
let env: Record<string, string>
let dataPath: string

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'dbk-packet-'))
  // With a binlog, as a PITR source's server has one.
  server = await startWithRetry(() => startMariadb({ binlog: {} }))
  await rootQuery(`CREATE DATABASE ${DB}`, [], undefined, server.info)
  // 6,000 rows of ~500 bytes: three INSERTs of ~1 MiB (mysqldump's default --net-buffer-length).
  await rootQuery(
    'CREATE TABLE r (id INT PRIMARY KEY, v VARCHAR(600)); INSERT INTO r SELECT seq, REPEAT(MD5(seq), 15) FROM seq_1_to_6000',
    [],
    DB,
    server.info,
  )
  env = {
    BACKUP_DIR: join(dir, 'backups'),
    DB01_TYPE: 'mariadb',
    DB01_HOST: server.info.host,
    DB01_PORT: String(server.info.port),
    DB01_USER: 'root',
    DB01_NAME: DB,
    DB01_LABEL: 'maria',
  }
  const [result] = await backupNow(env)
  dataPath = result!.path!
}, 180_000)

/** Whether the server reads its own binlog up to its end (BINLOG_GTID_POS, as mysqldump --master-data asks). */
async function binlogReadable(): Promise<boolean> {
  const [status] = await rootQuery<{ File: string; Position: number }[]>(
    'SHOW MASTER STATUS',
    [],
    undefined,
    server.info,
  )
  const [pos] = await rootQuery<{ p: string | null }[]>(
    'SELECT BINLOG_GTID_POS(?, ?) AS p',
    [status!.File, status!.Position],
    undefined,
    server.info,
  )
  return /^0-1-\d+$/.test(pos!.p ?? '')
}

afterAll(async () => {
  await server?.stop()
  await rm(dir, { recursive: true, force: true })
})

describe('MySQL restore into a server whose max_allowed_packet is below the dump statements', () => {
  it('the manifest records the longest statement (an extended INSERT of many rows), not the longest line', async () => {
    const dump = gunzipSync(await readFile(dataPath)).toString()
    const inserts = dump.match(/^INSERT INTO [^]*?\);$/gm) ?? []
    expect(inserts.length).toBeGreaterThanOrEqual(3)
    const longestInsert = Math.max(...inserts.map((s) => Buffer.byteLength(s)))
    const longestLine = Math.max(...dump.split('\n').map((l) => Buffer.byteLength(l)))
    expect(longestInsert).toBeGreaterThan(900_000)
    expect(longestLine).toBeLessThan(1000)
    const needs = (await readManifest(dataPath)).restoreNeeds!
    expect(needs.longestStatement).toBeGreaterThanOrEqual(longestInsert)
    expect(needs.longestStatement).toBeLessThan(longestInsert + 4096)
  })

  it('is restored exactly: the check raises max_allowed_packet for the load and sets it back', async () => {
    await rootQuery(`SET GLOBAL max_allowed_packet = ${SMALL_PACKET}`, [], undefined, server.info)
    try {
      const r = await cli(['restore', 'latest', '--source', 'maria', '--into', 'small_rows_back', '--yes'], env)
      expect(r.exitCode, r.all).toBe(0)
      expect(r.stdout + r.stderr).toMatch(
        /max_allowed_packet \(0\.3 MiB\) will be raised to 1\.0 MiB for the load and set back afterwards/,
      )
      expect(await checksums('small_rows_back', server.info)).toEqual(await checksums(DB, server.info))
      expect(await globalPacket(server.info)).toBe(SMALL_PACKET)
      // The load's 1 MiB statements are not annotated in the binlog: an Annotate_rows event longer
      // than the setting set back would leave BINLOG_GTID_POS NULL past it, and the next
      // `mysqldump --single-transaction --master-data=2` crashed on that (SIGSEGV).
      expect(await binlogReadable()).toBe(true)
    } finally {
      await rootQuery('SET GLOBAL max_allowed_packet = DEFAULT', [], undefined, server.info)
    }
  })

  it("a backup whose manifest has the longest line (taken before this was measured) fails at the load, names the cause and the statement's size, and leaves nothing", async () => {
    const old = await writeResignedBackup(dataPath, (raw) => raw, 10, { restoreNeeds: { longestStatement: 490 } })
    await rootQuery(`SET GLOBAL max_allowed_packet = ${SMALL_PACKET}`, [], undefined, server.info)
    try {
      const r = await cli(['restore', old.manifest.id, '--source', 'maria', '--into', 'small_rows_old', '--yes'], env)
      expect(r.exitCode, r.all).toBe(1)
      // MySQL answers 1153; MariaDB closes the connection, and the client reports 2006 at the line.
      expect(r.stderr).toMatch(
        /(refused a statement at line \d+ of the dump longer than its max_allowed_packet|closed the connection at the statement at line \d+ of the dump.*max_allowed_packet)/,
      )
      expect(r.stderr).toContain('SET GLOBAL max_allowed_packet = 1073741824')
      const size = /gzip -dc FILE \| (LC_ALL=C awk '[^']*')/.exec(r.stderr)![1]!
      const measured = Number(execFileSync('sh', ['-c', `gunzip -c "$1" | ${size}`, 'sh', old.path]).toString())
      expect(measured).toBeGreaterThan(900_000)
      const exists = await rootQuery<unknown[]>(
        "SELECT 1 FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = 'small_rows_old'",
        [],
        undefined,
        server.info,
      )
      expect(exists).toEqual([])
    } finally {
      await rootQuery('SET GLOBAL max_allowed_packet = DEFAULT', [], undefined, server.info)
      await old.remove()
    }
  })
})

describe('a routine longer than max_allowed_packet', () => {
  it('is one statement (DELIMITER ;;) in the manifest, and the restore raises the setting for it', async () => {
    // 750 lines of `SET @aN = '<2000 bytes>';`: a 1.5 MB procedure whose every line ends in `;`.
    const body = Array.from({ length: 750 }, (_, i) => `SET @a${i} = '${String(i % 10).repeat(2000)}';`).join('\n')
    await rootQuery('CREATE DATABASE big_routine', [], undefined, server.info)
    await rootQuery('CREATE TABLE t (id INT PRIMARY KEY)', [], 'big_routine', server.info)
    await rootQuery(`CREATE PROCEDURE p() BEGIN\n${body}\nEND`, [], 'big_routine', server.info)
    const routineEnv = { ...env, DB01_NAME: 'big_routine' }
    const [result] = await backupNow(routineEnv)
    const needs = (await readManifest(result!.path!)).restoreNeeds!
    expect(needs.longestStatement).toBeGreaterThan(body.length)
    expect(needs.longestStatement).toBeLessThan(body.length + 4096)
    await rootQuery(`SET GLOBAL max_allowed_packet = ${SMALL_PACKET}`, [], undefined, server.info)
    try {
      const r = await cli(
        ['restore', 'latest', '--source', 'maria', '--database', 'big_routine', '--into', 'big_routine_back', '--yes'],
        routineEnv,
      )
      expect(r.exitCode, r.all).toBe(0)
      expect(r.all).toMatch(/max_allowed_packet \(0\.3 MiB\) will be raised to 1\.[45] MiB for the load/)
      const definition = async (db: string) =>
        (
          await rootQuery<{ d: string }[]>(
            "SELECT ROUTINE_DEFINITION AS d FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = ? AND ROUTINE_NAME = 'p'",
            [db],
            undefined,
            server.info,
          )
        )[0]!.d
      expect(await definition('big_routine_back')).toBe(await definition('big_routine'))
      expect(await globalPacket(server.info)).toBe(SMALL_PACKET)
      expect(await binlogReadable()).toBe(true)
    } finally {
      await rootQuery('SET GLOBAL max_allowed_packet = DEFAULT', [], undefined, server.info)
    }
  })
})
