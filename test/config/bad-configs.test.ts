/**
 * Bad configurations: each is refused with a ConfigError (exit code 2) that lists every problem
 * at once, each naming the variable, the value it got and what was expected.
 */
import { describe, expect, it } from 'vitest'
import { exitCodeFor } from '../../src/runtime/errors.js'
import type { Env } from '../../src/config/reader.js'
import { expectProblems, MYSQL, parse, PASSWORD, SQLITE, type ExpectedProblem } from './support.js'

const POSTGRES: Env = { DB01_TYPE: 'postgres', DB01_HOST: 'pg', DB01_NAME: 'app', DB01_PASS: PASSWORD }

const cases: [string, Env, ExpectedProblem[]][] = [
  ['no source at all', {}, [{ variable: 'DB01_TYPE', value: undefined, expected: 'at least one database source' }]],
  [
    'an unknown engine',
    { ...MYSQL, DB01_TYPE: 'oracle' },
    [{ variable: 'DB01_TYPE', value: 'oracle', expected: 'mysql, mariadb, postgres or sqlite' }],
  ],
  [
    'a source without its type',
    { DB01_HOST: 'db', DB01_NAME: 'app' },
    [{ variable: 'DB01_TYPE', value: undefined, expected: 'mysql, mariadb, postgres or sqlite' }],
  ],
  [
    'a MySQL source without host and database name',
    { DB01_TYPE: 'mariadb' },
    [
      { variable: 'DB01_HOST', value: undefined, expected: 'the host name of the MySQL/MariaDB server' },
      { variable: 'DB01_NAME', value: undefined, expected: 'a database name, a comma-separated list, or ALL' },
    ],
  ],
  [
    'a port out of range',
    { ...MYSQL, DB01_PORT: '99999' },
    [{ variable: 'DB01_PORT', value: '99999', expected: 'a port number from 1 to 65535' }],
  ],
  [
    'a port that is no number',
    { ...POSTGRES, DB01_PORT: '54x' },
    [{ variable: 'DB01_PORT', value: '54x', expected: 'a port number from 1 to 65535' }],
  ],
  [
    'an unknown compression',
    { ...MYSQL, COMPRESSION: 'lz4' },
    [{ variable: 'COMPRESSION', value: 'lz4', expected: 'one of gzip, zstd, none' }],
  ],
  [
    'a compression level out of range',
    { ...MYSQL, COMPRESSION_LEVEL: '10' },
    [{ variable: 'COMPRESSION_LEVEL', value: '10', expected: 'a gzip level from 1 (fastest) to 9 (smallest)' }],
  ],
  [
    'a zstd level out of range',
    { ...MYSQL, COMPRESSION: 'zstd', COMPRESSION_LEVEL: '20' },
    [{ variable: 'COMPRESSION_LEVEL', value: '20', expected: 'a zstd level from 1 (fastest) to 19 (smallest)' }],
  ],
  [
    'a compression level in words',
    { ...SQLITE, COMPRESSION_LEVEL: 'best' },
    [{ variable: 'COMPRESSION_LEVEL', value: 'best', expected: 'from 1 (fastest) to 9' }],
  ],
  [
    'a bad log level and log format',
    { ...SQLITE, LOG_LEVEL: 'verbose', LOG_FORMAT: 'xml' },
    [
      { variable: 'LOG_LEVEL', value: 'verbose', expected: 'one of trace, debug, info, warn, error, fatal, silent' },
      { variable: 'LOG_FORMAT', value: 'xml', expected: 'one of json, pretty' },
    ],
  ],
  [
    'an unknown time zone',
    { ...SQLITE, TZ: 'Mars/Olympus_Mons' },
    [{ variable: 'TZ', value: 'Mars/Olympus_Mons', expected: 'an IANA time zone' }],
  ],
  [
    'an empty name in a list of databases',
    { ...MYSQL, DB01_NAME: 'app,,shop' },
    [{ variable: 'DB01_NAME', value: 'app,,shop', expected: 'none empty and none containing "/"' }],
  ],
  [
    'a database name with a slash',
    { ...MYSQL, DB01_NAME: 'app/../etc' },
    [{ variable: 'DB01_NAME', value: 'app/../etc', expected: 'none containing "/"' }],
  ],
  [
    'a database named twice',
    { ...MYSQL, DB01_NAME: 'app, shop, app' },
    [{ variable: 'DB01_NAME', value: 'app, shop, app', expected: 'each database named once' }],
  ],
  [
    'SQLite without a path',
    { DB01_TYPE: 'sqlite' },
    [{ variable: 'DB01_PATH', value: undefined, expected: 'the absolute path of the SQLite database file' }],
  ],
  [
    'SQLite with a relative path',
    { DB01_TYPE: 'sqlite', DB01_PATH: 'data/app.db' },
    [{ variable: 'DB01_PATH', value: 'data/app.db', expected: 'an absolute path' }],
  ],
  [
    'SQLite with NAME=ALL',
    { ...SQLITE, DB01_NAME: 'ALL' },
    [{ variable: 'DB01_NAME', value: 'ALL', expected: 'ALL is for servers' }],
  ],
  [
    'SQLite with extra options',
    { ...SQLITE, DB01_EXTRA_OPTS: '--fast' },
    [{ variable: 'DB01_EXTRA_OPTS', value: '--fast', expected: 'sqlite sources take no extra options' }],
  ],
  [
    'a label that would leave the backup directory',
    { ...MYSQL, DB01_LABEL: '../etc' },
    [{ variable: 'DB01_LABEL', value: '../etc', expected: 'starting with a letter or digit' }],
  ],
  [
    'a label with a slash',
    { ...MYSQL, DB01_LABEL: 'prod/db' },
    [{ variable: 'DB01_LABEL', value: 'prod/db', expected: 'it names a directory' }],
  ],
  [
    'PostgreSQL settings on a MySQL source',
    { ...MYSQL, DB01_PG_FORMAT: 'custom', DB01_PG_GLOBALS: 'true' },
    [
      { variable: 'DB01_PG_FORMAT', value: 'custom', expected: 'applies to postgres sources only, and DB01 is mysql' },
      { variable: 'DB01_PG_GLOBALS', value: 'true', expected: 'applies to postgres sources only' },
    ],
  ],
  [
    'bad PostgreSQL settings',
    { ...POSTGRES, DB01_PG_FORMAT: 'tar', DB01_PG_GLOBALS: 'maybe' },
    [
      { variable: 'DB01_PG_FORMAT', value: 'tar', expected: 'one of plain, custom' },
      { variable: 'DB01_PG_GLOBALS', value: 'maybe', expected: 'true or false' },
    ],
  ],
  [
    'an unclosed quote in EXTRA_OPTS',
    { ...MYSQL, DB01_EXTRA_OPTS: '--ignore-table="app.log' },
    [
      {
        variable: 'DB01_EXTRA_OPTS',
        value: '--ignore-table="app.log',
        expected: 'options separated by spaces (unclosed " quote)',
      },
    ],
  ],
  [
    'bad retention values',
    { ...MYSQL, KEEP_DAILY: 'seven', KEEP_WITHIN: '7days', BACKUP_RETENTION_DAYS: '0' },
    [
      { variable: 'KEEP_DAILY', value: 'seven', expected: 'a count > 0, or -1 for unlimited' },
      { variable: 'KEEP_WITHIN', value: '7days', expected: 'a duration such as 30d' },
      { variable: 'BACKUP_RETENTION_DAYS', value: '0', expected: 'a number of days > 0' },
    ],
  ],
  [
    'three mistakes in three places',
    { ...MYSQL, COMPRESSION: 'lz4', DB01_PORT: '0', DB02_TYPE: 'mongodb', DB02_HOST: 'mongo', DB02_NAME: 'x' },
    [
      { variable: 'COMPRESSION', value: 'lz4', expected: 'one of gzip, zstd, none' },
      { variable: 'DB01_PORT', value: '0', expected: 'a port number from 1 to 65535' },
      { variable: 'DB02_TYPE', value: 'mongodb', expected: 'mysql, mariadb, postgres or sqlite' },
    ],
  ],
  [
    'a mistake in every source',
    {
      ...MYSQL,
      DB01_PORT: 'x',
      DB02_TYPE: 'sqlite',
      DB02_PATH: 'relative.db',
      DB03_TYPE: 'postgres',
      DB03_NAME: 'app',
      DB10_TYPE: 'mysql',
      DB10_HOST: 'db10',
      DB10_NAME: ',',
    },
    [
      { variable: 'DB01_PORT', value: 'x', expected: 'a port number' },
      { variable: 'DB02_PATH', value: 'relative.db', expected: 'an absolute path' },
      { variable: 'DB03_HOST', value: undefined, expected: 'the host name of the PostgreSQL server' },
      { variable: 'DB10_NAME', value: ',', expected: 'none empty' },
    ],
  ],
]

describe('parseConfig refuses a bad configuration, listing every problem', () => {
  it.each(cases)('%s', (_name, env, expected) => {
    const error = expectProblems(env, expected)
    expect(exitCodeFor(error)).toBe(2)
    expect(error.hint).toContain('docs/CONFIGURATION.md')
    expect(error.message).not.toContain(PASSWORD)
  })

  it('has at least 15 distinct bad configurations', () => {
    expect(cases.length).toBeGreaterThanOrEqual(15)
  })
})

describe('unknown source variables', () => {
  it('suggests DB01_PASS for DB01_PASSWORD, without showing its value', () => {
    const error = expectProblems({ ...MYSQL, DB01_PASSWORD: 'hunter2-secret' }, [
      { variable: 'DB01_PASSWORD', value: '…', expected: 'did you mean DB01_PASS?' },
    ])
    expect(error.message).not.toContain('hunter2-secret')
  })

  it.each([
    ['DB01_DATABASE', 'did you mean DB01_NAME?'],
    ['DB01_USERNAME', 'did you mean DB01_USER?'],
    ['DB01_HOSTNAME', 'did you mean DB01_HOST?'],
    ['DB01_OPTIONS', 'did you mean DB01_EXTRA_OPTS?'],
    ['DB01_PASSWORD_FILE', 'did you mean DB01_PASS_FILE?'],
  ])('suggests the known name for %s', (variable, suggestion) => {
    expectProblems({ ...MYSQL, [variable]: 'x' }, [{ variable, value: '…', expected: suggestion }])
  })

  it('lists the known names when it has no suggestion', () => {
    expectProblems({ ...MYSQL, DB01_COLOUR: 'blue' }, [
      { variable: 'DB01_COLOUR', value: '…', expected: 'TYPE, HOST, PORT, NAME, USER, PASS, PATH, LABEL, EXTRA_OPTS' },
    ])
  })

  it('refuses a _FILE form of a variable that is no secret, which would be ignored', () => {
    expectProblems({ ...MYSQL, DB01_USER_FILE: '/run/secrets/user' }, [
      { variable: 'DB01_USER_FILE', value: '…', expected: 'a known source variable' },
    ])
  })

  it('refuses a one-digit source number instead of skipping it', () => {
    expectProblems({ ...MYSQL, DB2_TYPE: 'sqlite', DB2_PATH: '/data/x.db' }, [
      { variable: 'DB2_TYPE', value: '…', expected: 'did you mean DB02_TYPE?' },
      { variable: 'DB2_PATH', value: '…', expected: 'did you mean DB02_PATH?' },
    ])
  })
})

describe('duplicate labels', () => {
  it('refuses two sources on the same host, which would share a directory', () => {
    expectProblems({ ...MYSQL, DB02_TYPE: 'mysql', DB02_HOST: 'db', DB02_NAME: 'shop' }, [
      { variable: 'DB02_LABEL', value: 'db', expected: "a label different from DB01's" },
    ])
  })

  it('refuses two SQLite files with the same base name', () => {
    expectProblems({ DB01_TYPE: 'sqlite', DB01_PATH: '/a/app.db', DB02_TYPE: 'sqlite', DB02_PATH: '/b/app.sqlite' }, [
      { variable: 'DB02_LABEL', value: 'app', expected: "a label different from DB01's" },
    ])
  })

  it("refuses an explicit label equal to another source's derived one", () => {
    expectProblems({ ...MYSQL, DB02_TYPE: 'sqlite', DB02_PATH: '/data/x.db', DB02_LABEL: 'db' }, [
      { variable: 'DB02_LABEL', value: 'db', expected: "a label different from DB01's" },
    ])
  })
})

describe('forbidden EXTRA_OPTS', () => {
  it.each([
    ['--compact', '--compact', 'removes the "-- Dump completed" marker'],
    ['--skip-comments', '--skip-comments', 'removes the "-- Dump completed" marker'],
    ['--result-file=/tmp/x.sql', '--result-file=…', 'reads the dump from standard output'],
    ['-r /tmp/x.sql', '-r', 'reads the dump from standard output'],
    ['--tab=/tmp', '--tab=…', 'reads the dump from standard output'],
    ['--xml', '--xml', 'reads the dump from standard output'],
    ['--defaults-extra-file=/root/.my.cnf', '--defaults-extra-file=…', 'its own defaults file'],
  ])('MySQL refuses %s', (opts, shown, reason) => {
    const name = shown.replace(/=…$/, '')
    expectProblems({ ...MYSQL, DB01_EXTRA_OPTS: `--no-tablespaces ${opts}` }, [
      { variable: 'DB01_EXTRA_OPTS', value: shown, expected: `no ${name}: ` },
    ]).problems.forEach((p) => expect(p.expected).toContain(reason))
  })

  it.each([
    ['--file=/tmp/x.sql', '--file=…', 'reads the dump from standard output'],
    ['-f /tmp/x', '-f', 'reads the dump from standard output'],
    ['--format=custom', '--format=…', 'use DBnn_PG_FORMAT'],
    ['-Fc', '-F…', 'use DBnn_PG_FORMAT'],
    ['--dbname=other', '--dbname=…', 'use DBnn_NAME'],
  ])('PostgreSQL refuses %s', (opts, shown, reason) => {
    const error = expectProblems({ ...POSTGRES, DB01_EXTRA_OPTS: opts }, [
      { variable: 'DB01_EXTRA_OPTS', value: shown, expected: reason },
    ])
    expect(error.problems).toHaveLength(1)
  })

  it.each([
    ['--password=s3cr3t-in-argv', '--password=…'],
    ['--pass=s3cr3t-in-argv', '--pass=…'],
    ['--loose-password=s3cr3t-in-argv', '--loose-password=…'],
    ['-ps3cr3t-in-argv', '-p…'],
  ])('refuses a password in argv (%s) without repeating it', (opts, shown) => {
    const error = expectProblems({ ...MYSQL, DB01_EXTRA_OPTS: `--single-transaction ${opts}` }, [
      { variable: 'DB01_EXTRA_OPTS', value: shown, expected: 'a password in argv is visible in `ps`' },
    ])
    expect(error.message).not.toContain('s3cr3t-in-argv')
  })

  it('does not repeat a password option when the whole text is shown', () => {
    const error = expectProblems({ ...MYSQL, DB01_EXTRA_OPTS: '-ps3cr3t-in-argv "--where=1' }, [
      { variable: 'DB01_EXTRA_OPTS', value: '…', expected: 'unclosed " quote' },
    ])
    expect(error.message).not.toContain('s3cr3t-in-argv')
  })

  it('lists every forbidden option, not only the first', () => {
    expectProblems({ ...MYSQL, DB01_EXTRA_OPTS: '--compact --xml --password=x' }, [
      { variable: 'DB01_EXTRA_OPTS', value: '--compact', expected: 'no --compact' },
      { variable: 'DB01_EXTRA_OPTS', value: '--xml', expected: 'no --xml' },
      { variable: 'DB01_EXTRA_OPTS', value: '--password=…', expected: 'no --password' },
    ])
  })

  it('leaves harmless options that merely look alike alone', () => {
    // --port/-P, --protocol, --routines are not --password/-p or --result-file/-r.
    const config = parse({ ...MYSQL, DB01_EXTRA_OPTS: '-P 3307 --protocol=tcp --routines --parallel' })
    expect(config.sources[0]!.extraOpts).toEqual(['-P', '3307', '--protocol=tcp', '--routines', '--parallel'])
  })
})
