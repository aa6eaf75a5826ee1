/**
 * The incident scripts (bash and plain tools only) restore what dbkeeper backed up, against the
 * private servers: MySQL (into a new database, replacing one with a safety dump, refusing a damaged
 * file, stopping at a failing statement), PostgreSQL (plain and custom; the database's encoding and
 * locale kept), SQLite (a stale -wal).
 */
import {
  copyFile,
  link,
  lstat,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  rm,
  stat,
  statfs,
  symlink,
  writeFile,
} from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { basename, dirname, join } from 'node:path'
import Database from 'better-sqlite3'
import { execa } from 'execa'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  NASTY_PASSWORD,
  checksums,
  dropDatabases,
  makeRichDatabase,
  mariadb,
  mysqlEnv,
  rootQuery,
} from '../backup/mysql-support.js'
import { comparableDump, largeObjects, localeOf, pgCliEnv, server, sql } from '../engines/postgres/helpers.js'
import { ROOT } from '../support/cli.js'
import { uniqueName } from '../support/servers.js'
import { makeSqliteDb } from '../support/sqlite.js'
import { backupNow, flipByte, insertLine, makeAdminUser, writeResignedBackup } from './support.js'

const SCRIPTS = ['restore-mysql.sh', 'restore-postgres.sh', 'restore-sqlite.sh'].map((s) => join(ROOT, 'scripts', s))
const run = (script: string, args: string[], env: Record<string, string> = {}) =>
  execa('bash', [join(ROOT, 'scripts', script), ...args], {
    env: { PATH: process.env.PATH ?? '', ...env },
    extendEnv: false,
    reject: false,
    stdin: 'ignore',
    timeout: 180_000,
  })

/** A copy of `file` in its own folder with a correct .sha256, then one byte flipped: what sha256sum -c must catch. */
async function damagedCopy(file: string, folder: string): Promise<string> {
  const name = basename(file)
  const damaged = join(dirname(file), '..', folder, name)
  await mkdir(dirname(damaged), { recursive: true })
  await copyFile(file, damaged)
  await writeFile(`${damaged}.sha256`, `${(await execa('sha256sum', [damaged])).stdout.split(' ')[0]}  ${name}\n`)
  await flipByte(damaged)
  return damaged
}

describe('incident scripts', () => {
  let work: string
  /** restore-postgres.sh's connection options for the test server, its safety dumps into `work`, confirmed. */
  const pgScriptConn = () => {
    const info = server()
    return ['--host', info.host, '--port', String(info.port), '--user', info.user, '--safety-dir', work, '--yes']
  }
  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'dbk-scripts-'))
  })
  afterAll(async () => {
    await rm(work, { recursive: true, force: true })
  })

  it('are shellcheck-clean and explain themselves with --help', async () => {
    const check = await execa('shellcheck', SCRIPTS, { reject: false })
    expect(check.exitCode, check.stdout).toBe(0)
    for (const script of SCRIPTS) {
      const help = await execa('bash', [script, '--help'])
      expect(help.stdout).toMatch(/^Usage: restore-\w+\.sh/)
      expect((await execa('bash', [script], { reject: false })).exitCode).toBe(2)
    }
  })

  it('restore-mysql.sh: new database, replace with a safety dump, damaged file, failing statement', async () => {
    const { db } = await makeRichDatabase(5000)
    const admin = await makeAdminUser()
    const { env, dir } = await mysqlEnv(db, admin)
    const file = (await backupNow(env))[0]!.path!
    const original = await checksums(db)
    const info = mariadb()
    const passFile = join(work, 'pw')
    await writeFile(passFile, NASTY_PASSWORD, { mode: 0o600 })
    const conn = [
      '--host',
      info.host,
      '--port',
      String(info.port),
      '--user',
      admin,
      '--password-file',
      passFile,
      '--safety-dir',
      work,
    ]
    const copy = uniqueName('script_copy')

    const fresh = await run('restore-mysql.sh', [...conn, '--database', copy, '--yes', file])
    expect(fresh.exitCode, fresh.stderr).toBe(0)
    expect(fresh.stdout).toContain('checksum ok')
    expect(fresh.stdout).toMatch(/big\s+5000 rows/)
    expect(`${fresh.stdout}${fresh.stderr}`).not.toContain(NASTY_PASSWORD)
    expect(await checksums(copy)).toEqual(original)

    await rootQuery(`DELETE FROM \`${db}\`.big WHERE id < 100`)
    const changed = await checksums(db)
    const replace = await run('restore-mysql.sh', [...conn, '--yes', file])
    expect(replace.exitCode, replace.stderr).toBe(0)
    expect(await checksums(db)).toEqual(original)
    const safetyFile = /safety dump of the current \S+ to (\S+)/.exec(replace.stdout)![1]!
    const undo = await run('restore-mysql.sh', [
      ...conn,
      '--database',
      db,
      '--skip-checksum',
      '--no-safety-dump',
      '--yes',
      safetyFile,
    ])
    expect(undo.exitCode, undo.stderr).toBe(0)
    expect(await checksums(db)).toEqual(changed)

    const damaged = join(work, 'damaged', 'x_20260101T000000Z.sql.gz')
    await mkdir(join(work, 'damaged'))
    await copyFile(file, damaged)
    await writeFile(
      `${damaged}.sha256`,
      `${(await execa('sha256sum', [damaged])).stdout.split(' ')[0]}  x_20260101T000000Z.sql.gz\n`,
    )
    await flipByte(damaged)
    const refused = await run('restore-mysql.sh', [...conn, '--database', db, '--yes', damaged])
    expect(refused.exitCode).toBe(1)
    expect(refused.stderr).toContain('does not match')
    expect(await checksums(db)).toEqual(changed)

    let line = 0
    const bad = await writeResignedBackup(
      file,
      (raw) => {
        const t = insertLine(raw, /^-- Table structure for table `texts`/, 'INSERT INTO no_such_table VALUES (1);')
        line = t.line
        return t.content
      },
      9,
    )
    const copyBefore = await checksums(copy)
    const failing = await run('restore-mysql.sh', [...conn, '--database', copy, '--yes', bad.path])
    expect(failing.exitCode).toBe(1)
    expect(failing.stderr).toContain(`ERROR 1146 (42S02) at line ${line}`)
    expect(failing.stderr).toMatch(
      /the backup does not load .*: \S+ was not changed, \S+_dbkrestore_[0-9a-f]{8} was dropped again/,
    )
    expect(await checksums(copy)).toEqual(copyBefore)

    // The manifest says the longest statement needs more than the server's max_allowed_packet: stopped before anything.
    const big = await writeResignedBackup(file, (raw) => raw, 10, { restoreNeeds: { longestStatement: 20_000_000 } })
    const packet = await run('restore-mysql.sh', [...conn, '--database', copy, '--yes', big.path])
    expect(packet.exitCode).toBe(1)
    expect(packet.stderr).toContain(
      'SET GLOBAL max_allowed_packet = 20001792; (and max_allowed_packet = 20001792 under [mysqld] in my.cnf',
    )
    expect(packet.stderr).toContain('nothing was changed')
    expect(await checksums(copy)).toEqual(copyBefore)

    const asks = await run('restore-mysql.sh', [...conn, '--database', copy, file])
    expect(asks.exitCode).toBe(2)
    expect(asks.stderr).toContain('add --yes')
    await dropDatabases(db, copy)
    await rm(dir, { recursive: true, force: true })
  })

  it('restore-mysql.sh: ALTER DATABASE lines act on the database loaded; a DEFAULT NEXTVAL(seq) table loads (zstd)', async () => {
    const collationOf = async (name: string) =>
      (
        await rootQuery<{ c: string }[]>(
          'SELECT DEFAULT_COLLATION_NAME AS c FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?',
          [name],
        )
      )[0]?.c
    const routineCollation = async (name: string) =>
      (
        await rootQuery<{ c: string }[]>(
          "SELECT DATABASE_COLLATION AS c FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = ? AND ROUTINE_NAME = 'p'",
          [name],
        )
      )[0]?.c
    const admin = await makeAdminUser()
    const info = mariadb()
    const passFile = join(work, 'pw-lines')
    await writeFile(passFile, NASTY_PASSWORD, { mode: 0o600 })
    const conn = (user: string) => [
      ...['--host', info.host, '--port', String(info.port), '--user', user, '--password-file', passFile],
      ...['--safety-dir', work],
    ]
    const zstdBackup = async (db: string) => {
      const { env, dir } = await mysqlEnv(db, admin)
      const file = (await backupNow({ ...env, COMPRESSION: 'zstd' }))[0]!.path!
      expect(file).toMatch(/\.sql\.zst$/)
      return { file, dir }
    }

    // A table whose DEFAULT reads a sequence: its INSERT fails under `LOCK TABLES orders WRITE` (ERROR 1100).
    const seq = uniqueName('script_seq')
    await rootQuery(`CREATE DATABASE \`${seq}\``)
    await rootQuery(
      `CREATE SEQUENCE s; CREATE TABLE orders (id INT PRIMARY KEY DEFAULT NEXTVAL(s), note VARCHAR(20));
       INSERT INTO orders (note) VALUES ('a'), ('b')`,
      [],
      seq,
    )
    const seqBackup = await zstdBackup(seq)
    const seqOriginal = await checksums(seq)
    const seqCopy = uniqueName('script_seq_copy')
    const seqFresh = await run('restore-mysql.sh', [...conn(admin), '--database', seqCopy, '--yes', seqBackup.file])
    expect(seqFresh.exitCode, seqFresh.stderr).toBe(0)
    expect(await checksums(seqCopy)).toEqual(seqOriginal)
    await rootQuery(`DELETE FROM \`${seq}\`.orders WHERE note = 'b'`)
    const seqReplace = await run('restore-mysql.sh', [...conn(admin), '--yes', seqBackup.file])
    expect(seqReplace.exitCode, seqReplace.stderr).toBe(0)
    expect(await checksums(seq)).toEqual(seqOriginal)

    // A procedure created while the database was latin1: mysqldump frames it with ALTER DATABASE lines.
    const db = uniqueName('script_coll')
    await rootQuery(`CREATE DATABASE \`${db}\` CHARACTER SET latin1`)
    await rootQuery(
      `CREATE TABLE t (id INT PRIMARY KEY); INSERT INTO t VALUES (1), (2);
       CREATE DEFINER = root@localhost PROCEDURE p() SELECT COUNT(*) FROM t;
       ALTER DATABASE \`${db}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`,
      [],
      db,
    )
    const collBackup = await zstdBackup(db)
    const original = await checksums(db)

    // The trial load fails after the first ALTER DATABASE line (a user without SET USER may not
    // create DEFINER=root): the live database keeps its defaults.
    const limited = uniqueName('script_nodef')
    await rootQuery("CREATE USER ?@'%' IDENTIFIED BY ?", [limited, NASTY_PASSWORD])
    await rootQuery(`GRANT ALL PRIVILEGES ON \`${db}\`.* TO ?@'%'`, [limited])
    await rootQuery(`GRANT ALL PRIVILEGES ON \`${db.replace(/_/g, '\\_')}\\_dbk%\`.* TO ?@'%'`, [limited])
    const refused = await run('restore-mysql.sh', [...conn(limited), '--no-safety-dump', '--yes', collBackup.file])
    expect(refused.exitCode).toBe(1)
    expect(refused.stderr).toContain('ERROR 1227')
    expect(refused.stderr).toMatch(/the backup does not load .*: \S+ was not changed/)
    expect(await collationOf(db)).toBe('utf8mb4_unicode_ci')
    expect(await checksums(db)).toEqual(original)

    // Replaced in place, through the trial load beside it: the routine keeps its collation.
    const replace = await run('restore-mysql.sh', [...conn(admin), '--yes', collBackup.file])
    expect(replace.exitCode, replace.stderr).toBe(0)
    expect(await collationOf(db)).toBe('utf8mb4_unicode_ci')
    expect(await routineCollation(db)).toBe('latin1_swedish_ci')

    // Into a new name while the original is not on the server.
    await dropDatabases(db)
    const copy = uniqueName('script_coll_copy')
    const fresh = await run('restore-mysql.sh', [...conn(admin), '--database', copy, '--yes', collBackup.file])
    expect(fresh.exitCode, fresh.stderr).toBe(0)
    expect(await collationOf(db)).toBeUndefined()
    expect(await checksums(copy)).toEqual(original)
    expect(await routineCollation(copy)).toBe('latin1_swedish_ci')

    await dropDatabases(seq, seqCopy, copy)
    for (const d of [seqBackup.dir, collBackup.dir]) await rm(d, { recursive: true, force: true })
  })

  it('restore-postgres.sh: plain and custom, new and replaced (swapped in)', async () => {
    const db = uniqueName('pgscript')
    const copy = uniqueName('pgscript_copy')
    await sql('postgres', `CREATE DATABASE ${db} TEMPLATE template0`)
    await sql(
      db,
      `CREATE SCHEMA s; CREATE TABLE s.t (id int PRIMARY KEY, b bytea, a int[]); INSERT INTO s.t SELECT g, decode(md5(g::text), 'hex'), ARRAY[g] FROM generate_series(1, 2000) g`,
    )
    const original = await comparableDump(db)
    const info = server()
    const env = {
      DB01_TYPE: 'postgres',
      DB01_HOST: info.host,
      DB01_PORT: String(info.port),
      DB01_USER: info.user,
      DB01_NAME: db,
      DB01_LABEL: 'pg',
      BACKUP_DIR: join(work, 'pgb'),
    }
    const plain = (await backupNow(env))[0]!.path!
    const custom = (await backupNow({ ...env, DB01_PG_FORMAT: 'custom' }))[0]!.path!
    const conn = pgScriptConn()

    const fresh = await run('restore-postgres.sh', [...conn, '--database', copy, custom])
    expect(fresh.exitCode, fresh.stderr).toBe(0)
    expect((await comparableDump(copy)).replaceAll(copy, '<db>')).toBe(original.replaceAll(db, '<db>'))

    await sql(db, 'DELETE FROM s.t WHERE id < 10')
    const replace = await run('restore-postgres.sh', [...conn, plain])
    expect(replace.exitCode, replace.stderr).toBe(0)
    expect(replace.stdout).toMatch(/safety dump of the current/)
    expect(replace.stdout).toMatch(/s\.t\s+2000 rows/)
    expect(await comparableDump(db)).toBe(original)

    // A damaged copy is refused before anything is touched; without --yes and a terminal it asks for --yes.
    await sql(db, 'DELETE FROM s.t WHERE id < 5')
    const changed = await comparableDump(db)
    const damaged = await damagedCopy(plain, 'pgdamaged')
    const refused = await run('restore-postgres.sh', [...conn, '--database', db, damaged])
    expect(refused.exitCode).toBe(1)
    expect(refused.stderr).toContain('does not match')
    const asks = await run('restore-postgres.sh', [...conn.filter((a) => a !== '--yes'), '--database', db, plain])
    expect(asks.exitCode).toBe(2)
    expect(asks.stderr).toContain('add --yes')
    expect(await comparableDump(db)).toBe(changed)
    for (const name of [db, copy]) await sql('postgres', `DROP DATABASE IF EXISTS ${name}`)
  })

  it("restore-postgres.sh: keeps the database's encoding and locale, in place with and without the manifest", async () => {
    const db = uniqueName('pgscript_loc')
    await sql('postgres', `CREATE DATABASE ${db} ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0`)
    // Under LC_CTYPE C lower('É') is 'É', so both rows fit the index; under the server's C.UTF-8 they collide.
    await sql(
      db,
      `CREATE TABLE users (name text); INSERT INTO users VALUES ('Émile'), ('émile'); CREATE UNIQUE INDEX ON users (lower(name))`,
    )
    const plain = (await backupNow(pgCliEnv(db, await mkdtemp(join(work, 'pgloc-')))))[0]!.path!
    const conn = pgScriptConn()
    try {
      const replace = await run('restore-postgres.sh', [...conn, plain])
      expect(replace.exitCode, replace.stderr).toBe(0)
      expect(replace.stdout).toContain("the restored database gets ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C'")
      expect(await localeOf(db)).toBe('UTF8 C C')

      // A bare file without its manifest: the replaced database's encoding and locale.
      const bare = join(work, 'pgbare', basename(plain))
      await mkdir(dirname(bare), { recursive: true })
      for (const suffix of ['', '.sha256']) await copyFile(`${plain}${suffix}`, `${bare}${suffix}`)
      const again = await run('restore-postgres.sh', [...conn, '--database', db, bare])
      expect(again.exitCode, again.stderr).toBe(0)
      expect(await localeOf(db)).toBe('UTF8 C C')

      // A locale the server lacks: refused by name, the database as it was, nothing left beside it.
      const manifest = await readFile(`${plain}.manifest.json`, 'utf8')
      await writeFile(`${bare}.manifest.json`, manifest.replace('"lcCollate": "C"', '"lcCollate": "xx_NOWHERE.UTF-8"'))
      const before = await comparableDump(db)
      const refused = await run('restore-postgres.sh', [...conn, '--database', db, bare])
      expect(refused.exitCode).toBe(1)
      expect(refused.stderr).toMatch(/cannot create \S+ with the backup's encoding and locale \(.*'xx_NOWHERE\.UTF-8'/)
      expect(refused.stderr).toMatch(/was not changed\n\s+next: install that locale on the server/)
      expect(await comparableDump(db)).toBe(before)
    } finally {
      await sql('postgres', `DROP DATABASE IF EXISTS ${db}`)
    }
  })

  it('restore-postgres.sh: a database holding only a large object is dumped before it is replaced', async () => {
    const db = uniqueName('pgscript_lo')
    const back = uniqueName('pgscript_back')
    await sql('postgres', `CREATE DATABASE ${db} TEMPLATE template0`)
    await sql(db, 'CREATE TABLE t (id int); INSERT INTO t VALUES (1)')
    const plain = (await backupNow(pgCliEnv(db, await mkdtemp(join(work, 'pglo-')))))[0]!.path!
    const conn = pgScriptConn()
    try {
      await sql(db, `DROP TABLE t; SELECT lo_from_bytea(0, 'precious')`)
      const r = await run('restore-postgres.sh', [...conn, plain])
      expect(r.exitCode, r.stderr).toBe(0)
      expect(r.stdout).toMatch(/safety dump of the current/)
      expect(r.stdout).toContain('it exists with 1 objects')
      expect(await largeObjects(db)).toEqual([])
      // The safety dump brings the large object back.
      const safety = /previous content: (\S+)\)$/m.exec(r.stdout)?.[1]
      expect(safety, r.stdout).toBeDefined()
      const restored = await run('restore-postgres.sh', [...conn, '--skip-checksum', '--database', back, safety!])
      expect(restored.exitCode, restored.stderr).toBe(0)
      expect(await largeObjects(back)).toEqual(['precious'])
    } finally {
      for (const name of [db, back]) await sql('postgres', `DROP DATABASE IF EXISTS ${name}`)
    }
  })

  it('restore-sqlite.sh: replaces the file, drops a stale -wal, keeps a safety copy; --if-missing', async () => {
    const data = join(work, 'sq')
    await mkdir(data)
    const live = join(data, 'notes.db')
    makeSqliteDb(live, 2000)
    const file = (
      await backupNow({ DB01_TYPE: 'sqlite', DB01_PATH: live, DB01_LABEL: 'notes', BACKUP_DIR: join(work, 'sqb') })
    )[0]!.path!
    const app = new Database(live)
    app.pragma('wal_autocheckpoint = 0')
    app.prepare("INSERT INTO items (name) VALUES ('later')").run()
    await copyFile(`${live}-wal`, join(work, 'wal'))
    app.close()
    await copyFile(join(work, 'wal'), `${live}-wal`)

    const r = await run('restore-sqlite.sh', ['--yes', file, live])
    expect(r.exitCode, r.stderr).toBe(0)
    expect(r.stdout).toMatch(/items\s+2000 rows/)
    const names = await readdir(data)
    expect(names.filter((n) => n.endsWith('-wal') || n.includes('dbk-restore'))).toEqual([])
    const safety = names.find((n) => n.startsWith('pre-restore_notes.db_'))!
    const count = (p: string) =>
      Number(new Database(p, { readonly: true }).prepare('SELECT count(*) FROM items').pluck().get())
    expect(count(live)).toBe(2000)
    expect(count(join(data, safety))).toBe(2001)
    const skip = await run('restore-sqlite.sh', ['--if-missing', file, live])
    expect(skip.exitCode).toBe(0)
    expect(skip.stdout).toContain('nothing restored (--if-missing)')

    // A damaged copy is refused and the live file stays as it was; without --yes it asks for --yes.
    const before = await readFile(live)
    const refused = await run('restore-sqlite.sh', ['--yes', await damagedCopy(file, 'sqdamaged'), live])
    expect(refused.exitCode).toBe(1)
    expect(refused.stderr).toContain('does not match')
    const asks = await run('restore-sqlite.sh', [file, live])
    expect(asks.exitCode).toBe(2)
    expect(asks.stderr).toContain('add --yes')
    expect((await readFile(live)).equals(before)).toBe(true)
  })

  it('restore-sqlite.sh: a symlinked TARGET_DB is restored onto the real file; a hard-linked one is refused', async () => {
    const data = join(work, 'sqlink')
    await mkdir(join(data, 'app'), { recursive: true })
    await mkdir(join(data, 'real'))
    const real = join(data, 'real', 'app.db')
    const linked = join(data, 'app', 'app.db')
    makeSqliteDb(real, 1500)
    await symlink('../real/app.db', linked)
    const file = (
      await backupNow({ DB01_TYPE: 'sqlite', DB01_PATH: linked, DB01_LABEL: 'linked', BACKUP_DIR: join(work, 'sqlb') })
    )[0]!.path!
    const db = new Database(real)
    db.exec('DELETE FROM items WHERE id > 10')
    db.close()
    const count = (p: string) =>
      Number(new Database(p, { readonly: true }).prepare('SELECT count(*) FROM items').pluck().get())

    const r = await run('restore-sqlite.sh', ['--yes', file, linked])
    expect(r.exitCode, r.stderr).toBe(0)
    expect(r.stdout).toContain(`${linked} is a symlink to ${real}: restoring onto ${real}`)
    expect((await lstat(linked)).isSymbolicLink()).toBe(true)
    expect(count(real)).toBe(1500)
    expect(await readdir(join(data, 'app'))).toEqual(['app.db'])
    // The safety copy holds the real file's content from before, beside it.
    const safety = (await readdir(join(data, 'real'))).find((n) => n.startsWith('pre-restore_app.db_'))!
    expect(count(join(data, 'real', safety))).toBe(10)

    const other = join(data, 'real', 'other-name.db')
    await link(real, other)
    const before = await readFile(real)
    const refused = await run('restore-sqlite.sh', ['--yes', '--no-safety-copy', file, linked])
    expect(refused.exitCode).toBe(1)
    expect(refused.stderr).toContain(`${real} has 2 hard links`)
    expect(refused.stderr).toContain('nothing was changed')
    expect((await readFile(real)).equals(before)).toBe(true)
    expect((await stat(real)).nlink).toBe(2)
  })

  it.skipIf(process.getuid?.() !== 0)(
    'restore-sqlite.sh: a full file system under TARGET_DB is not reported as a damaged backup (tmpfs needs root)',
    async () => {
      const data = join(work, 'sqfull')
      await mkdir(data)
      await execa('mount', ['-t', 'tmpfs', '-o', 'size=2m', 'tmpfs', data])
      try {
        const live = join(data, 'app.db')
        makeSqliteDb(live, 3000)
        const file = (
          await backupNow({ DB01_TYPE: 'sqlite', DB01_PATH: live, DB01_LABEL: 'full', BACKUP_DIR: join(work, 'sqfb') })
        )[0]!.path!
        const free = await statfs(data)
        await writeFile(join(data, 'filler'), Buffer.alloc(free.bavail * free.bsize - 16 * 1024))
        const before = { db: await readFile(live), files: (await readdir(data)).sort() }

        const r = await run('restore-sqlite.sh', ['--yes', '--no-safety-copy', file, live])
        expect(r.exitCode).toBe(1)
        expect(r.stderr).toContain(`${live} was not changed, and the backup is fine`)
        expect(r.stderr).toContain(`free space on the file system that holds ${data}`)
        expect(r.stderr).not.toContain('damaged')
        expect((await readFile(live)).equals(before.db)).toBe(true)
        expect((await readdir(data)).sort()).toEqual(before.files)
      } finally {
        await execa('umount', [data]).catch(() => execa('umount', ['-l', data]))
      }
    },
  )

  it('restore-sqlite.sh: a TARGET_DB with an apostrophe in its name gets its safety copy, and the cwd stays clean', async () => {
    const data = join(work, 'sqapos')
    const cwd = join(work, 'sqapos-cwd')
    await mkdir(data)
    await mkdir(cwd)
    const live = join(data, "it's app.db")
    makeSqliteDb(live, 700)
    const file = (
      await backupNow({ DB01_TYPE: 'sqlite', DB01_PATH: live, DB01_LABEL: 'apos', BACKUP_DIR: join(work, 'sqab') })
    )[0]!.path!
    const db = new Database(live)
    db.exec('DELETE FROM items WHERE id > 7')
    db.close()

    const r = await execa('bash', [join(ROOT, 'scripts', 'restore-sqlite.sh'), '--yes', file, live], {
      cwd,
      env: { PATH: process.env.PATH ?? '' },
      extendEnv: false,
      reject: false,
      stdin: 'ignore',
    })
    expect(r.exitCode, r.stderr).toBe(0)
    const count = (p: string) =>
      Number(new Database(p, { readonly: true }).prepare('SELECT count(*) FROM items').pluck().get())
    expect(count(live)).toBe(700)
    const safety = (await readdir(data)).find((n) => n.startsWith("pre-restore_it's app.db_"))!
    expect(safety).toBeDefined()
    expect(count(join(data, safety))).toBe(7)
    expect(await readdir(cwd)).toEqual([])
  })
})
