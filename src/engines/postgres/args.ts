/**
 * Command lines for the PostgreSQL client tools, pure. No argument ever carries a password: it
 * reaches the tools through the PGPASSFILE written by credentials.ts.
 */
import type { SourceConfig } from '../../config/types.js'

/** The name the globals backup (roles, tablespaces) is filed under, beside the databases. */
export const GLOBALS_DATABASE = '_globals'

/**
 * Flags every pg_dump gets, and why:
 * - `--no-password`: never prompt (there is no terminal under cron); a missing password fails fast.
 * - `--quote-all-identifiers`: the dump may be restored into a newer major version after an upgrade,
 *   where a new reserved word would break an unquoted name (pg_dump's own advice for that case).
 * Owners and privileges are kept (pg_dump's default): a backup reproduces the database as it was.
 * Restoring as another user is a restore-time choice (`pg_restore --no-owner --no-acl`), or an
 * operator who wants portable dumps adds `--no-owner --no-privileges` to DBnn_EXTRA_OPTS.
 * No `--create`: the dump restores into whatever database name the operator picks.
 */
const COMMON_DUMP_FLAGS = ['--no-password', '--quote-all-identifiers']

/**
 * The connection flags shared by every tool. `--host` may be a Unix socket directory. The user is
 * always given explicitly so that libpq never falls back to the operating-system user name.
 */
export function connectionArgs(source: SourceConfig): string[] {
  const args: string[] = []
  if (source.host !== undefined) args.push('--host', source.host)
  if (source.port !== undefined) args.push('--port', String(source.port))
  args.push('--username', source.user ?? 'postgres')
  return args
}

/**
 * A libpq connection string naming only the database. Passing the name this way means a database
 * called `-x` is never parsed as an option and one called `a=b` or `postgresql://…` never as a
 * connection string: inside single quotes only `\` and `'` need a backslash.
 */
export function dbnameConninfo(database: string): string {
  return `dbname='${database.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`
}

/**
 * pg_dump's arguments for one database. Custom format is written uncompressed (`--compress=0`):
 * the pipeline compresses every backup once, in the configured COMPRESSION, and checksums the raw
 * bytes; compressing twice only burns CPU.
 */
export function pgDumpArgs(source: SourceConfig, database: string): string[] {
  const format = source.pgFormat === 'custom' ? ['--format=custom', '--compress=0'] : ['--format=plain']
  // Extra options go before --dbname so that ours is the database that gets dumped.
  return [
    ...connectionArgs(source),
    ...COMMON_DUMP_FLAGS,
    ...format,
    ...source.extraOpts,
    `--dbname=${dbnameConninfo(database)}`,
  ]
}

/**
 * pg_dumpall for roles and tablespaces only. DBnn_EXTRA_OPTS are pg_dump options and are not
 * passed: many of them (e.g. --schema) make pg_dumpall refuse to start.
 */
export function pgDumpallGlobalsArgs(source: SourceConfig): string[] {
  return [...connectionArgs(source), '--no-password', '--quote-all-identifiers', '--globals-only']
}

/**
 * psql replaying a plain dump: stop at the first error, and no ~/.psqlrc that could change how the
 * script runs. `--file=-` reads stdin like `<` would, but makes psql put the line number in its
 * error messages. Not `--single-transaction`: one transaction holds a lock on every relation it
 * creates until it commits, and a database of a few thousand tables overflows the server's lock
 * table ("out of shared memory"). All-or-nothing comes from loading into a new database that is
 * dropped on failure (restore-driver.ts).
 */
export function psqlRestoreArgs(source: SourceConfig, database: string): string[] {
  return [
    ...connectionArgs(source),
    '--no-password',
    '--no-psqlrc',
    '--quiet',
    '--set=ON_ERROR_STOP=1',
    '--file=-',
    `--dbname=${dbnameConninfo(database)}`,
  ]
}

/** pg_restore loading a custom archive from standard input, stopping at the first error (not one transaction: as above). */
export function pgRestoreArgs(source: SourceConfig, database: string): string[] {
  return [...connectionArgs(source), '--no-password', '--exit-on-error', `--dbname=${dbnameConninfo(database)}`]
}
