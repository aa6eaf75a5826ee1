/**
 * Issue 14 against the private MariaDB: every backup called good restores, and a failed restore
 * destroys nothing. A 10 MB BLOB row (a 20 MB INSERT with --hex-blob, over the default 16 MiB
 * max_allowed_packet), a view whose DEFINER no longer exists (printed with its database's name
 * inside), a tampered backup whose last statement fails, and a swap of an unchanged database that
 * must keep every trigger, view, routine and event exactly.
 */
import { rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { execa } from 'execa'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import {
  NASTY_PASSWORD,
  checksums,
  dropDatabases,
  globalPacket,
  makeRichDatabase,
  mariadb,
  mysqlEnv,
  rootQuery,
} from '../backup/mysql-support.js'
import { trial } from '../support/faults/trials.js'
import { mysqlAdmin, uniqueName } from '../support/servers.js'
import { backupNow, cli, insertLine, listNow, makeAdminUser, readManifest, writeResignedBackup } from './support.js'

const DEFAULT_PACKET = 16 * 1024 * 1024

/** Databases a restore creates beside its target; none may outlive it. */
async function leftovers(): Promise<string[]> {
  return (
    await rootQuery<{ n: string }[]>(
      "SELECT SCHEMA_NAME AS n FROM information_schema.SCHEMATA WHERE SCHEMA_NAME LIKE '%\\_dbkrestore\\_%' OR SCHEMA_NAME LIKE '%\\_dbkold\\_%'",
    )
  ).map((r) => r.n)
}

/** SHOW CREATE of every view, trigger, routine and event (without the trigger's creation time). */
async function definitions(db: string): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = {}
  const each = async (kind: string, sql: string) => {
    for (const { n } of await rootQuery<{ n: string }[]>(sql, [db])) {
      const [row] = await rootQuery<Record<string, unknown>[]>(`SHOW CREATE ${kind} \`${db}\`.\`${n}\``)
      const { Created: _created, ...rest } = row!
      out[`${kind} ${n}`] = rest
    }
  }
  await each(
    'PROCEDURE',
    "SELECT ROUTINE_NAME AS n FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = ? AND ROUTINE_TYPE = 'PROCEDURE'",
  )
  await each(
    'FUNCTION',
    "SELECT ROUTINE_NAME AS n FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = ? AND ROUTINE_TYPE = 'FUNCTION'",
  )
  await each('VIEW', 'SELECT TABLE_NAME AS n FROM information_schema.VIEWS WHERE TABLE_SCHEMA = ?')
  await each('TRIGGER', 'SELECT TRIGGER_NAME AS n FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = ?')
  await each('EVENT', 'SELECT EVENT_NAME AS n FROM information_schema.EVENTS WHERE EVENT_SCHEMA = ?')
  return out
}

/** A user with every privilege on `db` and nothing else (no SUPER: it may not SET GLOBAL). */
async function databaseOnlyUser(...dbs: string[]): Promise<string> {
  const user = uniqueName('dbonly')
  await rootQuery("CREATE USER ?@'%' IDENTIFIED BY ?", [user, NASTY_PASSWORD])
  for (const db of dbs) await rootQuery(`GRANT ALL PRIVILEGES ON \`${db}\`.* TO ?@'%'`, [user])
  return user
}

afterEach(async () => {
  await rootQuery(`SET GLOBAL max_allowed_packet = ${DEFAULT_PACKET}`)
})

describe('MySQL restore of a 10 MB row (a 20 MB statement over max_allowed_packet)', () => {
  const db = uniqueName('bigrow')
  const into = uniqueName('bigrow_into')
  const refusedInto = uniqueName('bigrow_no')
  let dir: string
  let env: Record<string, string>
  let original: Record<string, string>

  beforeAll(async () => {
    await rootQuery(`CREATE DATABASE \`${db}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`)
    await rootQuery(
      `CREATE TABLE b (id INT PRIMARY KEY, d LONGBLOB); CREATE TABLE small (id INT PRIMARY KEY);
      INSERT INTO b VALUES (1, RANDOM_BYTES(100)); INSERT INTO b SELECT 2, REPEAT(RANDOM_BYTES(1000), 10000); INSERT INTO small VALUES (1), (2)`,
      [],
      db,
    )
    ;({ dir, env } = await mysqlEnv(db, await makeAdminUser()))
    original = await checksums(db)
  })
  afterAll(async () => {
    await dropDatabases(db, into, refusedInto)
    await rm(dir, { recursive: true, force: true })
  })

  it('the manifest records the 20 MB statement and warns that this server could not take it back', async () => {
    const [result] = await backupNow(env)
    const needs = (await readManifest(result!.path!)).restoreNeeds!
    expect(needs.longestStatement).toBeGreaterThan(20_000_000)
    expect(needs.warnings?.join('\n')).toMatch(/max_allowed_packet is 16\.0 MiB: .*SET GLOBAL max_allowed_packet = \d+/)
  })

  it('a user who may not raise max_allowed_packet is refused in place and --into, before anything is touched', async () => {
    await trial(
      'adversarial restore: MySQL statement over max_allowed_packet',
      'restore by a user without SUPER: refused, target untouched',
      async () => {
        const limited = { ...env, DB01_USER: await databaseOnlyUser(db, refusedInto) }
        await rootQuery(`DELETE FROM \`${db}\`.small WHERE id = 2`)
        const changed = await checksums(db)
        const safetiesBefore = (await listNow(env)).filter((b) => b.kind === 'pre-restore').length
        const r = await cli(['restore', 'latest', '--source', 'maria', '--yes'], limited)
        expect(r.exitCode, r.all).toBe(1)
        expect(r.stderr).toMatch(/may not raise it .*nothing was changed/)
        expect(r.stderr).toMatch(
          /SET GLOBAL max_allowed_packet = \d+; \(and `max_allowed_packet = \d+` under \[mysqld\] in my\.cnf/,
        )
        expect(await checksums(db)).toEqual(changed)
        expect((await listNow(env)).filter((b) => b.kind === 'pre-restore').length).toBe(safetiesBefore)
        const i = await cli(['restore', 'latest', '--source', 'maria', '--into', refusedInto, '--yes'], limited)
        expect(i.exitCode, i.all).toBe(1)
        expect(
          (await rootQuery<unknown[]>('SELECT 1 FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?', [refusedInto]))
            .length,
        ).toBe(0)
        expect(await leftovers()).toEqual([])
        expect(await globalPacket()).toBe(DEFAULT_PACKET)
      },
    )
  })

  it('is restored in place exactly (max_allowed_packet raised for the load, set back), and its safety backup restores too', async () => {
    await trial(
      'adversarial restore: MySQL statement over max_allowed_packet',
      'in place, user with SUPER; then its safety backup',
      async () => {
        await rootQuery(`UPDATE \`${db}\`.b SET d = RANDOM_BYTES(10) WHERE id = 1`)
        const changed = await checksums(db)
        const r = await cli(['restore', 'latest', '--source', 'maria', '--yes'], env)
        expect(r.exitCode, r.all).toBe(0)
        expect(r.stdout + r.stderr).toMatch(
          /max_allowed_packet \(16\.0 MiB\) will be raised to 19\.\d MiB for the load and set back afterwards/,
        )
        expect(await checksums(db)).toEqual(original)
        expect(await globalPacket()).toBe(DEFAULT_PACKET)
        expect(await leftovers()).toEqual([])
        // The safety backup held the 10 MB row as well: it is a backup like any other, and restores.
        const safetyId = /safety backup (\S+) committed/.exec(r.stdout + r.stderr)![1]!
        const back = await cli(['restore', safetyId, '--source', 'maria', '--yes', '--no-safety-backup'], env)
        expect(back.exitCode, back.all).toBe(0)
        expect(await checksums(db)).toEqual(changed)
        expect(await globalPacket()).toBe(DEFAULT_PACKET)
      },
    )
  })

  it('is restored --into a new database exactly', async () => {
    await trial('adversarial restore: MySQL statement over max_allowed_packet', '--into a new database', async () => {
      const r = await cli(['restore', 'latest', '--source', 'maria', '--into', into, '--yes'], env)
      expect(r.exitCode, r.all).toBe(0)
      expect(await checksums(into)).toEqual(original)
      expect(await globalPacket()).toBe(DEFAULT_PACKET)
    })
  })
})

describe('MySQL restore of a view whose DEFINER no longer exists', () => {
  const db = uniqueName('orphan')
  const into = uniqueName('orphan_into')
  let dir: string
  let env: Record<string, string>
  let view: string

  beforeAll(async () => {
    const gone = uniqueName('gone')
    await rootQuery(`CREATE DATABASE \`${db}\``)
    await rootQuery(`CREATE USER ?@'%'`, [gone])
    await rootQuery(
      `CREATE TABLE t (id INT PRIMARY KEY); INSERT INTO t VALUES (1), (2);
      CREATE DEFINER = '${gone}'@'%' VIEW v AS SELECT id FROM t; CREATE VIEW ok AS SELECT id FROM t`,
      [],
      db,
    )
    await rootQuery(`DROP USER ?@'%'`, [gone])
    ;({ dir, env } = await mysqlEnv(db, await makeAdminUser()))
    view = String(
      (
        await rootQuery<{ d: string }[]>(
          "SELECT VIEW_DEFINITION AS d FROM information_schema.VIEWS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = 'v'",
          [db],
        )
      )[0]!.d,
    )
    const [result] = await backupNow(env)
    const needs = (await readManifest(result!.path!)).restoreNeeds!
    expect(needs.definers).toContain(`${gone}@%`)
    expect(needs.warnings?.join('\n')).toContain(`${gone}@% of views, routines, triggers or events no longer exists`)
  })
  afterAll(async () => {
    await dropDatabases(db, into)
    await rm(dir, { recursive: true, force: true })
  })

  const definition = async (database: string) =>
    String(
      (
        await rootQuery<{ d: string }[]>(
          "SELECT VIEW_DEFINITION AS d FROM information_schema.VIEWS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = 'v'",
          [database],
        )
      )[0]?.d,
    )

  it('is restored in place, --into another name, and passes a drill', async () => {
    await trial(
      'adversarial restore: MySQL view with a missing DEFINER',
      'in place, --into, verify --drill',
      async () => {
        const r = await cli(['restore', 'latest', '--source', 'maria', '--yes'], env)
        expect(r.exitCode, r.all).toBe(0)
        expect(r.stdout + r.stderr).toMatch(
          /definer \S+ of views, routines, triggers or events does not exist on this server/,
        )
        expect(await definition(db)).toBe(view)
        expect(await leftovers()).toEqual([])

        const i = await cli(['restore', 'latest', '--source', 'maria', '--into', into, '--yes'], env)
        expect(i.exitCode, i.all).toBe(0)
        expect(await definition(into)).toBe(view.split(`\`${db}\`.`).join(`\`${into}\`.`))
        expect(await checksums(into)).toEqual(await checksums(db))

        const d = await cli(['verify', 'latest', '--source', 'maria', '--drill'], env)
        expect(d.exitCode, d.all).toBe(0)
      },
    )
  })
})

describe('MySQL restore in place: all or nothing', () => {
  let db: string
  let dir: string
  let env: Record<string, string>
  let backupPath: string

  beforeAll(async () => {
    ;({ db } = await makeRichDatabase(2000))
    ;({ dir, env } = await mysqlEnv(db, await makeAdminUser()))
    backupPath = (await backupNow(env))[0]!.path!
  })
  afterAll(async () => {
    await dropDatabases(db)
    await rm(dir, { recursive: true, force: true })
  })

  it('an unchanged database swapped with its backup keeps every trigger, view, routine and event exactly', async () => {
    const tables = await checksums(db)
    const defs = await definitions(db)
    expect(Object.keys(defs).sort()).toEqual([
      'EVENT nightly',
      'FUNCTION double_it',
      'PROCEDURE count_big',
      'TRIGGER texts_audit',
      'VIEW big_summary',
    ])
    const r = await cli(['restore', 'latest', '--source', 'maria', '--yes', '--no-safety-backup'], env)
    expect(r.exitCode, r.all).toBe(0)
    expect(await checksums(db)).toEqual(tables)
    expect(await definitions(db)).toEqual(defs)
    expect(await leftovers()).toEqual([])
    // The trigger fires on its table in its new home.
    await rootQuery(`INSERT INTO \`${db}\`.texts VALUES (99, 'after the swap', NULL)`)
    expect((await rootQuery<unknown[]>(`SELECT 1 FROM \`${db}\`.audit WHERE note = 'inserted 99'`)).length).toBe(1)
  })

  it('a backup whose last statement fails leaves the database exactly as it was, and nothing beside it', async () => {
    await trial('adversarial restore: MySQL failing statement in place', 'the last statement of the dump', async () => {
      await rootQuery(
        `UPDATE \`${db}\`.texts SET s = 'current' WHERE id = 1; CREATE TABLE \`${db}\`.added_later (id INT)`,
      )
      const tables = await checksums(db)
      const defs = await definitions(db)
      const bad = await writeResignedBackup(
        backupPath,
        (raw) => insertLine(raw, /^-- Dump completed/, 'INSERT INTO no_such_table VALUES (1);').content,
        3,
      )
      const r = await cli(['restore', bad.manifest.id, '--source', 'maria', '--yes', '--no-safety-backup'], env)
      expect(r.exitCode, r.all).toBe(1)
      expect(r.stderr).toContain('ERROR 1146 (42S02)')
      expect(r.stderr).toMatch(
        /was not changed \(the backup was loaded into a new database beside it, `\S+_dbkrestore_[0-9a-f]{8}`, dropped again\)/,
      )
      expect(await checksums(db)).toEqual(tables)
      expect(await definitions(db)).toEqual(defs)
      expect(await leftovers()).toEqual([])
      await bad.remove()
    })
  })

  it('a swap that cannot take the tables (another connection holds one) is rolled back: every object back, nothing beside it', async () => {
    await trial(
      'adversarial restore: MySQL failing swap',
      'RENAME TABLE waits 30 s for a lock held by an open transaction',
      async () => {
        const tables = await checksums(db)
        const defs = await definitions(db)
        // An open transaction that read `blobs` holds its metadata lock: the trigger, view, routines
        // and event are dropped first, then the one RENAME TABLE waits for the lock and gives up.
        const holder = await mysqlAdmin(mariadb(), db)
        await holder.query('START TRANSACTION')
        await holder.query('SELECT COUNT(*) FROM blobs')
        let r
        try {
          r = await cli(['restore', 'latest', '--source', 'maria', '--yes', '--no-safety-backup'], env)
        } finally {
          await holder.query('ROLLBACK')
          await holder.end()
        }
        expect(r.exitCode, r.all).toBe(1)
        expect(r.stderr).toMatch(
          /is in use: RENAME TABLE waited 30 s for another connection's lock; it was put back as it was, nothing was changed/,
        )
        expect(await checksums(db)).toEqual(tables)
        expect(await definitions(db)).toEqual(defs)
        expect(await leftovers()).toEqual([])
      },
    )
  }, 120_000)
})

describe('MySQL in-place restore by a user with rights on the database alone', () => {
  const db = uniqueName('onlydb')
  let dir: string
  let env: Record<string, string>

  beforeAll(async () => {
    await rootQuery(`CREATE DATABASE \`${db}\``)
    await rootQuery(
      "CREATE TABLE t (id INT PRIMARY KEY, s VARCHAR(20)); INSERT INTO t VALUES (1, 'one'), (2, 'two')",
      [],
      db,
    )
    ;({ dir, env } = await mysqlEnv(db, await makeAdminUser()))
    await backupNow(env)
  })
  afterAll(async () => {
    await dropDatabases(db)
    await rm(dir, { recursive: true, force: true })
  })

  it('is refused before the question with the GRANT that allows it, and restores once granted', async () => {
    await trial(
      'adversarial restore: MySQL user without rights beside the database',
      'refused before anything, then granted',
      async () => {
        const user = await databaseOnlyUser(db)
        const limited = { ...env, DB01_USER: user }
        await rootQuery(`DELETE FROM \`${db}\`.t WHERE id = 2`)
        const changed = await checksums(db)
        const safetiesBefore = (await listNow(env)).filter((b) => b.kind === 'pre-restore').length
        const r = await cli(['restore', 'latest', '--source', 'maria', '--yes'], limited)
        expect(r.exitCode, r.all).toBe(1)
        expect(r.stderr).toMatch(/may not create the database beside .*; nothing was changed/)
        expect(r.stderr).toContain(`GRANT ALL PRIVILEGES ON \`${db.replace(/_/g, '\\_')}\\_dbk%\`.* TO '${user}'@'%'`)
        expect(await checksums(db)).toEqual(changed)
        expect((await listNow(env)).filter((b) => b.kind === 'pre-restore').length).toBe(safetiesBefore)
        expect(await leftovers()).toEqual([])
        await rootQuery(`GRANT ALL PRIVILEGES ON \`${db.replace(/_/g, '\\_')}\\_dbk%\`.* TO ?@'%'`, [user])
        await rootQuery("GRANT SELECT ON mysql.proc TO ?@'%'", [user]) // for the safety backup's routines
        const ok = await cli(['restore', 'latest', '--source', 'maria', '--yes'], limited)
        expect(ok.exitCode, ok.all).toBe(0)
        expect(await rootQuery<{ n: number }[]>(`SELECT COUNT(*) AS n FROM \`${db}\`.t`)).toEqual([{ n: 2 }])
        expect(await leftovers()).toEqual([])
      },
    )
  }, 180_000)
})

/** `restore-mysql.sh --yes FILE` in place, as `admin` (password from a 0600 file in `dir`, the safety dump there). */
async function restoreScript(admin: string, dir: string, file: string) {
  const info = mariadb()
  const passFile = join(dir, 'script-pw')
  await writeFile(passFile, NASTY_PASSWORD, { mode: 0o600 })
  return execa(
    'bash',
    [
      join(process.cwd(), 'scripts', 'restore-mysql.sh'),
      ...['--host', info.host, '--port', String(info.port), '--user', admin, '--password-file', passFile],
      ...['--safety-dir', dir, '--yes', file],
    ],
    { reject: false, stdin: 'ignore', env: { PATH: process.env.PATH ?? '' }, extendEnv: false },
  )
}

describe("a database whose tables other databases' foreign keys reference", () => {
  const parent = uniqueName('fkparent')
  const child = uniqueName('fkchild')
  let dir: string
  let env: Record<string, string>
  let admin: string
  let file: string

  beforeAll(async () => {
    await rootQuery(`CREATE DATABASE \`${parent}\`; CREATE DATABASE \`${child}\``)
    await rootQuery(
      `CREATE TABLE aaa (id INT PRIMARY KEY); CREATE TABLE parent (id INT PRIMARY KEY); CREATE TABLE zzz (id INT PRIMARY KEY);
       INSERT INTO aaa VALUES (1); INSERT INTO parent VALUES (1), (2); INSERT INTO zzz VALUES (1)`,
      [],
      parent,
    )
    await rootQuery(
      `CREATE TABLE child (id INT PRIMARY KEY, pid INT, CONSTRAINT to_parent FOREIGN KEY (pid) REFERENCES \`${parent}\`.parent (id));
       INSERT INTO child VALUES (1, 1)`,
      [],
      child,
    )
    admin = await makeAdminUser()
    ;({ dir, env } = await mysqlEnv(parent, admin))
    file = (await backupNow(env))[0]!.path!
  })
  afterAll(async () => {
    await dropDatabases(child, parent)
    await rm(dir, { recursive: true, force: true })
  })

  const references = async () =>
    (
      await rootQuery<{ s: string }[]>(
        'SELECT REFERENCED_TABLE_SCHEMA AS s FROM information_schema.KEY_COLUMN_USAGE WHERE TABLE_SCHEMA = ? AND CONSTRAINT_NAME = ?',
        [child, 'to_parent'],
      )
    ).map((r) => r.s)

  it('is not replaced in place (the keys would follow its tables aside): refused, naming the key, nothing changed', async () => {
    const before = await checksums(parent)
    const r = await cli(['restore', 'latest', '--source', 'maria', '--yes'], env)
    expect(r.exitCode).toBe(1)
    expect(r.stderr).toContain(`\`${child}\`.\`child\` (to_parent → parent)`)
    expect(r.stderr).toContain('DROP FOREIGN KEY `to_parent`')
    expect(await checksums(parent)).toEqual(before)
    expect(await references()).toEqual([parent])
    expect(await leftovers()).toEqual([])
  })

  it('restore-mysql.sh refuses it too, before its DROP DATABASE could fail part-way', async () => {
    const before = await checksums(parent)
    const r = await restoreScript(admin, dir, file)
    expect(r.exitCode, r.stdout).toBe(1)
    expect(r.stderr).toContain(`${child}.child (to_parent)`)
    expect(await checksums(parent)).toEqual(before)
    expect(await references()).toEqual([parent])
  })
})

describe('a database restored where it no longer exists', () => {
  const db = uniqueName('german')
  let dir: string
  let env: Record<string, string>
  let admin: string
  let file: string

  const defaults = async () =>
    (
      await rootQuery<{ cs: string; coll: string }[]>(
        'SELECT DEFAULT_CHARACTER_SET_NAME AS cs, DEFAULT_COLLATION_NAME AS coll FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?',
        [db],
      )
    )[0]
  // The routine's parameters take the database's collation: under latin1_german2_ci ß = ss.
  const same = async () =>
    Number(
      Object.values(
        (await rootQuery<Record<string, unknown>[]>(`SELECT \`${db}\`.same('Straße', 'Strasse') AS s`))[0]!,
      )[0],
    )

  beforeAll(async () => {
    await rootQuery(`CREATE DATABASE \`${db}\` CHARACTER SET latin1 COLLATE latin1_german2_ci`)
    await rootQuery(
      'CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(20)); INSERT INTO t VALUES (1, ?); CREATE FUNCTION same(a VARCHAR(20), b VARCHAR(20)) RETURNS INT DETERMINISTIC RETURN a = b',
      ['Straße'],
      db,
    )
    admin = await makeAdminUser()
    ;({ dir, env } = await mysqlEnv(db, admin))
    file = (await backupNow(env))[0]!.path!
    expect(await same()).toBe(1)
  })
  afterAll(async () => {
    await dropDatabases(db)
    await rm(dir, { recursive: true, force: true })
  })

  it('comes back with its own character set and collation (the manifest records them), not the server default', async () => {
    expect((await readManifest(file)).restoreNeeds?.charset).toEqual({
      characterSet: 'latin1',
      collation: 'latin1_german2_ci',
    })
    const original = await checksums(db)
    await rootQuery(`DROP DATABASE \`${db}\``)
    const r = await cli(['restore', 'latest', '--source', 'maria', '--yes'], env)
    expect(r.exitCode, r.all).toBe(0)
    expect(await defaults()).toEqual({ cs: 'latin1', coll: 'latin1_german2_ci' })
    expect(await same()).toBe(1)
    expect(await checksums(db)).toEqual(original)
  })

  it('restore-mysql.sh creates it the same way', async () => {
    await rootQuery(`DROP DATABASE \`${db}\``)
    const r = await restoreScript(admin, dir, file)
    expect(r.exitCode, `${r.stdout}\n${r.stderr}`).toBe(0)
    expect(r.stdout).toContain('it will be created (CHARACTER SET latin1 COLLATE latin1_german2_ci)')
    expect(await defaults()).toEqual({ cs: 'latin1', coll: 'latin1_german2_ci' })
    expect(await same()).toBe(1)
  })
})

describe('a system-versioned table (MariaDB 10.11: its history is data too)', () => {
  const db = uniqueName('versioned')
  const into = uniqueName('versioned_into')
  let dir: string
  let env: Record<string, string>

  const history = async (database: string) =>
    rootQuery<{ id: number; amount: number; s: string; e: string }[]>(
      `SELECT id, amount, CAST(ROW_START AS CHAR) AS s, CAST(ROW_END AS CHAR) AS e FROM \`${database}\`.price FOR SYSTEM_TIME ALL ORDER BY ROW_START`,
    )

  beforeAll(async () => {
    await rootQuery(`CREATE DATABASE \`${db}\``)
    await rootQuery(
      'CREATE TABLE price (id INT PRIMARY KEY, amount INT) WITH SYSTEM VERSIONING; INSERT INTO price VALUES (1, 10); UPDATE price SET amount = 20; UPDATE price SET amount = 30',
      [],
      db,
    )
    ;({ dir, env } = await mysqlEnv(db, await makeAdminUser()))
  })
  afterAll(async () => {
    await dropDatabases(db, into)
    await rm(dir, { recursive: true, force: true })
  })

  it('is dumped with its history, restored with it --into and in place, and passes a drill', async () => {
    const original = await history(db)
    expect(original).toHaveLength(3)
    const file = (await backupNow(env))[0]!.path!
    expect((await readManifest(file)).tool.options).toContain('--dump-history')
    const r = await cli(['restore', 'latest', '--source', 'maria', '--into', into, '--yes'], env)
    expect(r.exitCode, r.all).toBe(0)
    expect(await history(into)).toEqual(original)
    const drill = await cli(['verify', 'latest', '--drill'], env)
    expect(drill.exitCode, drill.all).toBe(0)
    await rootQuery('DELETE FROM price', [], db)
    const back = await cli(['restore', 'latest', '--source', 'maria', '--yes'], env)
    expect(back.exitCode, back.all).toBe(0)
    expect(await history(db)).toEqual(original)
  })
})
