import type { SourceConfig } from '../../config/types.js'
import type { Flavour } from './version.js'

/** Never dumped by `ALL`: server internals that a restore into another server must not overwrite. */
export const SYSTEM_DATABASES = new Set(['information_schema', 'performance_schema', 'mysql', 'sys'])

/**
 * The fixed options of every dump, and why:
 * - `--single-transaction`: a consistent InnoDB snapshot without locking the application out.
 * - `--quick`: rows stream one at a time instead of being buffered in mysqldump's memory.
 * - `--routines --triggers --events`: the database's code, not just its tables.
 * - `--hex-blob`: binary columns survive any character-set conversion on restore.
 * - `--default-character-set=utf8mb4`: emoji and other 4-byte characters are not mangled.
 * - `--no-tablespaces`: CREATE TABLESPACE statements belong to the server, not to one database;
 *   on MySQL 8.0.21+ dumping them needs the global PROCESS privilege, and without it mysqldump
 *   prints an error and carries on.
 *
 * Deliberately NOT `--databases`: it writes `CREATE DATABASE` and `USE db` into the dump, which
 * then always restores into the original name. Without it, `gunzip -c f | mariadb NEWDB` restores
 * anywhere (and `restore --into NEWDB` stays a plain pipe).
 */
export const FIXED_OPTIONS = [
  '--single-transaction',
  '--quick',
  '--routines',
  '--triggers',
  '--events',
  '--hex-blob',
  '--default-character-set=utf8mb4',
  '--no-tablespaces',
] as const

/**
 * A DBnn_PITR source's dumps also say where they stand in the binary log (binlog-position.ts): the
 * point a replay of the archived binlog starts from.
 * - `--master-data=2`: the file and position, as a comment in the head. With
 *   `--single-transaction`, MariaDB's mysqldump takes them from the transaction's own snapshot
 *   (binlog_snapshot_file/position): no FLUSH TABLES WITH READ LOCK, no extra privilege.
 * - `--gtid` (MariaDB): the GTID position of the same point, as a comment in the tail.
 * MySQL 8.0.26+ calls it `--source-data=2`, and takes FLUSH TABLES WITH READ LOCK for it (RELOAD,
 * REPLICATION CLIENT); not verified here, the tests run MariaDB 10.11.
 */
export const PITR_OPTIONS: Record<Flavour, readonly string[]> = {
  mariadb: ['--master-data=2', '--gtid'],
  mysql: ['--source-data=2'],
}

/**
 * mysqldump's argv. The defaults file must come first: mysqldump only honours
 * `--defaults-extra-file` as its very first argument. The database name follows `--`, so a
 * database called `-x` is a name, not an option.
 */
export function dumpArgs(
  source: SourceConfig,
  database: string,
  defaultsFile: string,
  flavour: Flavour = 'mariadb',
  /** What this database needs besides (`--dump-history` for system-versioned tables, engine.ts). */
  extra: readonly string[] = [],
): { args: string[]; options: string[] } {
  const pitr = source.pitr ? PITR_OPTIONS[flavour] : []
  const options = [...FIXED_OPTIONS, ...pitr, ...extra, ...source.extraOpts, '--', database]
  return { args: [`--defaults-extra-file=${defaultsFile}`, ...options], options }
}
