/**
 * Issue 10, hostile input, through the real CLI:
 *  - configurations: dozens of bad values, many of them shell or path injections (`$(…)`,
 *    backticks, `;`, `../`, options smuggled into EXTRA_OPTS). Each: exit 2, a problem line naming
 *    the variable, no password in the output, nothing created or touched in BACKUP_DIR, no shell ran.
 *  - names: real MariaDB databases and live SQLite files whose names hold `../`, spaces, quotes,
 *    `;`, `$()`, backticks, a leading dash and non-ASCII, and labels with such characters. Each is
 *    backed up, verified and restored (round trip, rows compared) or refused clearly; every file
 *    created is under BACKUP_DIR, and no process the runs started was a shell.
 *  - passwords: a MariaDB user and a PostgreSQL role whose passwords hold every printable special
 *    character, quotes and backslashes, non-ASCII and leading/trailing spaces: backup, verify and
 *    restore work (a wrong password is refused, so the password really is checked); the
 *    passwords appear in no output, file or process command line.
 */
import { existsSync } from 'node:fs'
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import { runCli, type CliResult } from '../support/cli.js'
import { pgAdmin, uniqueName } from '../support/servers.js'
import { rootQuery } from '../backup/mysql-support.js'
import { makeSqliteDb } from '../support/sqlite.js'
import { trial } from '../support/faults/trials.js'
import { Evidence } from '../support/faults/secrets-sampler.js'
import { filesUnder } from '../support/files.js'
import { treeState } from '../support/faults/volume-files.js'
import type { BackupJson } from '../../src/cli/commands/backup.js'
import type { ListedBackup } from '../../src/cli/commands/list.js'
import type { VerifyJson } from '../../src/cli/commands/verify.js'

let dir: string
/** Where a shell, if one ever ran a value, would create its marker files (the runs' working directory). */
let cwd: string
const evidence = new Evidence()
const PW = `cfg-Pw "x" $y #z ${Math.random().toString(36).slice(2, 8)}`

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'dbk-faults-hostile-'))
  cwd = join(dir, 'cwd')
  await mkdir(cwd)
  evidence.startSampling(100)
})

afterAll(async () => {
  evidence.stopSampling()
  if (dir) await rm(dir, { recursive: true, force: true })
})

async function cli(args: string[], env: Record<string, string>): Promise<CliResult> {
  const r = await runCli(args, env, { cwd, timeoutMs: 180_000 })
  evidence.add(`dbkeeper ${args.join(' ')}`, r.all)
  return r
}

/** Marker files a shell would have created (`touch pwned…` in the values below). */
async function pwned(): Promise<string[]> {
  return (await readdir(cwd))
    .filter((f) => f.startsWith('pwned'))
    .concat(existsSync('/tmp/pwned-dbk') ? ['/tmp/pwned-dbk'] : [])
}

// ---------------------------------------------------------------- configurations

const MYSQL = {
  DB01_TYPE: 'mysql',
  DB01_HOST: '127.0.0.1',
  DB01_PORT: '1',
  DB01_NAME: 'app',
  DB01_USER: 'backup',
  DB01_PASS: PW,
}
const PG = { DB01_TYPE: 'postgres', DB01_HOST: '127.0.0.1', DB01_PORT: '1', DB01_NAME: 'app', DB01_PASS: PW }
const SQLITE = { DB01_TYPE: 'sqlite', DB01_PATH: '/nonexistent/app.db' }
const S3 = {
  ...SQLITE,
  S3_BUCKET: 'backups',
  S3_ENDPOINT: 'http://127.0.0.1:1',
  AWS_ACCESS_KEY_ID: 'AKIAHOSTILE0000',
  AWS_SECRET_ACCESS_KEY: PW,
}
const SH = '$(touch pwned-sh)'
const BT = '`touch pwned-bt`'

/** name, environment, the variable every problem line must name (each at least once). */
const badConfigs: [string, Record<string, string>, string[]][] = [
  ['label ../etc', { ...SQLITE, DB01_LABEL: '../etc' }, ['DB01_LABEL']],
  ['label ..', { ...SQLITE, DB01_LABEL: '..' }, ['DB01_LABEL']],
  ['label a/../../b', { ...SQLITE, DB01_LABEL: 'a/../../b' }, ['DB01_LABEL']],
  ['label with $()', { ...SQLITE, DB01_LABEL: SH }, ['DB01_LABEL']],
  ['label with backticks', { ...SQLITE, DB01_LABEL: BT }, ['DB01_LABEL']],
  ['label with a space', { ...SQLITE, DB01_LABEL: 'prod db' }, ['DB01_LABEL']],
  ['label with quotes', { ...SQLITE, DB01_LABEL: `it's "x"` }, ['DB01_LABEL']],
  ['label with ;', { ...SQLITE, DB01_LABEL: 'a;touch pwned-semi' }, ['DB01_LABEL']],
  ['label non-ASCII', { ...SQLITE, DB01_LABEL: 'bäckup-日本' }, ['DB01_LABEL']],
  ['label starting with a dot', { ...SQLITE, DB01_LABEL: '.hidden' }, ['DB01_LABEL']],
  ['label of 65 characters', { ...SQLITE, DB01_LABEL: 'a'.repeat(65) }, ['DB01_LABEL']],
  ['database ../../etc', { ...MYSQL, DB01_NAME: '../../etc' }, ['DB01_NAME']],
  ['database ..', { ...MYSQL, DB01_NAME: '..' }, ['DB01_NAME']],
  ['database list with ../x', { ...MYSQL, DB01_NAME: 'app,../x' }, ['DB01_NAME']],
  ['relative SQLite path ../app.db', { DB01_TYPE: 'sqlite', DB01_PATH: '../app.db' }, ['DB01_PATH']],
  ['SQLite path with $()', { DB01_TYPE: 'sqlite', DB01_PATH: `${SH}.db` }, ['DB01_PATH']],
  ['engine with ;', { ...SQLITE, DB01_TYPE: 'sqlite; touch pwned-type' }, ['DB01_TYPE']],
  ['engine $()', { ...SQLITE, DB01_TYPE: SH }, ['DB01_TYPE']],
  ['port with ;', { ...MYSQL, DB01_PORT: '3306; touch pwned-port' }, ['DB01_PORT']],
  ['port $()', { ...MYSQL, DB01_PORT: '$(echo 3306)' }, ['DB01_PORT']],
  ['the password pasted into the port', { ...MYSQL, DB01_PORT: PW }, ['DB01_PORT']],
  ['compression in backticks', { ...SQLITE, COMPRESSION: BT }, ['COMPRESSION']],
  ['compression level with &&', { ...SQLITE, COMPRESSION_LEVEL: '6 && touch pwned-lvl' }, ['COMPRESSION_LEVEL']],
  ['log level $()', { ...SQLITE, LOG_LEVEL: SH }, ['LOG_LEVEL']],
  ['TZ as a path', { ...SQLITE, TZ: '../../../etc/passwd' }, ['TZ']],
  ['TZ absolute path', { ...SQLITE, TZ: '/etc/localtime' }, ['TZ']],
  ['KEEP_LAST negative', { ...SQLITE, KEEP_LAST: '-5' }, ['KEEP_LAST']],
  ['KEEP_WITHIN $()', { ...SQLITE, KEEP_WITHIN: SH }, ['KEEP_WITHIN']],
  ['retention days with ;', { ...SQLITE, BACKUP_RETENTION_DAYS: '7;touch pwned-ret' }, ['BACKUP_RETENTION_DAYS']],
  ['mysqldump --result-file', { ...MYSQL, DB01_EXTRA_OPTS: '--result-file=/etc/passwd' }, ['DB01_EXTRA_OPTS']],
  ['mysqldump -r', { ...MYSQL, DB01_EXTRA_OPTS: '-r /tmp/pwned-dbk' }, ['DB01_EXTRA_OPTS']],
  ['mysqldump --defaults-file', { ...MYSQL, DB01_EXTRA_OPTS: '--defaults-file=/etc/shadow' }, ['DB01_EXTRA_OPTS']],
  [
    'mysqldump --password in options',
    { ...MYSQL, DB01_EXTRA_OPTS: `--password=${PW.replace(/[ "]/g, '')}` },
    ['DB01_EXTRA_OPTS'],
  ],
  ['mysqldump --tab', { ...MYSQL, DB01_EXTRA_OPTS: '--tab=/tmp' }, ['DB01_EXTRA_OPTS']],
  ['unclosed quote in options', { ...MYSQL, DB01_EXTRA_OPTS: `--where="id > 1 ${SH}` }, ['DB01_EXTRA_OPTS']],
  ['pg_dump --file', { ...PG, DB01_EXTRA_OPTS: '--file=/etc/passwd' }, ['DB01_EXTRA_OPTS']],
  ['pg_dump -f', { ...PG, DB01_EXTRA_OPTS: '-f /tmp/pwned-dbk' }, ['DB01_EXTRA_OPTS']],
  ['pg_dump --dbname URL', { ...PG, DB01_EXTRA_OPTS: '--dbname=postgresql://evil@127.0.0.1/x' }, ['DB01_EXTRA_OPTS']],
  ['options on SQLite', { ...SQLITE, DB01_EXTRA_OPTS: `--cmd ${SH}` }, ['DB01_EXTRA_OPTS']],
  ['S3 bucket as a URL with ..', { ...S3, S3_BUCKET: 's3://backups/../x' }, ['S3_BUCKET']],
  ['S3 prefix ../escape', { ...S3, S3_PREFIX: '../escape' }, ['S3_PREFIX']],
  ['S3 prefix with . part', { ...S3, S3_PREFIX: 'a/./b' }, ['S3_PREFIX']],
  [
    'S3 endpoint with credentials',
    { ...S3, S3_ENDPOINT: `http://key:${encodeURIComponent(PW)}@127.0.0.1:9000` },
    ['S3_ENDPOINT'],
  ],
  ['S3 endpoint file://', { ...S3, S3_ENDPOINT: 'file:///etc/passwd' }, ['S3_ENDPOINT']],
  ['S3 settings without a bucket', { ...SQLITE, S3_PREFIX: 'x', AWS_SECRET_ACCESS_KEY: PW }, ['S3_BUCKET']],
  ['webhook file://', { ...SQLITE, WEBHOOK_URL: 'file:///etc/passwd' }, ['WEBHOOK_URL']],
  ['webhook javascript:', { ...SQLITE, WEBHOOK_URL: 'javascript:alert(1)' }, ['WEBHOOK_URL']],
  [
    'SMTP port with ;',
    { ...SQLITE, SMTP_HOST: '127.0.0.1', MAIL_TO: 'ops@example.com', SMTP_PORT: '25;touch pwned-smtp' },
    ['SMTP_PORT'],
  ],
  ['MAIL_TO with $()', { ...SQLITE, SMTP_HOST: '127.0.0.1', MAIL_TO: `ops@example.com,${SH}` }, ['MAIL_TO']],
  ['schedule $()', { ...SQLITE, SCHEDULE: SH }, ['SCHEDULE']],
  ['health port -1', { ...SQLITE, HEALTH_PORT: '-1' }, ['HEALTH_PORT']],
  ['NOTIFY_ON unknown', { ...SQLITE, WEBHOOK_URL: 'http://127.0.0.1:1/x', NOTIFY_ON: 'sometimes' }, ['NOTIFY_ON']],
  ['password file is a directory', { ...MYSQL, DB01_PASS: '', DB01_PASS_FILE: '/tmp' }, ['DB01_PASS_FILE']],
  ['both DB01_PASS and DB01_PASS_FILE', { ...MYSQL, DB01_PASS_FILE: '/nonexistent/pass' }, ['DB01_PASS']],
  ['DB1_TYPE instead of DB01_TYPE', { ...SQLITE, DB1_TYPE: 'mysql' }, ['DB1_TYPE']],
  ['DB01_USER_FILE', { ...MYSQL, DB01_USER_FILE: '/etc/passwd' }, ['DB01_USER_FILE']],
]

describe('hostile configurations', () => {
  it('has at least 30 cases', () => {
    expect(badConfigs.length).toBeGreaterThanOrEqual(30)
  })

  describe.concurrent('each: exit 2 naming the variable, nothing touched', () => {
    it.each(badConfigs.map((c, i) => [i, ...c] as const))(
      '#%i %s',
      async (i, name, env, variables) => {
        await trial('hostile configuration', name, async () => {
          // Half the cases with an existing volume (it must stay exactly as it was), half without (it must not appear).
          const backupDir = join(dir, `cfg-${i}`)
          if (i % 2 === 0) {
            await mkdir(join(backupDir, 'app', 'app'), { recursive: true })
            await writeFile(join(backupDir, 'app', 'app', 'note.txt'), 'existing')
          }
          const before = await treeState(backupDir)
          const r = await cli(['backup'], { ...env, DB01_PASS: env.DB01_PASS ?? '', BACKUP_DIR: backupDir })
          expect(r.exitCode, r.all).toBe(2)
          const lines = r.stderr.split('\n').filter((l) => l.startsWith('  - '))
          const named = lines.map((l) => /^ {2}- ([A-Z0-9_]+):/.exec(l)?.[1])
          for (const v of variables) expect(named, r.stderr).toContain(v)
          expect(r.stderr).toMatch(/invalid configuration/)
          expect(r.all).not.toContain(PW)
          if (i % 2 === 1) expect(existsSync(backupDir), 'BACKUP_DIR must not be created').toBe(false)
          expect(await pwned()).toEqual([])
          // What was on the volume before and is gone or changed now.
          const after = await treeState(backupDir)
          const changed = Object.keys(before).filter((k) => after[k] !== before[k])
          expect(changed).toEqual([])
          expect(after).toEqual(before)
          return changed.length
        })
      },
      60_000,
    )
  })
})

// ---------------------------------------------------------------- hostile names

/** MariaDB database names. `..` and names with `/` are refused by the configuration (below). */
const MARIA_NAMES = [
  'a b  c',
  `it's "quoted"`,
  'semi;colon; DROP DATABASE mysql',
  '$(touch pwned-db)',
  '`touch pwned-bt`',
  '-x --help',
  'back\\slash',
  'ümlaut-日本語-ß',
  '%2E%2E',
  '.hidden',
]

const q = (name: string) => `\`${name.replace(/`/g, '``')}\``

async function mariaRows(db: string): Promise<string> {
  const rows = await rootQuery<{ id: number; s: string }[]>(`SELECT id, s FROM ${q(db)}.t ORDER BY id`)
  return JSON.stringify(rows)
}

function sqliteRows(path: string): string {
  const db = new Database(path, { readonly: true })
  try {
    return JSON.stringify(db.prepare('SELECT id, name, payload FROM items ORDER BY id').all())
  } finally {
    db.close()
  }
}

/** Processes our runs started that were a shell. */
function shellsStarted(): string[] {
  return evidence.ourCmdlines().filter((c) => /^(\S*\/)?(sh|bash|dash|zsh|ash|busybox)( |$)/.test(c))
}

describe('hostile names', () => {
  let nameDir: string
  let backupDir: string
  let env: Record<string, string>
  const sqliteFiles = [
    `it's a "db"; $(touch pwned-sq) \`touch pwned-sq2\``,
    'ümlaut 日本 données',
    '-rf --help',
    'semi;colon&amp',
  ]
  let sources: string
  const suffix = uniqueName('h')

  beforeAll(async () => {
    nameDir = join(dir, 'names')
    sources = join(nameDir, 'sources')
    backupDir = join(nameDir, 'backups')
    await mkdir(join(sources, 'sub dir'), { recursive: true })
    for (const name of MARIA_NAMES) {
      const db = `${name}${suffix}`
      await rootQuery(`DROP DATABASE IF EXISTS ${q(db)}`)
      await rootQuery(`CREATE DATABASE ${q(db)} CHARACTER SET utf8mb4`)
      await rootQuery(`CREATE TABLE ${q(db)}.t (id INT PRIMARY KEY, s VARCHAR(100)) CHARACTER SET utf8mb4`)
      await rootQuery(`INSERT INTO ${q(db)}.t VALUES (1, ?), (2, 'two ✓'), (3, NULL)`, [name])
      // A table name with a dot too (an identifier, not a qualified name).
      await rootQuery(
        `CREATE TABLE ${q(db)}.\`v1.2 "x"\` (id INT PRIMARY KEY); INSERT INTO ${q(db)}.\`v1.2 "x"\` VALUES (7)`,
      )
    }
    sqliteFiles.forEach((f) => makeSqliteDb(join(sources, 'sub dir', `${f}.db`), 50))
    const info = inject('mariadb')
    env = {
      BACKUP_DIR: backupDir,
      TZ: 'UTC',
      DB01_TYPE: 'mariadb',
      DB01_HOST: info.host,
      DB01_PORT: String(info.port),
      DB01_USER: info.user,
      DB01_LABEL: 'maria',
      DB01_NAME: MARIA_NAMES.map((n) => `${n}${suffix}`).join(','),
    }
    // SQLite: derived labels and names from hostile file names; a `..` in the path; an explicit hostile NAME.
    sqliteFiles.forEach((f, i) => {
      env[`DB1${i}_TYPE`] = 'sqlite'
      // (not join(): it would resolve the `..` away)
      env[`DB1${i}_PATH`] = i === 0 ? `${sources}/sub dir/../sub dir/${f}.db` : join(sources, 'sub dir', `${f}.db`)
      if (i === 3) env[`DB1${i}_NAME`] = 'x; $(touch pwned-n) .. \\ "y"'
      if (i === 2) env[`DB1${i}_LABEL`] = 'dash-file'
    })
  }, 120_000)

  afterAll(async () => {
    for (const name of MARIA_NAMES)
      await rootQuery(`DROP DATABASE IF EXISTS ${q(`${name}${suffix}`)}`).catch(() => undefined)
  })

  it('refuses names and labels that would leave their directory, clearly', async () => {
    for (const [point, extra, variable] of [
      ['database named ..', { DB01_NAME: '..' }, 'DB01_NAME'],
      ['database named ../x', { DB01_NAME: `../x${suffix}` }, 'DB01_NAME'],
      ['label ../../etc', { DB01_LABEL: '../../etc' }, 'DB01_LABEL'],
      ['label with spaces, quotes, ; and $()', { DB01_LABEL: `a "b"; $(touch pwned-label)` }, 'DB01_LABEL'],
      ['label non-ASCII', { DB01_LABEL: 'données' }, 'DB01_LABEL'],
    ] as const) {
      await trial('hostile names', `refused: ${point}`, async () => {
        const r = await cli(['backup'], { ...env, ...extra })
        expect(r.exitCode, r.all).toBe(2)
        expect(r.stderr).toMatch(new RegExp(`^ {2}- ${variable}: expected`, 'm'))
        expect(existsSync(backupDir)).toBe(false)
        return 0
      })
    }
  }, 60_000)

  it('backs up, verifies and restores every hostile database and file name; nothing leaves BACKUP_DIR; no shell', async () => {
    // Everything under the test's directory (the runs' working directory included) before the runs.
    const outside = new Set(await filesUnder(dir))
    const run = await cli(['backup', '--json'], env)
    const json = JSON.parse(run.stdout) as BackupJson
    const listed = JSON.parse((await cli(['list', '--json'], env)).stdout) as ListedBackup[]
    const verify = await cli(['verify', '--json'], env)
    const config = JSON.parse((await cli(['config', '--json'], env)).stdout) as {
      sources: { label: string; path?: string }[]
    }
    const paths = new Map(config.sources.filter((c) => c.path).map((c) => [c.label, c.path!]))
    const verified = JSON.parse(verify.stdout) as VerifyJson[]

    const all = [
      ...MARIA_NAMES.map((n) => ({
        source: 'maria',
        database: `${n}${suffix}`,
        point: `MariaDB database ${JSON.stringify(n)}`,
      })),
      ...json.results
        .filter((r) => r.source !== 'maria')
        .map((r) => ({
          source: r.source,
          database: r.database,
          point: `SQLite file/label/name ${JSON.stringify(`${r.source}/${r.database}`)}`,
        })),
    ]
    expect(all.length).toBe(MARIA_NAMES.length + sqliteFiles.length)
    for (const { source, database, point } of all) {
      await trial('hostile names', point, async () => {
        const result = json.results.find((r) => r.source === source && r.database === database)
        expect(result, `a result for ${source}/${database}:\n${run.all.slice(-3000)}`).toBeDefined()
        // Works, or is refused with a message naming it: here every one must work.
        expect(result!.ok, result!.error?.message).toBe(true)
        const entry = listed.find((b) => b.source === source && b.database === database)
        expect(entry, 'listed').toBeDefined()
        expect(entry!.path.startsWith(`${backupDir}/`)).toBe(true)
        expect(
          verified.find((v) => v.source === source && v.database === database),
          verify.all,
        ).toMatchObject({ ok: true })

        // Round trip: change the data, restore, compare.
        if (source === 'maria') {
          const before = await mariaRows(database)
          await rootQuery(`DELETE FROM ${q(database)}.t WHERE id > 1`)
          await rootQuery(`UPDATE ${q(database)}.t SET s = 'changed'`)
          // An id may start with "-" (a database named "-x"): after "--", as the CLI's own error says.
          const r = await cli(
            ['restore', '--source', 'maria', `--database=${database}`, '--yes', '--no-safety-backup', '--', entry!.id],
            env,
          )
          expect(r.exitCode, r.all).toBe(0)
          expect(await mariaRows(database)).toBe(before)
        } else {
          const file = paths.get(source)!
          const before = sqliteRows(file)
          const db = new Database(file)
          db.exec("DELETE FROM items WHERE id > 10; UPDATE items SET name = 'changed'")
          db.close()
          const r = await cli(['restore', '--source', source, '--yes', '--no-safety-backup', '--', entry!.id], env)
          expect(r.exitCode, r.all).toBe(0)
          expect(sqliteRows(file)).toBe(before)
        }
        return 0
      })
    }

    await trial('hostile names', 'no file outside BACKUP_DIR, no shell, no marker', async () => {
      const created = (await filesUnder(dir)).filter((f) => !outside.has(f))
      // SQLite's own -wal/-shm beside a source are the application's, not ours.
      const stray = created.filter((f) => !f.startsWith('names/backups/') && !/\.db-(wal|shm)$/.test(f))
      expect(stray).toEqual([])
      for (const f of await filesUnder(backupDir)) expect(f.split('/').includes('..')).toBe(false)
      expect(await pwned()).toEqual([])
      // On these tiny databases the tools live ~50 ms, and on a busy machine the 100 ms sampler can
      // miss every one: back the MariaDB source up again under a 10 ms sampler until it has seen
      // them (bounded), so that "no shell was started" is known to have watched the tools run.
      const sawMariaTools = () =>
        evidence.ourCmdlines().some((c) => /^(\S*\/)?(mysqldump|mariadb-dump|mariadb|mysql) /.test(c))
      for (let i = 0; i < 5 && !sawMariaTools(); i++)
        expect((await evidence.sampleDensely(() => cli(['backup', 'maria'], env))).exitCode).toBe(0)
      expect(sawMariaTools(), 'the sampler saw the MariaDB tools').toBe(true)
      expect(shellsStarted()).toEqual([])
      return 0
    })
  }, 180_000)
})

// ---------------------------------------------------------------- hostile passwords

/** Every printable ASCII special character, quotes and backslashes, non-ASCII, spaces at both ends. */
const NASTY = ` !"#$%&'()*+,-./:;<=>?@[\\]^_\`{|}~ \\n \\\\ ' " ümlaut 日本 ${Math.random().toString(36).slice(2, 8)} `
const NASTY_HASH = `#starts-with-hash = "x" ;${Math.random().toString(36).slice(2, 8)}`

describe('hostile passwords', () => {
  const db = uniqueName('hpw')
  const mUser = uniqueName('hpw_m')
  const mUser2 = uniqueName('hpw_h')
  const pRole = uniqueName('hpw_p')
  let pwDir: string

  beforeAll(async () => {
    pwDir = join(dir, 'passwords')
    await mkdir(pwDir)
    await rootQuery(`CREATE DATABASE ${q(db)}`)
    await rootQuery(
      `CREATE TABLE ${q(db)}.t (id INT PRIMARY KEY, s VARCHAR(100)); INSERT INTO ${q(db)}.t VALUES (1, 'one'), (2, 'two')`,
    )
    for (const [user, password] of [
      [mUser, NASTY],
      [mUser2, NASTY_HASH],
    ]) {
      await rootQuery("CREATE USER ?@'%' IDENTIFIED BY ?", [user, password])
      await rootQuery(`GRANT ALL PRIVILEGES ON ${q(db)}.* TO ?@'%'`, [user])
      // An in-place restore loads beside the database (docs/RESTORE.md, Privileges).
      await rootQuery(`GRANT ALL PRIVILEGES ON ${q(`${db.replace(/_/g, '\\_')}\\_dbk%`)}.* TO ?@'%'`, [user])
      await rootQuery("GRANT SELECT ON mysql.proc TO ?@'%'", [user])
    }
    const pg = await pgAdmin(inject('postgres'))
    try {
      await pg.query(`CREATE ROLE ${pRole} LOGIN CREATEDB PASSWORD '${NASTY.replace(/'/g, "''")}'`)
      await pg.query(`CREATE DATABASE ${pRole} OWNER ${pRole}`)
    } finally {
      await pg.end()
    }
    const own = await pgAdmin(inject('postgres'), pRole)
    try {
      // ~6 MB of rows: pg_dump and psql live long enough for the /proc sampler to see them.
      await own.query(`SET ROLE ${pRole}; CREATE TABLE t (id INT PRIMARY KEY, s TEXT); INSERT INTO t VALUES (1, 'one'), (2, 'zwei ✓');
        INSERT INTO t SELECT g, repeat(md5(g::text), 3) FROM generate_series(3, 60000) g`)
    } finally {
      await own.end()
    }
  }, 120_000)

  afterAll(async () => {
    await rootQuery(`DROP DATABASE IF EXISTS ${q(db)}`).catch(() => undefined)
    for (const u of [mUser, mUser2]) await rootQuery("DROP USER IF EXISTS ?@'%'", [u]).catch(() => undefined)
    const pg = await pgAdmin(inject('postgres'))
    try {
      await pg.query(`DROP DATABASE IF EXISTS ${pRole} WITH (FORCE)`)
      await pg.query(`DROP ROLE IF EXISTS ${pRole}`)
    } catch {
      // best effort
    } finally {
      await pg.end()
    }
  })

  async function roundTrip(
    env: Record<string, string>,
    label: string,
    rows: () => Promise<string>,
    damage: () => Promise<void>,
  ): Promise<void> {
    const r = await cli(['backup', '--json'], env)
    expect(r.exitCode, r.all).toBe(0)
    const id = (JSON.parse(r.stdout) as BackupJson).results[0]!.id!
    const v = await cli(['verify', id, '--source', label], env)
    expect(v.exitCode, v.all).toBe(0)
    const before = await rows()
    await damage()
    expect(await rows()).not.toBe(before)
    const restore = await cli(['restore', id, '--source', label, '--yes'], env)
    expect(restore.exitCode, restore.all).toBe(0)
    expect(await rows()).toBe(before)
  }

  const maria = (user: string, extra: Record<string, string>) => {
    const info = inject('mariadb')
    return {
      BACKUP_DIR: join(pwDir, 'backups'),
      TZ: 'UTC',
      DB01_TYPE: 'mariadb',
      DB01_HOST: info.host,
      DB01_PORT: String(info.port),
      DB01_USER: user,
      DB01_NAME: db,
      DB01_LABEL: 'maria',
      ...extra,
    }
  }
  const mariaRowsOf = async () => JSON.stringify(await rootQuery(`SELECT * FROM ${q(db)}.t ORDER BY id`))
  const mariaDamage = async () => {
    await rootQuery(`DELETE FROM ${q(db)}.t WHERE id = 2`)
  }

  it('MariaDB user with every special character, from DB01_PASS', async () => {
    await trial(
      'hostile passwords',
      'MariaDB, DB01_PASS: every printable special character, non-ASCII, spaces at both ends',
      async () => {
        await roundTrip(maria(mUser, { DB01_PASS: NASTY }), 'maria', mariaRowsOf, mariaDamage)
        return 0
      },
    )
  }, 120_000)

  it('MariaDB user with a password that starts with # (an option file comment), from DB01_PASS_FILE', async () => {
    await trial('hostile passwords', 'MariaDB, DB01_PASS_FILE: starts with #, = and quotes', async () => {
      const file = join(pwDir, 'maria_pass')
      await writeFile(file, `${NASTY_HASH}\n`, { mode: 0o600 })
      await roundTrip(maria(mUser2, { DB01_PASS_FILE: file }), 'maria', mariaRowsOf, mariaDamage)
      return 0
    })
  }, 120_000)

  it('PostgreSQL role with every special character', async () => {
    await trial(
      'hostile passwords',
      'PostgreSQL, DB01_PASS: every printable special character, non-ASCII, spaces at both ends',
      async () => {
        const info = inject('postgres')
        const env = {
          BACKUP_DIR: join(pwDir, 'backups'),
          TZ: 'UTC',
          DB01_TYPE: 'postgres',
          DB01_HOST: info.host,
          DB01_PORT: String(info.port),
          DB01_USER: pRole,
          DB01_PASS: NASTY,
          DB01_NAME: pRole,
          DB01_LABEL: 'pg',
        }
        const rows = async () => {
          const c = await pgAdmin(inject('postgres'), pRole)
          try {
            return JSON.stringify((await c.query('SELECT * FROM t ORDER BY id')).rows)
          } finally {
            await c.end()
          }
        }
        await roundTrip(env, 'pg', rows, async () => {
          const c = await pgAdmin(inject('postgres'), pRole)
          try {
            await c.query('DELETE FROM t WHERE id = 2')
          } finally {
            await c.end()
          }
        })
        return 0
      },
    )
  }, 120_000)

  it('a wrong password is refused (the password really is checked), without echoing it', async () => {
    await trial('hostile passwords', 'wrong password refused: MariaDB and PostgreSQL', async () => {
      const info = inject('postgres')
      const wrong = `${NASTY.trim()}-wrong`
      const m = await cli(['backup', '--json'], {
        ...maria(mUser, { DB01_PASS: wrong }),
        BACKUP_DIR: join(pwDir, 'wrong'),
      })
      expect(m.exitCode, m.all).toBe(1)
      expect(m.all).toMatch(/AUTH/)
      const p = await cli(['backup', '--json'], {
        BACKUP_DIR: join(pwDir, 'wrong'),
        DB01_TYPE: 'postgres',
        DB01_HOST: info.host,
        DB01_PORT: String(info.port),
        DB01_USER: pRole,
        DB01_PASS: wrong,
        DB01_NAME: pRole,
        DB01_LABEL: 'pg',
      })
      expect(p.exitCode, p.all).toBe(1)
      expect(p.all).toMatch(/AUTH/)
      for (const r of [m, p]) expect(r.all).not.toContain(wrong)
      return 0
    })
  }, 120_000)

  it("leaks no password: outputs, volume, /proc command lines and the tools' environment", async () => {
    await trial('secret leak check', 'hostile-input runs: outputs, volume, /proc', async () => {
      evidence.stopSampling()
      for (const args of [['status', '--json'], ['config', '--json'], ['config']]) {
        evidence.add(args.join(' '), (await runCli(args, { ...maria(mUser, { DB01_PASS: NASTY }) })).all)
      }
      await evidence.addFiles(join(pwDir, 'backups'))
      expect(evidence.samples).toBeGreaterThan(10)
      expect(
        evidence.ourCmdlines().some((c) => /^(\S*\/)?(pg_dump|psql|pg_restore) /.test(c)),
        'the sampler saw the PostgreSQL tools',
      ).toBe(true)
      expect(evidence.leaks([NASTY, NASTY.trim(), NASTY_HASH, PW])).toEqual([])
      return 0
    })
  }, 60_000)
})
