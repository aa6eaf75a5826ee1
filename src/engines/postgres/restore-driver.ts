/**
 * Restoring a pg_dump into PostgreSQL with the engine's own restore functions (psql or pg_restore,
 * statement by statement, stop at the first error), chosen by the backup's format. Not one
 * transaction: that locks every relation it creates until the end and overflows the lock table of
 * a database with thousands of tables. All-or-nothing comes from where the load goes instead: a
 * new database, dropped again when the load fails. Replacing an existing database loads the backup
 * beside it and swaps the two by renaming (and drops the old one) only when the load succeeded, so
 * a failed restore leaves the target exactly as it was. Renaming needs the target free of other
 * sessions: the application must be stopped, as for any restore.
 */
import type pg from 'pg'
import type { SourceConfig } from '../../config/types.js'
import { DbkeeperError } from '../../runtime/errors.js'
import type { DatabaseLocale } from '../engine.js'
import type { BackupContent, CountedTable, DriverTarget, RestoreDriver, TargetState } from '../restore-driver.js'
import { scratchName } from '../scratch-names.js'
import { GLOBALS_DATABASE } from './args.js'
import { createDatabase, dropDatabase, restoreCustom, restoreGlobals, restorePlain } from './client.js'
import { readDatabaseLocale } from './locale.js'
import { checkTargetNeeds } from './needs.js'
import { withClient } from './probe.js'

const USER_SCHEMAS = `n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_(toast|temp_)'`

/** `n.nspname` in `USER_SCHEMAS` for the namespace column `col` of a catalog `cat`. */
const inUserSchema = (cat: string, col: string) =>
  `(SELECT count(*) FROM ${cat} o JOIN pg_namespace n ON n.oid = o.${col} WHERE ${USER_SCHEMAS})`

/**
 * Whether the target holds anything: every kind of object a fresh `CREATE DATABASE … TEMPLATE
 * template0` does not, not only relations and functions. "Empty" skips the safety backup, and a
 * database holding only large objects, enum types or schemas would be replaced without one.
 * Objects an extension brings count too (so does the extension); other sessions' temporary
 * objects do not. Types: not a relation's row type (its relation counts) nor the array type every
 * type gets. Casts and languages have no schema: those made after initdb (oid ≥ 16384, PostgreSQL's
 * FirstNormalObjectId) are the user's.
 */
const USER_OBJECTS_SQL = `SELECT ${[
  inUserSchema('pg_class', 'relnamespace'),
  inUserSchema('pg_proc', 'pronamespace'),
  `(SELECT count(*) FROM pg_type o JOIN pg_namespace n ON n.oid = o.typnamespace WHERE ${USER_SCHEMAS}
     AND o.typrelid = 0 AND NOT EXISTS (SELECT 1 FROM pg_type e WHERE e.typarray = o.oid))`,
  `(SELECT count(*) FROM pg_namespace n WHERE ${USER_SCHEMAS} AND n.nspname <> 'public')`,
  '(SELECT count(*) FROM pg_largeobject_metadata)',
  "(SELECT count(*) FROM pg_extension WHERE extname <> 'plpgsql')",
  '(SELECT count(*) FROM pg_event_trigger)',
  '(SELECT count(*) FROM pg_foreign_data_wrapper)',
  '(SELECT count(*) FROM pg_foreign_server)',
  '(SELECT count(*) FROM pg_publication)',
  '(SELECT count(*) FROM pg_cast WHERE oid >= 16384)',
  '(SELECT count(*) FROM pg_language WHERE oid >= 16384)',
  inUserSchema('pg_collation', 'collnamespace'),
  inUserSchema('pg_operator', 'oprnamespace'),
  inUserSchema('pg_opfamily', 'opfnamespace'),
  inUserSchema('pg_conversion', 'connamespace'),
  inUserSchema('pg_ts_config', 'cfgnamespace'),
  inUserSchema('pg_ts_dict', 'dictnamespace'),
  inUserSchema('pg_statistic_ext', 'stxnamespace'),
].join(' + ')} AS n`

export class PostgresDriver implements RestoreDriver {
  readonly exactCounts = false
  readonly label: string
  readonly #globals: boolean
  readonly #server: string
  /** What load() filled: a staged copy beside the target until commit(), or the target itself. */
  #loaded: { name: string; created: boolean } | undefined

  constructor(private readonly t: DriverTarget) {
    this.#globals = t.backup.database === GLOBALS_DATABASE
    this.#server = `${t.source.host ?? 'localhost'}:${t.source.port ?? 5432}`
    this.label = this.#globals
      ? `the roles and tablespaces of the PostgreSQL server ${this.#server}`
      : `database "${t.target}" on ${this.#server}`
  }

  async inspect(signal: AbortSignal): Promise<TargetState> {
    if (this.#globals) return { exists: true, empty: false }
    const exists = await maintenance(
      this.t.source,
      signal,
      async (c) => (await c.query('SELECT 1 FROM pg_database WHERE datname = $1', [this.t.target])).rowCount === 1,
    )
    if (!exists) return { exists: false, empty: true }
    const n = await withClient(
      this.t.source,
      this.t.target,
      signal,
      async (c) => (await c.query<{ n: string }>(USER_OBJECTS_SQL)).rows[0]?.n,
    )
    return { exists: true, empty: Number(n ?? 0) === 0 }
  }

  /** Before anything is created or confirmed: what the backup needs of this server (extensions it can install). */
  async prepare(signal: AbortSignal): Promise<string[]> {
    if (this.#globals) return []
    await maintenance(this.t.source, signal, (c) =>
      checkTargetNeeds(c, this.t.backup.restoreNeeds, this.label, this.#server),
    )
    return []
  }

  async load(content: BackupContent, state: TargetState, signal: AbortSignal): Promise<void> {
    const { source, workDir, target } = this.t
    if (this.#globals) {
      await restoreGlobals(source, workDir, content.stream, signal)
      content.assertComplete()
      return
    }
    const restore = this.t.backup.format === 'dump' ? restoreCustom : restorePlain
    const into = state.exists && this.t.replace ? scratchName(target, 'dbkrestore') : target
    const created = !state.exists || into !== target
    if (into !== target) await this.t.scratch?.record(into, target)
    if (created) {
      try {
        await createDatabase(source, into, signal, await this.#localeFor(state, signal))
      } catch (error) {
        if (into !== target) await this.t.scratch?.forget(into).catch(() => {})
        if (!(error instanceof DbkeeperError) || !state.exists) throw error
        throw new DbkeeperError(error.code, `${this.label} was not changed: ${error.message}`, {
          ...(error.hint ? { hint: error.hint } : {}),
          cause: error,
        })
      }
    }
    try {
      await restore(source, workDir, content.stream, into, signal)
      content.assertComplete()
    } catch (error) {
      // Created by us: dropped again, so a failed restore leaves nothing behind (and says so when it could not).
      const dropped = created ? await this.#drop(into) : false
      if (!(error instanceof DbkeeperError)) throw error
      const left = failedLoadLeft(created, into !== target, dropped, into)
      throw new DbkeeperError(error.code, `${this.label} ${left}: ${error.message}`, {
        hint: created
          ? error.hint
          : `${error.hint ?? 'fix the cause'}; then drop it (DROP DATABASE) or restore into a new name`,
        cause: error,
      })
    }
    this.#loaded = { name: into, created }
  }

  /**
   * The encoding and locale of the database a load creates: the backup's own (recorded since
   * backups carry them); for an older backup, those of the database it replaces, which a restore
   * in place should keep; else none, and the server's defaults apply (a new name, an old backup).
   */
  async #localeFor(state: TargetState, signal: AbortSignal): Promise<DatabaseLocale | undefined> {
    const recorded = this.t.backup.restoreNeeds?.databaseLocale
    if (recorded) return recorded
    if (!state.exists) return undefined
    return maintenance(this.t.source, signal, (c) => readDatabaseLocale(c, this.t.target))
  }

  /** Drops a database this driver created; true when it is gone (its scratch record forgotten too). */
  async #drop(name: string): Promise<boolean> {
    const dropped = await dropDatabase(this.t.source, name).then(
      () => true,
      () => false,
    )
    if (dropped && name !== this.t.target) await this.t.scratch?.forget(name).catch(() => {})
    return dropped
  }

  /** After the check of the loaded copy: swaps a staged copy into the target's place. */
  async commit(signal: AbortSignal): Promise<string[]> {
    const loaded = this.#loaded
    this.#loaded = undefined
    if (loaded !== undefined && loaded.name !== this.t.target) await this.#swap(loaded.name, signal)
    return []
  }

  /** The check failed (or the restore was stopped): the database this load created is dropped again. */
  async abandon(): Promise<void> {
    const loaded = this.#loaded
    this.#loaded = undefined
    if (loaded?.created) await this.#drop(loaded.name)
  }

  /** Puts the restored `aside` database in the target's place, keeping the target's owner. */
  async #swap(aside: string, signal: AbortSignal): Promise<void> {
    const { source, target } = this.t
    const old = scratchName(target, 'dbkold')
    await this.t.scratch?.record(old, target)
    await maintenance(source, signal, async (c) => {
      const id = (name: string) => c.escapeIdentifier(name)
      const owner = (
        await c.query<{ owner: string }>(
          'SELECT pg_get_userbyid(datdba) AS owner FROM pg_database WHERE datname = $1',
          [target],
        )
      ).rows[0]?.owner
      try {
        await c.query(`ALTER DATABASE ${id(target)} RENAME TO ${id(old)}`)
      } catch (error) {
        await this.#drop(aside)
        await this.t.scratch?.forget(old).catch(() => {})
        if ((error as { code?: string }).code !== '55006') throw error
        throw new DbkeeperError(
          'RESTORE_FAILED',
          `${this.label} is in use by other sessions, so it was not replaced; nothing was changed`,
          {
            hint: `stop the application, or end its sessions: SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '${target.replace(/'/g, "''")}'; then restore again`,
            cause: error,
          },
        )
      }
      try {
        await c.query(`ALTER DATABASE ${id(aside)} RENAME TO ${id(target)}`)
      } catch (error) {
        await c.query(`ALTER DATABASE ${id(old)} RENAME TO ${id(target)}`)
        await this.#drop(aside)
        await this.t.scratch?.forget(old).catch(() => {})
        throw error
      }
      // The staged copy is the target now: not scratch any more.
      await this.t.scratch?.forget(aside).catch(() => {})
      if (owner) await c.query(`ALTER DATABASE ${id(target)} OWNER TO ${id(owner)}`).catch(() => {})
      await c.query(`DROP DATABASE ${id(old)}`)
      await this.t.scratch?.forget(old).catch(() => {})
    })
  }

  async count(signal: AbortSignal): Promise<{ tables: CountedTable[]; problems: string[] }> {
    if (this.#globals) return { tables: [], problems: [] }
    // The staged copy until it is swapped in (checked before the target is touched), else the target.
    return withClient(this.t.source, this.#loaded?.name ?? this.t.target, signal, async (c) => {
      const { rows } = await c.query<{ schema: string; name: string; partitioned: boolean }>(
        `SELECT n.nspname AS schema, c.relname AS name, c.relkind = 'p' AS partitioned FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
          WHERE c.relkind IN ('r', 'p') AND ${USER_SCHEMAS} ORDER BY 1, 2`,
      )
      const tables: CountedTable[] = []
      for (const r of rows) {
        // A partitioned table: the rows of all its partitions, as its manifest entry sums their
        // estimates (engines/postgres/probe.ts). Any other table: its own rows only (ONLY), as its
        // reltuples counts them, not those of tables inheriting from it.
        const from = `${r.partitioned ? '' : 'ONLY '}${c.escapeIdentifier(r.schema)}.${c.escapeIdentifier(r.name)}`
        const n = (await c.query<{ n: string }>(`SELECT count(*) AS n FROM ${from}`)).rows[0]?.n
        tables.push({
          name: `${r.schema}.${r.name}`,
          rows: Number(n ?? 0),
          ...(r.partitioned ? { inPartitions: true } : {}),
        })
      }
      return { tables, problems: [] }
    })
  }

  async discard(signal: AbortSignal): Promise<void> {
    if (!this.#globals) await dropDatabase(this.t.source, this.t.target, signal)
  }
}

/** The state a failed load left the target in, for the message. */
function failedLoadLeft(created: boolean, aside: boolean, dropped: boolean, into: string): string {
  // --into an existing empty database (one a DBA made for a user without CREATEDB): loaded in place.
  if (!created) return 'was empty and now holds the part of the backup loaded before the error'
  if (aside)
    return `was not changed (the backup was loaded into a new database${dropped ? ', dropped again' : ` "${into}", which could not be dropped: DROP DATABASE it by hand`})`
  return dropped
    ? 'was not created (the half-loaded new database was dropped again)'
    : 'holds the part of the backup loaded before the error and could not be dropped: DROP DATABASE it by hand'
}

/** A client on `postgres`, else `template1` (always present), for CREATE/ALTER/DROP DATABASE. */
async function maintenance<T>(source: SourceConfig, signal: AbortSignal, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  try {
    return await withClient(source, 'postgres', signal, fn)
  } catch (error) {
    if (error instanceof DbkeeperError && error.code === 'NOT_FOUND' && /"postgres"/.test(error.message))
      return withClient(source, 'template1', signal, fn)
    throw error
  }
}

/** Whether database `name` exists on the source's server (the sweep of leftover scratch databases). */
export function postgresDatabaseExists(source: SourceConfig, name: string, signal: AbortSignal): Promise<boolean> {
  return withClient(
    source,
    'postgres',
    signal,
    async (c) => (await c.query('SELECT 1 FROM pg_database WHERE datname = $1', [name])).rowCount === 1,
  )
}
