/**
 * The encoding and locale of a PostgreSQL database (engine.ts DatabaseLocale): read from
 * pg_database at backup time (needs.ts) or from a restore's existing target, and given back to the
 * `CREATE DATABASE` of a restore (client.ts). pg_dump writes no CREATE DATABASE, so without them a
 * restore gets the server's defaults: a unique index on lower(name) that held under LC_CTYPE C
 * fails under C.UTF-8, a LATIN1 database comes back UTF8, an ICU one sorts differently.
 */
import type pg from 'pg'
import type { DatabaseLocale } from '../engine.js'

/**
 * The whole pg_database row as JSON, so that one query reads every version: datlocprovider and
 * daticulocale came in 15, daticurules in 16, and 17 renamed daticulocale to datlocale.
 */
const LOCALE_SQL = `SELECT pg_encoding_to_char(d.encoding) AS encoding, to_jsonb(d) - 'datacl' AS row
  FROM pg_database d WHERE d.datname = $1`

const PROVIDERS: Record<string, string> = { c: 'libc', i: 'icu', b: 'builtin' }

/** The encoding and locale of database `name`, undefined when there is no such database. */
export async function readDatabaseLocale(c: pg.Client, name: string): Promise<DatabaseLocale | undefined> {
  const r = (await c.query<{ encoding: string; row: Record<string, unknown> }>(LOCALE_SQL, [name])).rows[0]
  return r ? localeOfRow(r.encoding, r.row) : undefined
}

/** The DatabaseLocale of one pg_database row (as JSON), pure. */
export function localeOfRow(encoding: string, row: Record<string, unknown>): DatabaseLocale {
  const text = (key: string) => (typeof row[key] === 'string' && row[key] !== '' ? row[key] : undefined)
  const provider = text('datlocprovider')
  const providerLocale = text('datlocale') ?? text('daticulocale')
  const icuRules = text('daticurules')
  return {
    encoding,
    lcCollate: text('datcollate') ?? '',
    lcCtype: text('datctype') ?? '',
    ...(provider ? { localeProvider: PROVIDERS[provider] ?? provider } : {}),
    ...(providerLocale ? { providerLocale } : {}),
    ...(icuRules ? { icuRules } : {}),
  }
}

/**
 * The options of `CREATE DATABASE … TEMPLATE template0` that give a new database `locale`.
 * `LOCALE_PROVIDER` is named only on a server that knows it (15+, `serverMajor`): even `libc`,
 * since a server whose template0 is ICU would otherwise make the copy ICU. A provider this server
 * lacks (ICU on 14, builtin on 15) is still named, so that the server refuses it (see createDatabase).
 */
export function createDatabaseOptions(
  locale: DatabaseLocale,
  serverMajor: number,
  literal: (value: string) => string,
): string {
  const options = [
    `ENCODING ${literal(locale.encoding)}`,
    `LC_COLLATE ${literal(locale.lcCollate)}`,
    `LC_CTYPE ${literal(locale.lcCtype)}`,
  ]
  const provider = locale.localeProvider
  if (provider !== undefined && (provider !== 'libc' || serverMajor >= 15))
    options.push(`LOCALE_PROVIDER ${literal(provider)}`)
  if (provider === 'icu') {
    options.push(`ICU_LOCALE ${literal(locale.providerLocale ?? '')}`)
    if (locale.icuRules !== undefined) options.push(`ICU_RULES ${literal(locale.icuRules)}`)
  }
  if (provider === 'builtin') options.push(`BUILTIN_LOCALE ${literal(locale.providerLocale ?? '')}`)
  return options.join(' ')
}

/** `ENCODING 'LATIN1', LC_COLLATE 'C', …` for messages: what the server was asked for. */
export function describeLocale(locale: DatabaseLocale): string {
  return [
    `ENCODING '${locale.encoding}'`,
    `LC_COLLATE '${locale.lcCollate}'`,
    `LC_CTYPE '${locale.lcCtype}'`,
    ...(locale.localeProvider ? [`LOCALE_PROVIDER ${locale.localeProvider}`] : []),
    ...(locale.providerLocale
      ? [`${locale.localeProvider === 'builtin' ? 'BUILTIN_LOCALE' : 'ICU_LOCALE'} '${locale.providerLocale}'`]
      : []),
    ...(locale.icuRules ? [`ICU_RULES '${locale.icuRules}'`] : []),
  ].join(', ')
}
