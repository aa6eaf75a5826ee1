/**
 * Restoring a pg_dump into PostgreSQL with the engine's own restore functions (psql or pg_restore,
 * statement by statement, stop at the first error), chosen by the backup's file extension. Not one
 * transaction: that locks every relation it creates until the end and overflows the lock table of
 * a database with thousands of tables. All-or-nothing comes from where the load goes instead: a
 * new database, dropped again when the load fails. Replacing an existing database loads the backup
 * beside it and swaps the two by renaming (and drops the old one) only when the load succeeded, so
 * a failed restore leaves the target exactly as it was. Renaming needs the target free of other
 * sessions: the application must be stopped, as for any restore.
 */
import { randomBytes } from 'node:crypto'
import pg from 'pg'
import type { SourceConfig } from '../config/types.js'
import { GLOBALS_DATABASE } from '../engines/postgres/args.js'
import { withClient } from '../engines/postgres/probe.js'
import { checkTargetNeeds } from '../engines/postgres/needs.js'
import { createDatabase, dropDatabase, restoreCustom, restoreGlobals, restorePlain } from '../engines/postgres/restore.js'
import { DbkeeperError } from '../runtime/errors.js'
import type { CountedTable } from './check.js'
import { contentKind, type BackupContent } from './content.js'
import type { DriverTarget, RestoreDriver, TargetState } from './driver.js'

const USER_SCHEMAS = `n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_(toast|temp_)'`

export class PostgresDriver implements RestoreDriver {
  readonly exactCounts = false
  readonly label: string
  readonly #globals: boolean
  readonly #server: string

  constructor(private readonly t: DriverTarget) {
    this.#globals = t.manifest.database === GLOBALS_DATABASE
    this.#server = `${t.source.host ?? 'localhost'}:${t.source.port ?? 5432}`
    this.label = this.#globals ? `the roles and tablespaces of the PostgreSQL server ${this.#server}` : `database "${t.target}" on ${this.#server}`
  }

  async inspect(signal: AbortSignal): Promise<TargetState> {
    if (this.#globals) return { exists: true, empty: false }
    const exists = await maintenance(this.t.source, signal, async (c) =>
      (await c.query('SELECT 1 FROM pg_database WHERE datname = $1', [this.t.target])).rowCount === 1)
    if (!exists) return { exists: false, empty: true }
    const n = await withClient(this.t.source, this.t.target, signal, async (c) => (await c.query<{ n: string }>(
      `SELECT (SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE ${USER_SCHEMAS})
            + (SELECT count(*) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE ${USER_SCHEMAS}) AS n`)).rows[0]?.n)
    return { exists: true, empty: Number(n ?? 0) === 0 }
  }

  async load(content: BackupContent, state: TargetState, signal: AbortSignal): Promise<void> {
    const { source, workDir, target } = this.t
    if (this.#globals) {
      await restoreGlobals(source, workDir, content.stream, signal)
      content.assertComplete()
      return
    }
    // Before anything is created: what the backup needs of this server (extensions it can install).
    await maintenance(source, signal, (c) => checkTargetNeeds(c, this.t.manifest.restoreNeeds, this.label, this.#server))
    const restore = contentKind(this.t.manifest) === 'dump' ? restoreCustom : restorePlain
    const into = state.exists && this.t.replace ? asideName(target, 'dbkrestore') : target
    const created = !state.exists || into !== target
    if (created) await createDatabase(source, into, signal)
    try {
      await restore(source, workDir, content.stream, into, signal)
      content.assertComplete()
    } catch (error) {
      // Created by us: dropped again, so a failed restore leaves nothing behind (and says so when it could not).
      const dropped = created ? await dropDatabase(source, into).then(() => true, () => false) : false
      if (!(error instanceof DbkeeperError)) throw error
      const left = failedLoadLeft(created, into !== target, dropped, into)
      throw new DbkeeperError(error.code, `${this.label} ${left}: ${error.message}`, {
        hint: created ? error.hint : `${error.hint ?? 'fix the cause'}; then drop it (DROP DATABASE) or restore into a new name`, cause: error,
      })
    }
    if (into !== target) await this.#swap(into, signal)
  }

  /** Puts the restored `aside` database in the target's place, keeping the target's owner. */
  async #swap(aside: string, signal: AbortSignal): Promise<void> {
    const { source, target } = this.t
    const id = pg.escapeIdentifier
    const old = asideName(target, 'dbkold')
    await maintenance(source, signal, async (c) => {
      const owner = (await c.query<{ owner: string }>('SELECT pg_get_userbyid(datdba) AS owner FROM pg_database WHERE datname = $1', [target])).rows[0]?.owner
      try {
        await c.query(`ALTER DATABASE ${id(target)} RENAME TO ${id(old)}`)
      } catch (error) {
        await c.query(`DROP DATABASE IF EXISTS ${id(aside)}`).catch(() => {})
        if ((error as { code?: string }).code !== '55006') throw error
        throw new DbkeeperError('RESTORE_FAILED', `${this.label} is in use by other sessions, so it was not replaced; nothing was changed`, {
          hint: `stop the application, or end its sessions: SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '${target.replace(/'/g, "''")}'; then restore again`, cause: error,
        })
      }
      try {
        await c.query(`ALTER DATABASE ${id(aside)} RENAME TO ${id(target)}`)
      } catch (error) {
        await c.query(`ALTER DATABASE ${id(old)} RENAME TO ${id(target)}`)
        throw error
      }
      if (owner) await c.query(`ALTER DATABASE ${id(target)} OWNER TO ${id(owner)}`).catch(() => {})
      await c.query(`DROP DATABASE ${id(old)}`)
    })
  }

  async count(signal: AbortSignal): Promise<{ tables: CountedTable[]; problems: string[] }> {
    if (this.#globals) return { tables: [], problems: [] }
    return withClient(this.t.source, this.t.target, signal, async (c) => {
      const { rows } = await c.query<{ schema: string; name: string; partitioned: boolean }>(
        `SELECT n.nspname AS schema, c.relname AS name, c.relkind = 'p' AS partitioned FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
          WHERE c.relkind IN ('r', 'p') AND ${USER_SCHEMAS} ORDER BY 1, 2`)
      const tables: CountedTable[] = []
      for (const r of rows) {
        // A partitioned table: the rows of all its partitions, as its manifest entry sums their
        // estimates (engines/postgres/probe.ts). Any other table: its own rows only (ONLY), as its
        // reltuples counts them, not those of tables inheriting from it.
        const from = `${r.partitioned ? '' : 'ONLY '}${pg.escapeIdentifier(r.schema)}.${pg.escapeIdentifier(r.name)}`
        const n = (await c.query<{ n: string }>(`SELECT count(*) AS n FROM ${from}`)).rows[0]?.n
        tables.push({ name: `${r.schema}.${r.name}`, rows: Number(n ?? 0), ...(r.partitioned ? { inPartitions: true } : {}) })
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
  if (aside) return `was not changed (the backup was loaded into a new database${dropped ? ', dropped again' : ` "${into}", which could not be dropped: DROP DATABASE it by hand`})`
  return dropped ? 'was not created (the half-loaded new database was dropped again)' : 'holds the part of the backup loaded before the error and could not be dropped: DROP DATABASE it by hand'
}

/** `<target>_<tag>_<random>` within PostgreSQL's 63-byte identifier limit, cut on a character boundary. */
export function asideName(target: string, tag: string): string {
  const suffix = `_${tag}_${randomBytes(4).toString('hex')}`
  const chars = [...target]
  while (Buffer.byteLength(chars.join('') + suffix) > 63) chars.pop()
  return chars.join('') + suffix
}

/** A client on `postgres`, else `template1` (always present), for CREATE/ALTER/DROP DATABASE. */
async function maintenance<T>(source: SourceConfig, signal: AbortSignal, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  try {
    return await withClient(source, 'postgres', signal, fn)
  } catch (error) {
    if (error instanceof DbkeeperError && error.code === 'NOT_FOUND' && /"postgres"/.test(error.message)) return withClient(source, 'template1', signal, fn)
    throw error
  }
}
