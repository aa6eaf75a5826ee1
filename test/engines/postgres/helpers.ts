/**
 * Shared pieces of the PostgreSQL engine tests: a SourceConfig for the private test server
 * (`inject('postgres')`), dumping through the engine to a gzip file, and comparable re-dumps.
 */
import { execa } from 'execa'
import { createReadStream, createWriteStream } from 'node:fs'
import { chmod, mkdtemp, open, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pipeline } from 'node:stream/promises'
import { createGunzip, createGzip } from 'node:zlib'
import { inject } from 'vitest'
import type { SourceConfig } from '../../../src/config/types.js'
import type { DumpResult } from '../../../src/engines/engine.js'
import { dbnameConninfo } from '../../../src/engines/postgres/args.js'
import type { PostgresEngine } from '../../../src/engines/postgres/engine.js'
import { DbkeeperError } from '../../../src/runtime/errors.js'
import { Secret } from '../../../src/runtime/secrets.js'
import { pgAdmin, type ServerInfo } from '../../support/servers.js'

export const server = (): ServerInfo => inject('postgres')

export function pgSource(
  overrides: Partial<Omit<SourceConfig, 'password'>> & { password?: string } = {},
): SourceConfig {
  const info = server()
  const { password, ...rest } = overrides
  return {
    id: 'DB01',
    label: 'pg',
    type: 'postgres',
    engine: 'postgres',
    host: info.host,
    port: info.port,
    user: info.user,
    password: password === undefined ? undefined : new Secret(password),
    databases: ['postgres'],
    path: undefined,
    extraOpts: [],
    pgFormat: 'plain',
    pgGlobals: false,
    retention: {},
    pitr: false,
    ...rest,
  }
}

/** A private 0700 directory, as the engine's work directory and for dump files. */
export async function privateDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'dbk-pgtest-'))
  await chmod(dir, 0o700)
  return dir
}

export const removeDir = (dir: string) => rm(dir, { recursive: true, force: true })

/** Runs SQL as the superuser on `database`. */
export async function sql(database: string, text: string): Promise<void> {
  const client = await pgAdmin(server(), database)
  try {
    await client.query(text)
  } finally {
    await client.end()
  }
}

/** Streams a dump through gzip into `file` and waits for the tool's verdict as well. */
export async function dumpToGzip(engine: PostgresEngine, database: string, file: string): Promise<DumpResult> {
  const dump = engine.dump(database, new AbortController().signal)
  // Both settled before either verdict: a failed dump's partial file is read by the caller, and
  // must be whole gzip (its trailer written) by then.
  const [written, result] = await Promise.allSettled([
    pipeline(dump.stdout, createGzip(), createWriteStream(file, { mode: 0o600 })),
    dump.done,
  ])
  if (result.status === 'rejected') throw result.reason
  if (written.status === 'rejected') throw written.reason
  return result.value
}

/** The raw content of a gzip file (test dumps are small). */
export async function gunzipFile(file: string): Promise<Buffer> {
  const chunks: Buffer[] = []
  const gunzip = createGunzip()
  const read = pipeline(createReadStream(file), gunzip)
  for await (const chunk of gunzip) chunks.push(chunk as Buffer)
  await read
  return Buffer.concat(chunks)
}

/** The DbkeeperError `promise` rejects with; fails the test when it resolves or throws anything else. */
export async function failure(promise: Promise<unknown>): Promise<DbkeeperError> {
  try {
    await promise
  } catch (error) {
    if (error instanceof DbkeeperError) return error
    throw error
  }
  throw new Error('expected a DbkeeperError, but the promise resolved')
}

/** The first and last 64 KiB, as the pipeline hands them to checkContent. */
export function headTail(raw: Buffer): [Buffer, Buffer] {
  const k = 64 * 1024
  return [raw.subarray(0, k), raw.subarray(Math.max(0, raw.length - k))]
}

export async function headTailOfFile(file: string): Promise<[Buffer, Buffer]> {
  const handle = await open(file)
  try {
    return headTail(await handle.readFile())
  } finally {
    await handle.close()
  }
}

/** Environment for the system client tools against the test server, as the superuser. */
export function libpqEnv(): Record<string, string> {
  const info = server()
  return {
    PATH: process.env.PATH ?? '',
    PGHOST: info.host,
    PGPORT: String(info.port),
    PGUSER: info.user,
    LC_MESSAGES: 'C',
  }
}

/**
 * A plain re-dump of `database` with the comparison noise removed: comment lines (they carry the
 * versions and dump times), the per-dump random `\restrict` keys, blank lines and the name itself.
 */
export async function comparableDump(database: string): Promise<string> {
  const { stdout } = await execa('pg_dump', ['--no-password', `--dbname=${dbnameConninfo(database)}`], {
    env: libpqEnv(),
    extendEnv: false,
  })
  return stdout
    .split('\n')
    .filter((l) => !l.startsWith('--') && !/^\\(un)?restrict /.test(l) && l.trim() !== '')
    .join('\n')
    .replaceAll(database, '<db>')
}

export { readFile }

/** Databases on the test server whose names match a LIKE pattern (leftovers of a restore). */
export async function databasesLike(pattern: string): Promise<string[]> {
  const c = await pgAdmin(server())
  try {
    return (
      await c.query<{ datname: string }>('SELECT datname FROM pg_database WHERE datname LIKE $1', [pattern])
    ).rows.map((r) => r.datname)
  } finally {
    await c.end()
  }
}

/** The CLI's environment for one PostgreSQL source `pg` backing up `database` into `dir`/backups. */
export function pgCliEnv(database: string, dir: string, extra: Record<string, string> = {}): Record<string, string> {
  const info = server()
  return {
    DB01_TYPE: 'postgres',
    DB01_HOST: info.host,
    DB01_PORT: String(info.port),
    DB01_USER: info.user,
    DB01_NAME: database,
    DB01_LABEL: 'pg',
    BACKUP_DIR: join(dir, 'backups'),
    ...extra,
  }
}

/** `ENCODING LC_COLLATE LC_CTYPE` of `database`, as pg_database has them ('' when there is no such database). */
export async function localeOf(database: string): Promise<string> {
  const c = await pgAdmin(server())
  try {
    const { rows } = await c.query<{ e: string; collate: string; ctype: string }>(
      'SELECT pg_encoding_to_char(encoding) AS e, datcollate AS collate, datctype AS ctype FROM pg_database WHERE datname = $1',
      [database],
    )
    return rows.map((r) => `${r.e} ${r.collate} ${r.ctype}`).join()
  } finally {
    await c.end()
  }
}

/** The content of every large object in `database`, as text, by oid. */
export async function largeObjects(database: string): Promise<string[]> {
  const c = await pgAdmin(server(), database)
  try {
    const { rows } = await c.query<{ s: string }>(
      "SELECT convert_from(lo_get(oid), 'UTF8') AS s FROM pg_largeobject_metadata ORDER BY oid",
    )
    return rows.map((r) => r.s)
  } finally {
    await c.end()
  }
}
