/**
 * The probe before a dump: reachable, credentials accepted, server version, the databases to dump
 * (ALL expanded) with approximate table statistics, and a pg_dump able to read this server.
 */
import type pg from 'pg'
import type { SourceConfig } from '../../config/types.js'
import { DbkeeperError } from '../../runtime/errors.js'
import type { DatabaseInfo, ProbeResult, TableInfo } from '../engine.js'
import { isScratchName } from '../scratch-names.js'
import { classifyPgError } from './errors.js'
import { checkToolVersion, majorFromVersionNum, toolVersion } from './version.js'

/**
 * Databases `ALL` leaves out besides the templates: the maintenance databases of managed services,
 * which their users can see but not dump. `postgres` is kept: with the official image's defaults
 * applications often keep their data there, and an empty one costs a few hundred bytes.
 */
export const MANAGED_SYSTEM_DATABASES = ['rdsadmin', 'cloudsqladmin', 'azure_maintenance', 'azure_sys']

const CONNECT_TIMEOUT_MS = 10_000

/** A `pg` client for one database of the source; the password stays in this process. */
export async function connect(source: SourceConfig, database: string, signal?: AbortSignal): Promise<pg.Client> {
  signal?.throwIfAborted()
  // Loaded by the first connection, not by every run: a MariaDB or SQLite backup never needs it
  // (docs/PERFORMANCE.md, "Fixed cost of a run").
  const { default: pgModule } = await import('pg')
  signal?.throwIfAborted()
  const password = source.password?.reveal()
  const client = new pgModule.Client({
    host: source.host,
    port: source.port ?? 5432,
    user: source.user ?? 'postgres',
    password: password === '' ? undefined : password,
    database,
    connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
    application_name: 'dbkeeper',
  })
  // An error after connecting (server restart) must not crash the process as an unhandled event.
  client.on('error', () => {})
  const onAbort = () => void client.end().catch(() => {})
  signal?.addEventListener('abort', onAbort, { once: true })
  try {
    await client.connect()
  } catch (error) {
    await client.end().catch(() => {})
    signal?.throwIfAborted()
    throw classifyPgError(source, error, database)
  } finally {
    signal?.removeEventListener('abort', onAbort)
  }
  return client
}

/** Runs `fn` on a client for `database` and always closes it. */
export async function withClient<T>(
  source: SourceConfig,
  database: string,
  signal: AbortSignal | undefined,
  fn: (c: pg.Client) => Promise<T>,
): Promise<T> {
  const client = await connect(source, database, signal)
  const onAbort = () => void client.end().catch(() => {})
  signal?.addEventListener('abort', onAbort, { once: true })
  try {
    return await fn(client)
  } catch (error) {
    signal?.throwIfAborted()
    throw classifyPgError(source, error, database)
  } finally {
    signal?.removeEventListener('abort', onAbort)
    await client.end().catch(() => {})
  }
}

/**
 * Tables with their estimated rows. A partitioned table (relkind 'p') holds no rows itself and its
 * reltuples is -1, or the total after an ANALYZE of it: its rows are the sum of its leaf
 * partitions' estimates, which is what `SELECT count(*) FROM parent` (without ONLY) counts after a
 * restore (restore-driver.ts). Each partition is also listed with its own rows.
 */
const TABLES_SQL = `
WITH RECURSIVE tree AS (
  SELECT inhparent AS root, inhrelid AS rel FROM pg_inherits
  UNION ALL SELECT t.root, i.inhrelid FROM tree t JOIN pg_inherits i ON i.inhparent = t.rel)
SELECT n.nspname AS schema, c.relname AS name,
       CASE WHEN c.relkind = 'p'
            THEN (SELECT coalesce(sum(GREATEST(l.reltuples, 0)), 0) FROM tree JOIN pg_class l ON l.oid = tree.rel WHERE tree.root = c.oid AND l.relkind = 'r')
            ELSE GREATEST(c.reltuples, 0) END::float8 AS rows,
       pg_total_relation_size(c.oid)::float8 AS bytes,
       has_schema_privilege(n.oid, 'USAGE') AND has_table_privilege(c.oid, 'SELECT') AS readable
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE c.relkind IN ('r', 'p')
   AND n.nspname NOT IN ('pg_catalog', 'information_schema')
   AND n.nspname !~ '^pg_(toast|temp_)'
 ORDER BY 1, 2`

/** Approximate statistics of one database, and PRIVILEGE when pg_dump could not read a table. */
async function describeDatabase(source: SourceConfig, database: string, signal: AbortSignal): Promise<DatabaseInfo> {
  const rows = await withClient(
    source,
    database,
    signal,
    async (c) =>
      (await c.query<{ schema: string; name: string; rows: number; bytes: number; readable: boolean }>(TABLES_SQL))
        .rows,
  )
  const unreadable = rows.filter((r) => !r.readable).map((r) => `${r.schema}.${r.name}`)
  if (unreadable.length > 0) {
    const list = unreadable.slice(0, 5).join(', ') + (unreadable.length > 5 ? `, … (${unreadable.length} in all)` : '')
    throw new DbkeeperError(
      'PRIVILEGE',
      `${source.id}: user "${source.user ?? 'postgres'}" cannot read ${list} in database "${database}", so pg_dump would fail`,
      {
        hint: `grant ${source.id}_USER SELECT on them and USAGE on their schemas (PostgreSQL 14+: GRANT pg_read_all_data TO the user), or use a superuser`,
      },
    )
  }
  const tables: TableInfo[] = rows.map((r) => ({
    name: `${r.schema}.${r.name}`,
    rows: Math.round(r.rows),
    bytes: r.bytes,
  }))
  return { name: database, tables }
}

/** The databases a source dumps: the named ones (all must exist) or ALL expanded. */
export async function resolveDatabases(source: SourceConfig, client: pg.Client): Promise<string[]> {
  const { rows } = await client.query<{ datname: string }>(
    'SELECT datname FROM pg_database WHERE NOT datistemplate AND datallowconn ORDER BY datname',
  )
  const present = rows.map((r) => r.datname)
  // Never dbkeeper's own scratch databases (restore/scratch.ts): a killed drill's would be backed up every run.
  if (source.databases === 'ALL')
    return present.filter((d) => !MANAGED_SYSTEM_DATABASES.includes(d) && !isScratchName(d))
  const missing = source.databases.filter((d) => !present.includes(d))
  if (missing.length > 0) {
    throw new DbkeeperError(
      'NOT_FOUND',
      `${source.id}: no database ${missing.map((d) => `"${d}"`).join(', ')} on ${source.host ?? 'localhost'}:${source.port ?? 5432} (it has: ${present.slice(0, 20).join(', ')}${present.length > 20 ? ', …' : ''})`,
      {
        hint: `check ${source.id}_NAME (a comma list of existing databases, or ALL)`,
      },
    )
  }
  return [...source.databases]
}

/**
 * The database the probe connects to first: the first named one, else `postgres`, else
 * `template1` (which always exists). A missing named database falls through to `postgres` so that
 * the error can list every missing name at once.
 */
async function entryClient(source: SourceConfig, signal: AbortSignal): Promise<pg.Client> {
  const candidates =
    source.databases === 'ALL' ? ['postgres', 'template1'] : [source.databases[0]!, 'postgres', 'template1']
  let first: unknown
  for (const db of candidates) {
    try {
      return await connect(source, db, signal)
    } catch (error) {
      first ??= error
      if (!(error instanceof DbkeeperError && error.code === 'NOT_FOUND')) throw error
    }
  }
  throw first
}

export async function probePostgres(source: SourceConfig, signal: AbortSignal): Promise<ProbeResult> {
  const client = await entryClient(source, signal)
  let serverVersion: string
  let serverMajor: string
  let names: string[]
  try {
    const v = await client.query<{ v: string; n: string }>(
      `SELECT current_setting('server_version') AS v, current_setting('server_version_num') AS n`,
    )
    serverVersion = v.rows[0]!.v
    serverMajor = majorFromVersionNum(Number(v.rows[0]!.n))
    names = await resolveDatabases(source, client)
  } catch (error) {
    throw classifyPgError(source, error)
  } finally {
    await client.end().catch(() => {})
  }
  const tool = await toolVersion(source, 'pg_dump', signal)
  checkToolVersion(source, 'pg_dump', tool, serverVersion, serverMajor)
  if (source.pgGlobals)
    checkToolVersion(source, 'pg_dumpall', await toolVersion(source, 'pg_dumpall', signal), serverVersion, serverMajor)
  const databases: DatabaseInfo[] = []
  for (const name of names) {
    try {
      databases.push(await describeDatabase(source, name, signal))
    } catch (error) {
      // Dropped since we listed it: with ALL there is nothing left to back up; a named one must exist.
      if (source.databases === 'ALL' && error instanceof DbkeeperError && error.code === 'NOT_FOUND') continue
      throw error
    }
  }
  return { serverVersion, tool: { name: 'pg_dump', version: tool.version }, databases }
}
