import { describe, expect, it } from 'vitest'
import { decodeManifest } from '../../../src/catalog/manifest.js'
import { PITR_OPTIONS, dumpArgs } from '../../../src/engines/mysql/args.js'
import { parseBinlogPosition } from '../../../src/engines/mysql/binlog-position.js'
import { mysqlExtraOptsOf } from '../../../src/engines/mysql/redump.js'
import { mysqlSource } from './helpers.js'

/** The head MariaDB 10.11's mysqldump writes with --single-transaction --master-data=2 --gtid. */
const MARIADB_HEAD = `/*M!999999\\- enable the sandbox mode */
-- MariaDB dump 10.19  Distrib 10.11.19-MariaDB, for debian-linux-gnu (x86_64)
/*!40111 SET @OLD_SQL_NOTES=@@SQL_NOTES, SQL_NOTES=0 */;
-- CHANGE MASTER TO MASTER_USE_GTID=slave_pos;

-- A corresponding to the above master-data CHANGE-MASTER settings to the slave gtid state is printed later in the file.

-- CHANGE MASTER TO MASTER_LOG_FILE='binlog.000001', MASTER_LOG_POS=808;

--
-- Table structure for table \`t\`
`
const MARIADB_TAIL = `UNLOCK TABLES;

--
-- The deferred gtid setting for slave corresponding to the master-data CHANGE-MASTER follows
--

-- Preferably use GTID to start replication from GTID position:

-- SET GLOBAL gtid_slave_pos='0-1-3,7-2-19';
/*!40103 SET TIME_ZONE=@OLD_TIME_ZONE */;

-- Dump completed on 2026-12-05 12:55:32
`
const b = (s: string) => Buffer.from(s)

describe('parseBinlogPosition', () => {
  it('reads file and position from the head and the GTID from the tail', () => {
    expect(parseBinlogPosition(b(MARIADB_HEAD), b(MARIADB_TAIL))).toEqual({
      file: 'binlog.000001',
      position: 808,
      gtid: '0-1-3,7-2-19',
    })
  })

  it("reads MySQL 8's CHANGE REPLICATION SOURCE form", () => {
    const head = "-- CHANGE REPLICATION SOURCE TO SOURCE_LOG_FILE='mysql-bin.000042', SOURCE_LOG_POS=157;\n"
    expect(parseBinlogPosition(b(head), b(''))).toEqual({ file: 'mysql-bin.000042', position: 157 })
  })

  it('leaves out an empty GTID position (a server that never wrote a GTID)', () => {
    const tail = MARIADB_TAIL.replace("'0-1-3,7-2-19'", "''")
    expect(parseBinlogPosition(b(MARIADB_HEAD), b(tail))).toEqual({ file: 'binlog.000001', position: 808 })
  })

  it('finds nothing in a dump without --master-data, or in a table row that looks like it', () => {
    expect(parseBinlogPosition(b('-- MariaDB dump 10.19\nCREATE TABLE t (a int);\n'), b(MARIADB_TAIL))).toBeUndefined()
    const inData = "INSERT INTO t VALUES ('-- CHANGE MASTER TO MASTER_LOG_FILE=''x.1'', MASTER_LOG_POS=1;');\n"
    expect(parseBinlogPosition(b(inData), b(''))).toBeUndefined()
  })
})

describe('PITR dump options', () => {
  it('asks for the coordinates only when the source has PITR on', () => {
    const on = dumpArgs(mysqlSource({ pitr: true }), 'db', '/w/f.cnf', 'mariadb').options
    expect(on).toEqual(expect.arrayContaining(['--master-data=2', '--gtid']))
    expect(on.slice(-2)).toEqual(['--', 'db'])
    expect(dumpArgs(mysqlSource({ pitr: true }), 'db', '/w/f.cnf', 'mysql').options).toContain('--source-data=2')
    expect(dumpArgs(mysqlSource(), 'db', '/w/f.cnf').options.join(' ')).not.toMatch(/master-data|gtid|source-data/)
  })

  it("a drill's re-dump does not take the PITR options for DBnn_EXTRA_OPTS", () => {
    const options = dumpArgs(
      mysqlSource({ pitr: true, extraOpts: ['--skip-dump-date'] }),
      'db',
      '/f',
      'mariadb',
    ).options
    expect(mysqlExtraOptsOf({ tool: { options } })).toEqual(['--skip-dump-date'])
    expect(PITR_OPTIONS.mariadb).toEqual(['--master-data=2', '--gtid'])
  })
})

describe('manifest binlog field', () => {
  const base = {
    formatVersion: 1,
    id: 'x',
    source: 's',
    engine: 'mysql',
    database: 'd',
    file: 'f.sql.gz',
    startedAt: 'a',
    finishedAt: 'b',
    durationMs: 1,
    raw: { size: 1, sha256: 'a'.repeat(64) },
    compressed: { size: 1, sha256: 'b'.repeat(64) },
    tables: [],
    compression: { kind: 'gzip', level: 6 },
    tool: { name: 'mysqldump', version: '1', options: [] },
    server: { version: '10.11' },
    verification: { ok: true, at: 'c', method: 'm' },
  }
  const decode = (extra: object) => decodeManifest(JSON.stringify({ ...base, ...extra }))

  it('is optional: an older manifest without it decodes', () => {
    expect('manifest' in decode({})).toBe(true)
  })

  it('round-trips file, position and GTID', () => {
    const binlog = { file: 'binlog.000001', position: 808, gtid: '0-1-3' }
    expect(decode({ binlog })).toMatchObject({ manifest: { binlog } })
  })

  it.each([
    [{ position: 1 }],
    [{ file: 'binlog.000001', position: '808' }],
    [{ file: '../etc/x', position: 1 }],
    [{ file: 'binlog.000001', position: -1 }],
    [{ file: 'binlog.000001', position: 1, gtid: 3 }],
    [null],
  ])('refuses a damaged one: %j', (binlog) => {
    expect(decode({ binlog })).toEqual({ error: expect.stringContaining('binlog coordinates') })
  })
})
