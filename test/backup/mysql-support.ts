/**
 * The MariaDB side of the CLI-level tests: a database with everything a real one has, the
 * environment a compose file would give dbkeeper, and a restore with nothing but plain tools.
 */
import { mkdtemp, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { execa } from 'execa'
import { inject } from 'vitest'
import { mysqlAdmin, uniqueName, type ServerInfo } from '../support/servers.js'

export const mariadb = (): ServerInfo => inject('mariadb')

/** Quotes, spaces, `$`, `#` and a backslash: each breaks a different naive way of passing it. */
export const NASTY_PASSWORD = `o'really "now" $USER #1 \\ ok`

export async function rootQuery<T = unknown>(
  sql: string,
  params: unknown[] = [],
  database?: string,
  server: ServerInfo = mariadb(),
): Promise<T> {
  const conn = await mysqlAdmin(server, database)
  try {
    return (await conn.query(sql, params))[0] as T
  } finally {
    await conn.end()
  }
}

/** The server's global max_allowed_packet (what a restore's connections get). */
export async function globalPacket(server: ServerInfo = mariadb()): Promise<number> {
  return Number(
    (await rootQuery<{ p: number }[]>('SELECT @@GLOBAL.max_allowed_packet AS p', [], undefined, server))[0]!.p,
  )
}

/**
 * utf8mb4 text with emoji, binary blobs (every byte value, NULs, quotes), NULLs, a view, a
 * trigger, a procedure, a function, an event, a table whose name needs backticks, `rows` rows in `big`.
 */
const fixtureSql = (rows: number) => `
CREATE TABLE texts (id INT PRIMARY KEY, s VARCHAR(100) NOT NULL, t TEXT NULL) CHARACTER SET utf8mb4;
INSERT INTO texts VALUES (1, 'plain', NULL), (2, 'emoji 🦆🎉 and 𝄞 and 中文', 'long ✓ text'), (3, 'quote '' and \\\\ backslash', '');
CREATE TABLE blobs (id INT PRIMARY KEY, b LONGBLOB NULL);
INSERT INTO blobs VALUES (1, NULL), (2, UNHEX('00010203FF27225C0A0D1A')), (3, RANDOM_BYTES(1024)), (4, '');
CREATE TABLE \`weird table-name\` (\`order\` INT PRIMARY KEY, \`select\` VARCHAR(20) NULL);
INSERT INTO \`weird table-name\` VALUES (1, 'a'), (2, NULL);
CREATE TABLE big (id INT PRIMARY KEY, label VARCHAR(60) NULL, amount DECIMAL(12,2) NOT NULL, payload VARBINARY(32) NULL, created DATETIME(6) NOT NULL);
INSERT INTO big
  SELECT seq, IF(seq % 7 = 0, NULL, CONCAT('row ', seq, IF(seq % 5 = 0, ' 🚀', ''))), seq * 1.25,
         IF(seq % 11 = 0, NULL, UNHEX(SHA2(seq, 256))), '2024-01-01' + INTERVAL seq SECOND
    FROM seq_1_to_${rows};
CREATE VIEW big_summary AS SELECT COUNT(*) AS n, SUM(amount) AS total FROM big;
CREATE TABLE audit (id INT AUTO_INCREMENT PRIMARY KEY, note VARCHAR(100));
CREATE TRIGGER texts_audit AFTER INSERT ON texts FOR EACH ROW INSERT INTO audit (note) VALUES (CONCAT('inserted ', NEW.id));
CREATE PROCEDURE count_big(OUT n INT) BEGIN SELECT COUNT(*) INTO n FROM big; END;
CREATE FUNCTION double_it(x INT) RETURNS INT DETERMINISTIC RETURN x * 2;
CREATE EVENT nightly ON SCHEDULE EVERY 1 DAY DISABLE DO DELETE FROM audit;
INSERT INTO texts VALUES (4, 'fires the trigger', NULL);
`

/** A fresh database filled with the fixture, and a backup user with exactly the documented grants. */
export async function makeRichDatabase(rows = 100_000): Promise<{ db: string; user: string }> {
  const db = uniqueName('rt')
  await rootQuery(`CREATE DATABASE \`${db}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`)
  await rootQuery(fixtureSql(rows), [], db)
  const user = uniqueName('bk')
  await rootQuery("CREATE USER ?@'%' IDENTIFIED BY ?", [user, NASTY_PASSWORD])
  await rootQuery(`GRANT SELECT, SHOW VIEW, TRIGGER, EVENT, LOCK TABLES ON \`${db}\`.* TO ?@'%'`, [user])
  await rootQuery("GRANT SELECT ON mysql.proc TO ?@'%'", [user])
  return { db, user }
}

/** dbkeeper's environment for one MariaDB source; the password comes from a Docker-style secret file. */
export async function mysqlEnv(
  db: string,
  user: string,
): Promise<{ env: Record<string, string>; dir: string; backupDir: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'dbk-myrt-'))
  const passFile = join(dir, 'db_password')
  await writeFile(passFile, `${NASTY_PASSWORD}\n`, { mode: 0o600 })
  const backupDir = join(dir, 'backups')
  const info = mariadb()
  return {
    dir,
    backupDir,
    env: {
      DB01_TYPE: 'mariadb',
      DB01_HOST: info.host,
      DB01_PORT: String(info.port),
      DB01_USER: user,
      DB01_PASS_FILE: passFile,
      DB01_NAME: db,
      DB01_LABEL: 'maria',
      BACKUP_DIR: backupDir,
    },
  }
}

/**
 * `gunzip -c FILE | mariadb NEWDB`: what an operator types during an incident. `decode` is the
 * command before the pipe, with the file as "$1" and `env` for anything else it needs (an age
 * identity's path, say).
 */
export async function restoreWithPlainTools(
  file: string,
  newDb: string,
  decode = 'gunzip -c "$1"',
  env: Record<string, string> = {},
): Promise<void> {
  const info = mariadb()
  await rootQuery(`CREATE DATABASE \`${newDb}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`)
  await execa(
    'bash',
    [
      '-o',
      'pipefail',
      '-c',
      `${decode} | mariadb --protocol=TCP -h "$2" -P "$3" -u root "$4"`,
      'restore',
      file,
      info.host,
      String(info.port),
      newDb,
    ],
    { env },
  )
}

/** CHECKSUM TABLE of every base table of `db`, on the test's MariaDB or on `server`. */
export async function checksums(db: string, server: ServerInfo = mariadb()): Promise<Record<string, string>> {
  const tables = await rootQuery<{ name: string }[]>(
    "SELECT TABLE_NAME AS name FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_TYPE = 'BASE TABLE' ORDER BY TABLE_NAME",
    [db],
    undefined,
    server,
  )
  const out: Record<string, string> = {}
  for (const { name } of tables) {
    const [row] = await rootQuery<{ Checksum: string | number | null }[]>(
      `CHECKSUM TABLE \`${db}\`.\`${name.replace(/`/g, '``')}\``,
      [],
      undefined,
      server,
    )
    out[name] = String(row!.Checksum)
  }
  return out
}

/** The names of the database's code objects, by kind, for "present after restore". */
export async function codeObjects(db: string): Promise<Record<string, string[]>> {
  const names = async (sql: string) => (await rootQuery<{ n: string }[]>(sql, [db])).map((r) => r.n).sort()
  return {
    routines: await names(
      'SELECT CONCAT(ROUTINE_TYPE, " ", ROUTINE_NAME) AS n FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = ?',
    ),
    triggers: await names('SELECT TRIGGER_NAME AS n FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = ?'),
    views: await names('SELECT TABLE_NAME AS n FROM information_schema.VIEWS WHERE TABLE_SCHEMA = ?'),
    events: await names('SELECT EVENT_NAME AS n FROM information_schema.EVENTS WHERE EVENT_SCHEMA = ?'),
  }
}

export async function dropDatabases(...names: string[]): Promise<void> {
  for (const name of names) await rootQuery(`DROP DATABASE IF EXISTS \`${name}\``)
}
