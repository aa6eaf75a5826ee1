/**
 * Restores for `dbkeeper restore` and drills: a plain dump through psql, a custom archive through
 * pg_restore, statement by statement, stopping at the first error. Not in one transaction (that
 * takes a lock per relation and overflows the lock table of a database with thousands of tables):
 * the target database must be a new one (createDatabase) that the caller drops when the load fails,
 * so a failed restore never shows (restore-driver.ts).
 */
import type pg from 'pg'
import type { Readable } from 'node:stream'
import type { SourceConfig } from '../../config/types.js'
import type { DatabaseLocale } from '../engine.js'
import { DbkeeperError } from '../../runtime/errors.js'
import { pgRestoreArgs, psqlRestoreArgs } from './args.js'
import { judgeToolExit, PG_INSTALL_HINT } from './errors.js'
import { runTool, type ToolExit } from '../subprocess.js'
import { toolCredentials } from './credentials.js'
import { createDatabaseOptions, describeLocale } from './locale.js'
import { withClient } from './probe.js'

/** How psql and pg_restore are run with a dump on stdin: their first errors are what counts (the first 64 KiB of stderr). */
export const PG_FEED = { stderr: { keep: 'head', bytes: 64 * 1024 }, installHint: PG_INSTALL_HINT } as const

/**
 * A failed SQL statement is reported as the tool's own error line, with its line number in the
 * dump ("psql:<stdin>:42: ERROR:  role "app" does not exist"); connection problems are classified
 * as for a dump (AUTH, CONNECT, NOT_FOUND).
 */
function judgeRestore(source: SourceConfig, tool: string, database: string, exit: ToolExit): DbkeeperError | undefined {
  if (exit.inputError) {
    return new DbkeeperError(
      'RESTORE_FAILED',
      `${source.id}: the backup could not be read while restoring into "${database}": ${exit.inputError.message}`,
      {
        hint: 'run `dbkeeper verify` on this backup',
        cause: exit.inputError,
      },
    )
  }
  const sqlError = exit.stderr
    .split('\n')
    .find((l) => /^psql:.*?:\d+: ERROR:|could not execute query: ERROR:|^ERROR:/.test(l.trim()))
  if (sqlError && exit.exitCode !== 0) {
    const owner = /role "[^"]*" does not exist/.test(sqlError)
    return new DbkeeperError(
      'RESTORE_FAILED',
      `${source.id}: restoring into "${database}" stopped at the first error: ${sqlError.trim()}`,
      {
        hint: owner
          ? 'the dump names an owner or grantee this server lacks: create the role first (restore the _globals backup), or restore a custom-format backup with pg_restore --no-owner --no-acl'
          : 'fix the cause on the target server and restore again',
      },
    )
  }
  return judgeToolExit(source, tool, exit, 'RESTORE_FAILED')
}

async function restoreWith(
  tool: 'psql' | 'pg_restore',
  args: string[],
  source: SourceConfig,
  workDir: string,
  input: Readable,
  database: string,
  signal?: AbortSignal,
): Promise<void> {
  const creds = toolCredentials(source, workDir)
  try {
    await runTool(tool, args, {
      ...PG_FEED,
      env: creds.env,
      input,
      signal,
      judge: (exit) => judgeRestore(source, tool, database, exit),
    })
  } finally {
    await creds.cleanup()
  }
}

/** Replays a plain SQL dump (decompressed) into `database`. */
export function restorePlain(
  source: SourceConfig,
  workDir: string,
  input: Readable,
  database: string,
  signal?: AbortSignal,
): Promise<void> {
  return restoreWith('psql', psqlRestoreArgs(source, database), source, workDir, input, database, signal)
}

/** Loads a custom-format archive (decompressed) into `database`. */
export function restoreCustom(
  source: SourceConfig,
  workDir: string,
  input: Readable,
  database: string,
  signal?: AbortSignal,
): Promise<void> {
  return restoreWith('pg_restore', pgRestoreArgs(source, database), source, workDir, input, database, signal)
}

/**
 * Errors a globals restore expects: pg_dumpall writes `CREATE ROLE x` then `ALTER ROLE x WITH …`
 * for every role, including the one we are connected as, so on any existing cluster some CREATEs
 * fail while the ALTERs still bring the role to the backed-up state (PostgreSQL's own advice).
 */
const EXPECTED_GLOBALS_ERROR = /ERROR:\s+(role|tablespace) "[^"]*" already exists/

/**
 * Replays the `_globals` backup (roles, memberships, tablespaces) against `postgres`, not stopping
 * at errors; any error other than "already exists" fails the restore with the first such line
 * (the statements before and after it did run).
 */
export async function restoreGlobals(
  source: SourceConfig,
  workDir: string,
  input: Readable,
  signal?: AbortSignal,
): Promise<void> {
  const args = psqlRestoreArgs(source, 'postgres').filter((a) => a !== '--set=ON_ERROR_STOP=1')
  const creds = toolCredentials(source, workDir)
  try {
    const exit = await runTool('psql', args, {
      ...PG_FEED,
      env: creds.env,
      input,
      signal,
      judge: (e) => judgeRestore(source, 'psql', 'postgres', e),
    })
    const unexpected = exit.stderr.split('\n').find((l) => /\bERROR:/.test(l) && !EXPECTED_GLOBALS_ERROR.test(l))
    if (unexpected) {
      throw new DbkeeperError(
        'RESTORE_FAILED',
        `${source.id}: restoring roles and tablespaces hit an error (the other statements ran): ${unexpected.trim()}`,
        {
          hint: 'fix the cause (e.g. create the tablespace directory) and restore the _globals backup again; it is safe to repeat',
        },
      )
    }
  } finally {
    await creds.cleanup()
  }
}

/** The database to run CREATE/DROP DATABASE from: `postgres`, else `template1` (always present). */
async function withMaintenanceClient<T>(
  source: SourceConfig,
  signal: AbortSignal | undefined,
  fn: (c: pg.Client) => Promise<T>,
): Promise<T> {
  try {
    return await withClient(source, 'postgres', signal, fn)
  } catch (error) {
    if (error instanceof DbkeeperError && error.code === 'NOT_FOUND' && /"postgres"/.test(error.message))
      return withClient(source, 'template1', signal, fn)
    throw error
  }
}

/**
 * Creates an empty database for a restore. From template0, so objects an administrator added to
 * template1 (extensions, tables) cannot collide with the ones the dump creates; with `locale` (the
 * backup's, or the database it replaces) rather than the server's defaults (locale.ts). Without
 * one (an older backup into a new name): the server's defaults, as template0 has them.
 */
export async function createDatabase(
  source: SourceConfig,
  name: string,
  signal?: AbortSignal,
  locale?: DatabaseLocale,
): Promise<void> {
  try {
    await withMaintenanceClient(source, signal, async (c) => {
      const major =
        Number((await c.query<{ n: string }>(`SELECT current_setting('server_version_num') AS n`)).rows[0]!.n) / 10_000
      const options = locale ? ` ${createDatabaseOptions(locale, Math.floor(major), (v) => c.escapeLiteral(v))}` : ''
      await c.query(`CREATE DATABASE ${c.escapeIdentifier(name)} TEMPLATE template0${options}`)
    })
  } catch (error) {
    const cause = (error as DbkeeperError).cause as { code?: string; message?: string } | undefined
    const pgCode = cause?.code
    if (pgCode === '42P04') {
      throw new DbkeeperError('RESTORE_FAILED', `${source.id}: database "${name}" already exists`, {
        hint: 'restore into a new name, or drop the existing database first',
        cause: error,
      })
    }
    if (pgCode === '42501') {
      throw new DbkeeperError(
        'PRIVILEGE',
        `${source.id}: user "${source.user ?? 'postgres'}" may not create databases`,
        {
          hint: `ALTER ROLE … CREATEDB for ${source.id}_USER, or create "${name}" by hand and restore into it`,
          cause: error,
        },
      )
    }
    // The server answered and refused the options: a locale it lacks, an encoding the locale does
    // not take, a provider it does not know (ICU before 15, builtin before 17).
    if (locale && pgCode !== undefined && /^(22|42|0A)/.test(pgCode)) {
      throw new DbkeeperError(
        'RESTORE_FAILED',
        `${source.id}: the server cannot create database "${name}" with the backup's encoding and locale (${describeLocale(locale)}): ${cause?.message ?? String(error)}`,
        {
          hint: `install that locale on the server (\`locale -a\` lists the ones it has; Debian: add it to /etc/locale.gen and run locale-gen), or create an empty database by hand with the encoding and locale you choose (CREATE DATABASE … TEMPLATE template0 ENCODING … LC_COLLATE … LC_CTYPE …) and restore --into it`,
          cause: error,
        },
      )
    }
    throw error
  }
}

/** Drops a database (drill scratch databases); no error when it is already gone. */
export async function dropDatabase(source: SourceConfig, name: string, signal?: AbortSignal): Promise<void> {
  await withMaintenanceClient(source, signal, (c) => c.query(`DROP DATABASE IF EXISTS ${c.escapeIdentifier(name)}`))
}
