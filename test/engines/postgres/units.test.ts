/**
 * The pure parts of the PostgreSQL engine: command lines, passfile escaping, end markers,
 * version parsing and the classification of the tools' messages. No server needed.
 */
import { describe, expect, it } from 'vitest'
import type { SourceConfig } from '../../../src/config/types.js'
import { decodeManifest } from '../../../src/catalog/manifest.js'
import { createDatabaseOptions, describeLocale, localeOfRow } from '../../../src/engines/postgres/locale.js'
import { describeNeeds, installHint } from '../../../src/engines/postgres/needs.js'
import {
  dbnameConninfo,
  pgDumpArgs,
  pgDumpallGlobalsArgs,
  pgRestoreArgs,
  psqlRestoreArgs,
} from '../../../src/engines/postgres/args.js'
import {
  CLUSTER_END_MARKER,
  DUMP_END_MARKER,
  checkCustomHead,
  checkEndMarker,
} from '../../../src/engines/postgres/content.js'
import { judgeToolExit, keyLine } from '../../../src/engines/postgres/errors.js'
import { escapePassfileField, passfileLine } from '../../../src/engines/postgres/credentials.js'
import { majorFromVersionNum, parseToolVersion } from '../../../src/engines/postgres/version.js'
import { Secret } from '../../../src/runtime/secrets.js'

const source: SourceConfig = {
  id: 'DB03',
  label: 'pg',
  type: 'postgres',
  engine: 'postgres',
  host: 'db',
  port: 5433,
  user: 'backup',
  password: new Secret('s3cret-unit'),
  databases: ['app'],
  path: undefined,
  extraOpts: ['--exclude-table=logs'],
  pgFormat: 'plain',
  pgGlobals: false,
  retention: {},
  pitr: false,
}

describe('command lines', () => {
  it('pg_dump: connection, never a password, no prompt, extra options before our --dbname', () => {
    const args = pgDumpArgs(source, 'app')
    expect(args).toEqual([
      '--host',
      'db',
      '--port',
      '5433',
      '--username',
      'backup',
      '--no-password',
      '--quote-all-identifiers',
      '--format=plain',
      '--exclude-table=logs',
      "--dbname=dbname='app'",
    ])
    expect(args.join(' ')).not.toContain('s3cret-unit')
    expect(pgDumpArgs({ ...source, pgFormat: 'custom' }, 'app')).toEqual(
      expect.arrayContaining(['--format=custom', '--compress=0']),
    )
  })

  it('the database name cannot become an option or a connection string', () => {
    expect(dbnameConninfo('-x')).toBe("dbname='-x'")
    expect(dbnameConninfo("a=b 'c' \\d")).toBe("dbname='a=b \\'c\\' \\\\d'")
    expect(dbnameConninfo('postgresql://evil/x')).toBe("dbname='postgresql://evil/x'")
  })

  it('pg_dumpall takes no pg_dump extra options; psql and pg_restore stop at the first error, not in one transaction (lock table)', () => {
    expect(pgDumpallGlobalsArgs(source)).not.toContain('--exclude-table=logs')
    expect(pgDumpallGlobalsArgs(source)).toContain('--globals-only')
    expect(psqlRestoreArgs(source, 'new')).toEqual(
      expect.arrayContaining(['--set=ON_ERROR_STOP=1', '--no-psqlrc', '--no-password', "--dbname=dbname='new'"]),
    )
    expect(pgRestoreArgs(source, 'new')).toContain('--exit-on-error')
    for (const args of [psqlRestoreArgs(source, 'new'), pgRestoreArgs(source, 'new')])
      expect(args).not.toContain('--single-transaction')
  })
})

describe('passfile', () => {
  it('escapes backslash and colon, and matches any host, port and database', () => {
    expect(escapePassfileField('a:b\\c')).toBe('a\\:b\\\\c')
    expect(passfileLine('us:er', `p:a\\ss 'w"o$rd#`)).toBe(`*:*:*:us\\:er:p\\:a\\\\ss 'w"o$rd#\n`)
  })
})

describe('end markers', () => {
  const dump = (ending: string) => Buffer.from(`COPY t FROM stdin;\n1\n\\.\n\n--\n${ending}`)
  it('accepts pg_dump endings with and without the \\unrestrict line', () => {
    expect(checkEndMarker(dump(`${DUMP_END_MARKER}\n--\n\n`), DUMP_END_MARKER, 'pg_dump')).toBeUndefined()
    expect(
      checkEndMarker(dump(`${DUMP_END_MARKER}\n--\n\n\\unrestrict AbC123\n\n`), DUMP_END_MARKER, 'pg_dump'),
    ).toBeUndefined()
    expect(
      checkEndMarker(
        Buffer.from(`\\unrestrict k\n\n--\n${CLUSTER_END_MARKER}\n--\n\n`),
        CLUSTER_END_MARKER,
        'pg_dumpall',
      ),
    ).toBeUndefined()
  })

  it("refuses a missing marker, a marker followed by more SQL, and the other tool's marker", () => {
    expect(checkEndMarker(dump(''), DUMP_END_MARKER, 'pg_dump')).toMatch(/missing: the dump ended early/)
    expect(checkEndMarker(dump(`${DUMP_END_MARKER}\n--\nCREATE TABLE x ();\n`), DUMP_END_MARKER, 'pg_dump')).toMatch(
      /not at the end/,
    )
    expect(checkEndMarker(dump(`${CLUSTER_END_MARKER}\n--\n`), DUMP_END_MARKER, 'pg_dump')).toMatch(/missing/)
  })

  it('custom format: the PGDMP magic', () => {
    expect(checkCustomHead(Buffer.from('PGDMP\x01\x0e\x00'))).toBeUndefined()
    expect(checkCustomHead(Buffer.from('--\n-- PostgreSQL'))).toMatch(/PGDMP/)
    expect(checkCustomHead(Buffer.alloc(0))).toMatch(/PGDMP/)
  })
})

describe('versions', () => {
  it('reads pg_dump --version and server_version_num', () => {
    expect(parseToolVersion('pg_dump (PostgreSQL) 15.20 (Debian 15.20-0+deb12u1)')).toEqual({
      version: '15.20 (Debian 15.20-0+deb12u1)',
      major: '15',
    })
    expect(parseToolVersion('pg_dump (PostgreSQL) 17beta1')).toMatchObject({ major: '17' })
    expect(parseToolVersion('pg_dump (PostgreSQL) 9.6.24')).toMatchObject({ major: '9.6' })
    expect(parseToolVersion('mysqldump  Ver 10.19')).toBeUndefined()
    expect(majorFromVersionNum(160002)).toBe('16')
    expect(majorFromVersionNum(90624)).toBe('9.6')
  })
})

describe('classifying a failed tool', () => {
  const judge = (stderr: string, exitCode = 1) =>
    judgeToolExit(source, 'pg_dump', { exitCode, signal: undefined, stderr })
  it.each([
    [
      'pg_dump: error: connection to server at "db" (10.0.0.2), port 5433 failed: FATAL:  password authentication failed for user "backup"',
      'AUTH',
      'DB03_USER / DB03_PASS',
    ],
    [
      'pg_dump: error: connection to server at "db", port 5433 failed: fe_sendauth: no password supplied',
      'AUTH',
      'DB03_PASS',
    ],
    [
      'pg_dump: error: connection to server at "db", port 5433 failed: FATAL:  no pg_hba.conf entry for host "10.0.0.9", user "backup", database "app", no encryption',
      'AUTH',
      'pg_hba.conf',
    ],
    [
      'pg_dump: error: connection to server at "db", port 5433 failed: Connection refused\n\tIs the server running on that host and accepting TCP/IP connections?',
      'CONNECT',
      'DB03_HOST / DB03_PORT',
    ],
    [
      'pg_dump: error: could not translate host name "db" to address: Name or service not known',
      'CONNECT',
      'DB03_HOST',
    ],
    [
      'pg_dump: error: connection to server at "db", port 5433 failed: FATAL:  database "app" does not exist',
      'NOT_FOUND',
      'DB03_NAME',
    ],
    [
      'pg_dump: error: query failed: ERROR:  permission denied for table secrets\npg_dump: detail: Query was: LOCK TABLE public.secrets IN ACCESS SHARE MODE',
      'PRIVILEGE',
      'DB03_USER',
    ],
    ['pg_dumpall: error: query failed: ERROR:  permission denied for table pg_authid', 'PRIVILEGE', 'DB03_PG_GLOBALS'],
    [
      'pg_dump: error: aborting because of server version mismatch\npg_dump: detail: server version: 16.2; pg_dump version: 15.20',
      'VERSION',
      'postgresql-client',
    ],
    [
      'pg_dump: error: Dumping the contents of table "t" failed: PQgetResult() failed.\npg_dump: detail: Error message from server: server closed the connection unexpectedly',
      'DUMP_FAILED',
      'server log',
    ],
    ["pg_dump: error: invalid option -- 'Q'", 'DUMP_FAILED', 'DB03_EXTRA_OPTS'],
  ])('%s → %s', (stderr, code, hint) => {
    const error = judge(stderr)!
    expect(error.code).toBe(code)
    expect(error.message).toMatch(/^DB03: pg_dump exited 1: /)
    expect(error.hint).toContain(hint)
  })

  it('names both versions on a mismatch, and passes exit 0 without an error', () => {
    expect(
      judge(
        'pg_dump: error: aborting because of server version mismatch\npg_dump: detail: server version: 16.2; pg_dump version: 15.20',
      )!.message,
    ).toContain('server 16.2, pg_dump 15.20')
    expect(judge('pg_dump: warning: some notice', 0)).toBeUndefined()
  })

  it('a killed tool is a failed dump', () => {
    expect(judgeToolExit(source, 'pg_dump', { exitCode: undefined, signal: 'SIGKILL', stderr: '' })).toMatchObject({
      code: 'DUMP_FAILED',
      message: 'DB03: pg_dump was killed by SIGKILL',
    })
  })

  it('keyLine picks the first error line without the tool prefix', () => {
    expect(
      keyLine('pg_dump: warning: x\npg_dump: error: query failed: ERROR:  boom\npg_dump: detail: Query was: SELECT 1'),
    ).toBe('query failed: ERROR:  boom')
    expect(keyLine('just a line\nlast line\n')).toBe('last line')
  })
})

describe('what a restore needs (needs.ts)', () => {
  const base = { relations: 20, partitioned: [], extensions: [], unavailable: [], lockSlots: 6400, maxLocks: 64 }

  it('records relations, partitioned tables and extensions; no warning when the source could take it back', () => {
    expect(describeNeeds({ ...base, partitioned: ['s.p'], extensions: ['pg_trgm'] })).toEqual({
      relations: 20,
      partitioned: ['s.p'],
      extensions: ['pg_trgm'],
    })
    expect(describeNeeds(base)).toEqual({ relations: 20 })
  })

  it('warns by-hand single-transaction users when the lock table is too small, with the setting to use', () => {
    const [warning] = describeNeeds({ ...base, relations: 15_000 }).warnings!
    expect(warning).toMatch(
      /^for `psql --single-transaction` .* by hand only: the backup creates 15000 relations, .*max_locks_per_transaction 64 × \(max_connections \+ max_prepared_transactions\) = 6400/,
    )
    expect(warning).toContain('set max_locks_per_transaction = 150 and restart the server')
    expect(describeNeeds({ ...base, relations: 6400 }).warnings).toBeUndefined()
  })

  it('warns about an extension the source can no longer install, and names the package', () => {
    expect(describeNeeds({ ...base, extensions: ['postgis'], unavailable: ['postgis'] }).warnings).toEqual([
      "the extension postgis is installed in this database but no longer available for install on this server: a restore here fails at CREATE EXTENSION; install the package postgresql-<major>-postgis-3 on the server (Debian/Ubuntu; or your distribution's or provider's equivalent), then restore again",
    ])
    expect(installHint('vector', '16')).toContain('postgresql-16-pgvector')
    expect(installHint('my_ext', '15')).toMatch(/^install the extension my_ext on the server/)
  })
})

describe('the encoding and locale of a database (locale.ts)', () => {
  const quote = (v: string) => `'${v.replace(/'/g, "''")}'`

  it('reads a pg_database row of any version: 14 (libc only), 15/16 (daticulocale), 17 (datlocale, builtin)', () => {
    expect(localeOfRow('LATIN1', { datcollate: 'C', datctype: 'C' })).toEqual({
      encoding: 'LATIN1',
      lcCollate: 'C',
      lcCtype: 'C',
    })
    expect(
      localeOfRow('UTF8', {
        datcollate: 'C.UTF-8',
        datctype: 'C.UTF-8',
        datlocprovider: 'i',
        daticulocale: 'de-u-kn-true',
        daticurules: null,
      }),
    ).toEqual({
      encoding: 'UTF8',
      lcCollate: 'C.UTF-8',
      lcCtype: 'C.UTF-8',
      localeProvider: 'icu',
      providerLocale: 'de-u-kn-true',
    })
    expect(
      localeOfRow('UTF8', { datcollate: 'C', datctype: 'C', datlocprovider: 'b', datlocale: 'C.UTF-8' }),
    ).toMatchObject({ localeProvider: 'builtin', providerLocale: 'C.UTF-8' })
    expect(localeOfRow('UTF8', { datcollate: 'C', datctype: 'C', datlocprovider: 'c' })).toEqual({
      encoding: 'UTF8',
      lcCollate: 'C',
      lcCtype: 'C',
      localeProvider: 'libc',
    })
  })

  it('gives CREATE DATABASE every option, and LOCALE_PROVIDER libc only to a server that knows it', () => {
    const libc = { encoding: 'UTF8', lcCollate: 'C', lcCtype: "it's", localeProvider: 'libc' }
    expect(createDatabaseOptions(libc, 15, quote)).toBe(
      "ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'it''s' LOCALE_PROVIDER 'libc'",
    )
    expect(createDatabaseOptions(libc, 14, quote)).toBe("ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'it''s'")
    const icu = {
      encoding: 'UTF8',
      lcCollate: 'C',
      lcCtype: 'C',
      localeProvider: 'icu',
      providerLocale: 'de-u-kn-true',
    }
    // Named even on 14, which then refuses it by name rather than making a libc copy.
    expect(createDatabaseOptions(icu, 14, quote)).toBe(
      "ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C' LOCALE_PROVIDER 'icu' ICU_LOCALE 'de-u-kn-true'",
    )
    expect(createDatabaseOptions({ ...icu, icuRules: '&a < b' }, 16, quote)).toMatch(/ ICU_RULES '&a < b'$/)
    expect(createDatabaseOptions({ ...icu, localeProvider: 'builtin', providerLocale: 'C.UTF-8' }, 17, quote)).toMatch(
      /LOCALE_PROVIDER 'builtin' BUILTIN_LOCALE 'C.UTF-8'$/,
    )
    expect(describeLocale(icu)).toBe(
      "ENCODING 'UTF8', LC_COLLATE 'C', LC_CTYPE 'C', LOCALE_PROVIDER icu, ICU_LOCALE 'de-u-kn-true'",
    )
  })

  it('is an optional manifest field: absent decodes, a damaged one is refused', () => {
    const base = {
      formatVersion: 1,
      id: 'x',
      source: 's',
      engine: 'postgres',
      database: 'd',
      file: 'f.sql.gz',
      startedAt: 'a',
      finishedAt: 'b',
      durationMs: 1,
      raw: { size: 1, sha256: 'a'.repeat(64) },
      compressed: { size: 1, sha256: 'b'.repeat(64) },
      tables: [],
      compression: { kind: 'gzip', level: 6 },
      tool: { name: 'pg_dump', version: '15', options: [] },
      server: { version: '15' },
      verification: { ok: true, at: 'c', method: 'm' },
    }
    const decode = (restoreNeeds: unknown) => decodeManifest(JSON.stringify({ ...base, restoreNeeds }))
    expect('manifest' in decodeManifest(JSON.stringify(base))).toBe(true)
    expect('manifest' in decode({ relations: 3 })).toBe(true)
    const databaseLocale = { encoding: 'LATIN1', lcCollate: 'C', lcCtype: 'C' }
    expect(decode({ databaseLocale })).toMatchObject({ manifest: { restoreNeeds: { databaseLocale } } })
    for (const damaged of [null, 'C', { encoding: 'UTF8', lcCollate: 'C' }, { ...databaseLocale, localeProvider: 1 }])
      expect(decode({ databaseLocale: damaged })).toEqual({
        error: 'the manifest has a database locale without its encoding, LC_COLLATE or LC_CTYPE',
      })
  })
})
