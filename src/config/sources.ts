import { basename, extname, isAbsolute } from 'node:path'
import type { EnvReader } from './reader.js'
import { SOURCE_VAR } from './known.js'
import { readSourcePitr } from './pitr.js'
import { readSourceRetention } from './retention.js'
import type { EngineKind, RetentionPolicy, SourceConfig } from './types.js'
import { splitOptions } from './options.js'

const TYPES: Record<string, EngineKind> = {
  mysql: 'mysql',
  mariadb: 'mysql',
  postgres: 'postgres',
  postgresql: 'postgres',
  pgsql: 'postgres',
  sqlite: 'sqlite',
  sqlite3: 'sqlite',
}

const DEFAULT_PORT: Record<EngineKind, number | undefined> = { mysql: 3306, postgres: 5432, sqlite: undefined }
const DEFAULT_USER: Record<EngineKind, string | undefined> = { mysql: 'root', postgres: 'postgres', sqlite: undefined }

/** Names that become one directory each on the volume: no separators, no leading dot. */
export const LABEL_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/

/**
 * Options that would defeat a check we rely on (the end-of-dump marker, output to our stream) or
 * put a password in argv. Each maps to the reason given to the operator.
 */
const FORBIDDEN_OPTS: Record<EngineKind, [RegExp, string][]> = {
  mysql: [
    // mysqldump also takes unambiguous prefixes (--pass=) and the --loose- modifier.
    [
      /^(--(loose-)?pa(s(s(w(o(r(d)?)?)?)?)?)?(=|$)|-p)/,
      'a password in argv is visible in `ps`: use DBnn_PASS or DBnn_PASS_FILE',
    ],
    [/^(--skip-comments|--compact)$/, 'it removes the "-- Dump completed" marker that proves a dump is complete'],
    [/^(--result-file|-r|--tab(=|$)|-T|--xml|-X)/, 'dbkeeper reads the dump from standard output'],
    [/^--defaults(-extra)?-file/, 'dbkeeper passes the credentials in its own defaults file'],
  ],
  postgres: [
    [/^(--file|-f)/, 'dbkeeper reads the dump from standard output'],
    [/^(--format|-F)/, 'use DBnn_PG_FORMAT (plain or custom)'],
    [/^(--dbname|-d)/, 'use DBnn_NAME'],
  ],
  sqlite: [],
}

/** The numbered prefixes (`DB01`, `DB02`, …) present in the environment, in numeric order. */
export function sourcePrefixes(env: Readonly<Record<string, string | undefined>>): string[] {
  const found = new Set<string>()
  for (const [key, value] of Object.entries(env)) {
    const m = SOURCE_VAR.exec(key)
    if (m && value !== undefined && value.trim() !== '') found.add(m[1]!)
  }
  return [...found].sort((a, b) => Number(a.slice(2)) - Number(b.slice(2)))
}

export function readSource(r: EnvReader, id: string, global: RetentionPolicy): SourceConfig | undefined {
  const v = (suffix: string) => `${id}_${suffix}`
  const typeRaw = r.required(v('TYPE'), 'mysql, mariadb, postgres or sqlite')
  const engine = typeRaw === undefined ? undefined : TYPES[typeRaw.toLowerCase()]
  if (typeRaw !== undefined && engine === undefined) r.problem(v('TYPE'), typeRaw, 'mysql, mariadb, postgres or sqlite')

  const retention = readSourceRetention(r, `${id}_`, global)
  const password = r.secret(v('PASS'))
  if (engine === undefined) return undefined

  let host: string | undefined
  let port: number | undefined
  let user: string | undefined
  let path: string | undefined
  let databases: readonly string[] | 'ALL' = []

  if (engine === 'sqlite') {
    path = r.required(v('PATH'), 'the absolute path of the SQLite database file')
    if (path !== undefined && !isAbsolute(path))
      r.problem(v('PATH'), path, 'an absolute path to the SQLite database file')
    const name = r.raw(v('NAME')) ?? (path ? basename(path, extname(path)) : undefined)
    if (name === 'ALL') r.problem(v('NAME'), name, 'one name for the SQLite file (ALL is for servers)')
    databases = name ? [name] : []
  } else {
    host = r.required(v('HOST'), `the host name of the ${engine === 'mysql' ? 'MySQL/MariaDB' : 'PostgreSQL'} server`)
    port = r.int(v('PORT'), {
      min: 1,
      max: 65535,
      fallback: DEFAULT_PORT[engine],
      expected: 'a port number from 1 to 65535',
    })
    user = r.string(v('USER'), DEFAULT_USER[engine])
    const names = r.required(v('NAME'), 'a database name, a comma-separated list, or ALL')
    if (names !== undefined) databases = parseNames(r, v('NAME'), names)
  }

  const extraOpts = readExtraOpts(r, v('EXTRA_OPTS'), engine)
  const pgFormat = r.oneOf(v('PG_FORMAT'), ['plain', 'custom'] as const, 'plain')
  const pgGlobals = r.bool(v('PG_GLOBALS'), false)
  if (engine !== 'postgres') {
    for (const s of ['PG_FORMAT', 'PG_GLOBALS'])
      if (r.has(v(s)))
        r.problem(v(s), r.raw(v(s)), `to be unset: it applies to postgres sources only, and ${id} is ${engine}`)
  }

  const pitr = readSourcePitr(r, id, engine)
  const label = r.raw(v('LABEL')) ?? deriveLabel(engine, host, path)
  if (!LABEL_PATTERN.test(label)) {
    r.problem(
      v('LABEL'),
      label,
      'letters, digits, ".", "_" or "-", starting with a letter or digit, at most 64 characters (it names a directory)',
    )
  }
  return Object.freeze({
    id,
    label,
    type: typeRaw!.toLowerCase(),
    engine,
    host,
    port,
    user,
    password,
    databases,
    path,
    extraOpts,
    pgFormat,
    pgGlobals,
    retention: Object.freeze(retention),
    pitr,
  })
}

function parseNames(r: EnvReader, variable: string, text: string): readonly string[] | 'ALL' {
  if (text.toUpperCase() === 'ALL') return 'ALL'
  const names = text.split(',').map((s) => s.trim())
  if (names.some((n) => n === '' || n.includes('/') || n.includes('\0') || n === '.' || n === '..')) {
    r.problem(variable, text, 'database names separated by commas, none empty and none containing "/"')
    return []
  }
  if (new Set(names).size !== names.length) r.problem(variable, text, 'each database named once')
  return names
}

function readExtraOpts(r: EnvReader, variable: string, engine: EngineKind): string[] {
  const text = r.raw(variable)
  if (text === undefined) return []
  const split = splitOptions(text)
  // The text may hold a password (`-psecret`), which is no registered Secret: never show it whole then.
  const shown = /(^|\s)(-p|--(loose-)?pa)/.test(text) ? '…' : text
  if (split.error) {
    r.problem(variable, shown, `options separated by spaces (${split.error})`)
    return []
  }
  for (const opt of split.args) {
    for (const [pattern, reason] of FORBIDDEN_OPTS[engine]) {
      if (pattern.test(opt)) {
        const { name, masked } = maskOptionValue(opt)
        r.problem(variable, masked, `no ${name}: ${reason}`)
      }
    }
  }
  if (engine === 'sqlite' && split.args.length > 0)
    r.problem(variable, shown, 'nothing: sqlite sources take no extra options')
  return split.args
}

/** `--password=x` → `--password=…`, `-px` → `-p…`: a forbidden option's value may be a password. */
function maskOptionValue(opt: string): { name: string; masked: string } {
  const long = /^(--[^=]+)=/.exec(opt)
  if (long) return { name: long[1]!, masked: `${long[1]}=…` }
  const short = /^(-[A-Za-z])./.exec(opt)
  if (short) return { name: short[1]!, masked: `${short[1]}…` }
  return { name: opt, masked: opt }
}

function deriveLabel(engine: EngineKind, host: string | undefined, path: string | undefined): string {
  const raw = engine === 'sqlite' ? basename(path ?? 'sqlite', extname(path ?? '')) : (host ?? engine)
  const cleaned = raw.replace(/[^A-Za-z0-9_.-]+/g, '-').replace(/^[^A-Za-z0-9]+/, '')
  return cleaned === '' ? engine : cleaned.slice(0, 64)
}
