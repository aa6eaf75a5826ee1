/**
 * A base dump's binary log coordinates, as mysqldump itself prints them with `--master-data=2`
 * (args.ts PITR_OPTIONS): taken inside the dump's own consistent snapshot, so the dump holds every
 * change before them and none after. MariaDB 10.11's mysqldump reads them from the snapshot
 * (`SHOW STATUS LIKE 'binlog_snapshot_%'`, `SELECT BINLOG_GTID_POS(…)`) without a global read lock
 * and without any privilege beyond the dump's. Pure: the text in, the coordinates out.
 *
 * In the head (as comments, `=2`):
 *   -- CHANGE MASTER TO MASTER_LOG_FILE='binlog.000001', MASTER_LOG_POS=808;
 * MySQL 8.0.26+ with --source-data=2 (not verified here: the tests run MariaDB):
 *   -- CHANGE REPLICATION SOURCE TO SOURCE_LOG_FILE='binlog.000001', SOURCE_LOG_POS=808;
 * In the tail (MariaDB; printed after the data, "deferred"):
 *   -- SET GLOBAL gtid_slave_pos='0-1-3';
 */
import type { BinlogPosition } from '../engine.js'

const FILE_AND_POSITION =
  /^-- CHANGE (?:MASTER|REPLICATION SOURCE) TO (?:MASTER|SOURCE)_LOG_FILE='([^'/\\]+)', (?:MASTER|SOURCE)_LOG_POS=(\d+);/m
const MARIADB_GTID = /^-- SET GLOBAL gtid_slave_pos='([0-9,-]*)';/m

/** The coordinates in a dump's first and last bytes; undefined when the head names no file and position. */
export function parseBinlogPosition(head: Buffer, tail: Buffer): BinlogPosition | undefined {
  const m = FILE_AND_POSITION.exec(head.toString('utf8'))
  if (!m) return undefined
  const position = Number(m[2])
  if (!Number.isSafeInteger(position)) return undefined
  const gtid = MARIADB_GTID.exec(tail.toString('utf8'))?.[1]
  return { file: m[1]!, position, ...(gtid ? { gtid } : {}) }
}
