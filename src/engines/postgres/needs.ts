/**
 * What restoring a pg_dump asks of a server (engine.ts RestoreNeeds): measured on the source after
 * the dump, checked against the target before a restore touches it. A restore loads into a fresh
 * database statement by statement (restore.ts), so the lock table no longer bounds it; only the
 * documented by-hand `psql --single-transaction` path still takes one lock per relation at once,
 * and the manifest warns its users when the source itself could not take the backup back that way.
 */
import type pg from 'pg'
import type { SourceConfig } from '../../config/types.js'
import { DbkeeperError } from '../../runtime/errors.js'
import type { DatabaseLocale, RestoreNeeds } from '../engine.js'
import { readDatabaseLocale } from './locale.js'
import { withClient } from './probe.js'
import { majorFromVersionNum } from './version.js'

const USER_SCHEMAS = `n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_(toast|temp_)'`

/**
 * One query for everything: the relations a restore creates (every pg_class entry in the user's
 * schemas — tables, partitions, indexes, sequences, views, matviews, composite types — plus the
 * TOAST table and TOAST index of each table that has one), the partitioned tables, the extensions
 * (plpgsql is in every database already) and whether this server could install each of them now.
 */
const NEEDS_SQL = `
WITH rel AS (SELECT c.oid, c.relkind, c.reltoastrelid, n.nspname, c.relname
               FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE ${USER_SCHEMAS})
SELECT (SELECT count(*) FROM rel)
       + 2 * (SELECT count(*) FROM rel WHERE reltoastrelid <> 0) AS relations,
       ARRAY(SELECT format('%s.%s', nspname, relname) FROM rel WHERE relkind = 'p' ORDER BY 1) AS partitioned,
       ARRAY(SELECT extname::text FROM pg_extension WHERE extname <> 'plpgsql' ORDER BY 1) AS extensions,
       ARRAY(SELECT e.extname::text FROM pg_extension e WHERE e.extname <> 'plpgsql'
               AND NOT EXISTS (SELECT 1 FROM pg_available_extensions a WHERE a.name = e.extname) ORDER BY 1) AS unavailable,
       current_setting('max_locks_per_transaction')::int AS max_locks,
       current_setting('max_connections')::int AS max_connections,
       current_setting('max_prepared_transactions')::int AS max_prepared`

interface NeedsRow {
  relations: string
  partitioned: string[]
  extensions: string[]
  unavailable: string[]
  max_locks: number
  max_connections: number
  max_prepared: number
}

/** Measures what a restore of `database` needs, on the server it was just dumped from. */
export async function measureRestoreNeeds(
  source: SourceConfig,
  database: string,
  signal: AbortSignal,
): Promise<RestoreNeeds> {
  const { row, databaseLocale } = await withClient(source, database, signal, async (c) => ({
    row: (await c.query<NeedsRow>(NEEDS_SQL)).rows[0]!,
    databaseLocale: await readDatabaseLocale(c, database),
  }))
  return describeNeeds({
    databaseLocale,
    relations: Number(row.relations),
    partitioned: row.partitioned,
    extensions: row.extensions,
    unavailable: row.unavailable,
    lockSlots: row.max_locks * (row.max_connections + row.max_prepared),
    maxLocks: row.max_locks,
  })
}

/** The manifest's RestoreNeeds from what the server said, pure: the warnings are worded here. */
export function describeNeeds(m: {
  databaseLocale?: DatabaseLocale | undefined
  relations: number
  partitioned: string[]
  extensions: string[]
  unavailable: string[]
  lockSlots: number
  maxLocks: number
}): RestoreNeeds {
  const warnings: string[] = []
  if (m.relations > m.lockSlots) {
    // dbkeeper's own restore and the incident script are not affected: they load statement by statement.
    const needed = Math.ceil(m.relations / (m.lockSlots / m.maxLocks))
    warnings.push(
      `for \`psql --single-transaction\` / \`pg_restore --single-transaction\` by hand only: the backup creates ${m.relations} relations, ` +
        `more than this server's lock table holds in one transaction (max_locks_per_transaction ${m.maxLocks} × (max_connections + max_prepared_transactions) = ${m.lockSlots}), ` +
        `so such a restore fails with "out of shared memory"; load without --single-transaction into a new database (docs/RESTORE.md), ` +
        `or set max_locks_per_transaction = ${Math.max(needed, m.maxLocks * 2)} and restart the server`,
    )
  }
  for (const name of m.unavailable) {
    warnings.push(
      `the extension ${name} is installed in this database but no longer available for install on this server: ` +
        `a restore here fails at CREATE EXTENSION; ${installHint(name)}`,
    )
  }
  return {
    relations: m.relations,
    ...(m.partitioned.length > 0 ? { partitioned: m.partitioned } : {}),
    ...(m.extensions.length > 0 ? { extensions: m.extensions } : {}),
    ...(m.databaseLocale ? { databaseLocale: m.databaseLocale } : {}),
    ...(warnings.length > 0 ? { warnings } : {}),
  }
}

/** Extensions outside PostgreSQL's own contrib, by the Debian/Ubuntu (PGDG) package that brings them; `M` is the server's major version. */
const PACKAGES: Record<string, string> = {
  postgis: 'postgresql-M-postgis-3',
  postgis_raster: 'postgresql-M-postgis-3',
  postgis_topology: 'postgresql-M-postgis-3',
  postgis_sfcgal: 'postgresql-M-postgis-3',
  postgis_tiger_geocoder: 'postgresql-M-postgis-3',
  address_standardizer: 'postgresql-M-postgis-3',
  address_standardizer_data_us: 'postgresql-M-postgis-3',
  pgrouting: 'postgresql-M-pgrouting',
  vector: 'postgresql-M-pgvector',
  timescaledb: 'timescaledb-2-postgresql-M',
  pg_cron: 'postgresql-M-cron',
  pgaudit: 'postgresql-M-pgaudit',
  pg_partman: 'postgresql-M-partman',
  pg_repack: 'postgresql-M-repack',
  hypopg: 'postgresql-M-hypopg',
  pg_hint_plan: 'postgresql-M-pg-hint-plan',
  plpython3u: 'postgresql-plpython3-M',
  plperl: 'postgresql-plperl-M',
  plperlu: 'postgresql-plperl-M',
  pltcl: 'postgresql-pltcl-M',
  orafce: 'postgresql-M-orafce',
  pg_squeeze: 'postgresql-M-squeeze',
  h3: 'postgresql-M-h3',
}

/** How to make extension `name` available: the package when we know it, else the generic step. */
export function installHint(name: string, major?: string): string {
  const pkg = PACKAGES[name]
  if (pkg)
    return `install the package ${pkg.replace('M', major ?? '<major>')} on the server (Debian/Ubuntu; or your distribution's or provider's equivalent), then restore again`
  return `install the extension ${name} on the server (its package for this PostgreSQL major version; on a managed service, check that it is offered), then restore again`
}

/**
 * Refuses a restore whose backup creates extensions the target server cannot install, naming the
 * package; called before anything is created. An older manifest without `restoreNeeds`: nothing known, nothing refused.
 */
export async function checkTargetNeeds(
  c: pg.Client,
  needs: RestoreNeeds | undefined,
  what: string,
  server: string,
): Promise<void> {
  const wanted = Array.isArray(needs?.extensions) ? needs.extensions.filter((e) => typeof e === 'string') : []
  if (wanted.length === 0) return
  const { rows } = await c.query<{ name: string }>(
    'SELECT name FROM pg_available_extensions WHERE name = ANY($1::text[])',
    [wanted],
  )
  const available = new Set(rows.map((r) => r.name))
  const missing = wanted.filter((e) => !available.has(e))
  if (missing.length === 0) return
  const major = majorFromVersionNum(
    Number((await c.query<{ n: string }>(`SELECT current_setting('server_version_num') AS n`)).rows[0]!.n),
  )
  throw new DbkeeperError(
    'RESTORE_FAILED',
    `${what} was not changed: the backup creates the extension${missing.length > 1 ? 's' : ''} ${missing.join(', ')}, which the PostgreSQL ${major} server ${server} cannot install (not in pg_available_extensions)`,
    {
      hint: missing.map((e) => `${e}: ${installHint(e, major)}`).join('; '),
    },
  )
}
