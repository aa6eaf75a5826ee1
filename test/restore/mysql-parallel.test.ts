/**
 * A MySQL backup written one gzip member per table (engines/mysql/sections.ts) and restored over
 * several `mariadb` clients at once (engines/mysql/parallel-load.ts, restore/sections.ts), against
 * the private MariaDB: exact (every table's checksum, views, routines, triggers, events, foreign
 * keys between tables); mysqldump's section titles in a trigger's and a routine's bodies not cut;
 * the same file through `gunzip -c | mariadb`; a damaged member refused, the target untouched; a
 * client dying mid-load on a good backup: loaded again on one connection (refused when that fails
 * too); an older manifest without members restored on one client.
 */
import { chmod, mkdir, readFile, rm, writeFile } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { createHash } from 'node:crypto'
import { gunzipSync } from 'node:zlib'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  backupId,
  CHECKSUM_SUFFIX,
  dataFileName,
  MANIFEST_SUFFIX,
  parseDataFileName,
} from '../../src/catalog/naming.js'
import { encodeManifest, type Manifest } from '../../src/catalog/manifest.js'
import {
  checksums,
  codeObjects,
  dropDatabases,
  makeRichDatabase,
  mysqlEnv,
  restoreWithPlainTools,
  rootQuery,
} from '../backup/mysql-support.js'
import { uniqueName } from '../support/servers.js'
import { backupNow, cli, makeAdminUser, readManifest } from './support.js'

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex')

/** Foreign keys between tables, in both directions of the dump's (alphabetical) order, and a view over a view. */
const RELATED = `
CREATE TABLE zparent (id INT PRIMARY KEY, name VARCHAR(20));
INSERT INTO zparent SELECT seq, CONCAT('p', seq) FROM seq_1_to_2000;
CREATE TABLE achild (id INT PRIMARY KEY, parent INT NOT NULL, FOREIGN KEY (parent) REFERENCES zparent (id));
INSERT INTO achild SELECT seq, 1 + seq % 2000 FROM seq_1_to_30000;
CREATE TABLE mgrandchild (id INT PRIMARY KEY, child INT, FOREIGN KEY (child) REFERENCES achild (id) ON DELETE CASCADE);
INSERT INTO mgrandchild SELECT seq, seq FROM seq_1_to_10000;
CREATE VIEW child_names AS SELECT c.id, p.name FROM achild c JOIN zparent p ON p.id = c.parent;
CREATE VIEW child_count AS SELECT COUNT(*) AS n FROM child_names;
CREATE VIEW aa_first AS SELECT id FROM zparent WHERE id <= 10;
`
/**
 * mysqldump's own section title, framed as it writes it (a blank line, \`--\`, the title, \`--\`),
 * as comments in a trigger's body (inside the table's section, between \`DELIMITER ;;\` and
 * \`DELIMITER ;\`) and a routine's (in the tail): neither is a cut.
 */
const TITLED = `
CREATE TRIGGER zparent_titled BEFORE INSERT ON zparent FOR EACH ROW BEGIN

--
-- Table structure for table \`zparent\`
--

--
-- Dumping routines for database 'titled'
--
SET NEW.name = COALESCE(NEW.name, 'none'); END;
CREATE PROCEDURE titled() BEGIN

--
-- Table structure for table \`achild\`
--

SELECT 1; END;
`

describe('MySQL tables loaded in parallel (one gzip member per table)', () => {
  let db: string
  let dir: string
  let env: Record<string, string>
  let backupPath: string
  let manifest: Manifest
  let original: Record<string, string>
  let objects: Record<string, string[]>
  const plain = uniqueName('plain')
  const into = uniqueName('par_into')

  /**
   * A `mariadb` on PATH that logs each load it runs (not `--version`), then is the real client or
   * `behaviour`, with `n` its place in the log: the line of its own pid, not the log's length,
   * which clients started at once may all read after each other's append (none sees 2).
   */
  async function clientFixture(
    name: string,
    behaviour = 'exec /usr/bin/mariadb "$@"',
  ): Promise<{ path: string; log: string }> {
    const bin = join(dir, name)
    await mkdir(bin, { recursive: true })
    const log = join(bin, 'loads.log')
    await writeFile(
      join(bin, 'mariadb'),
      `#!/bin/sh
for arg in "$@"; do [ "$arg" = "--version" ] && exec /usr/bin/mariadb "$@"; done
echo $$ >> '${log}'
n=$(grep -nx "$$" '${log}' | cut -d: -f1)
${behaviour}
`,
    )
    await chmod(join(bin, 'mariadb'), 0o755)
    return { path: `${bin}:${process.env.PATH ?? ''}`, log }
  }
  const loads = async (log: string) => (await readFile(log, 'utf8').catch(() => '')).split('\n').filter(Boolean).length
  /** Databases loaded beside `name` still on the server. */
  const besides = async (name: string) =>
    (
      await rootQuery<{ n: string }[]>(
        'SELECT SCHEMA_NAME AS n FROM information_schema.SCHEMATA WHERE SCHEMA_NAME LIKE ?',
        [`${name.replace(/_/g, '\\_')}\\_dbkrestore\\_%`],
      )
    ).map((r) => r.n)

  beforeAll(async () => {
    ;({ db } = await makeRichDatabase(50_000))
    await rootQuery(RELATED, [], db)
    await rootQuery(TITLED, [], db)
    ;({ dir, env } = await mysqlEnv(db, await makeAdminUser()))
    original = await checksums(db)
    objects = await codeObjects(db)
    backupPath = (await backupNow(env))[0]!.path!
    manifest = await readManifest(backupPath)
  })
  afterAll(async () => {
    await dropDatabases(db, plain, into)
    await rm(dir, { recursive: true, force: true })
  })

  it('the backup is one gzip member per table, between the head and the tail, tiling the file', () => {
    const members = manifest.members!
    // texts, blobs, `weird table-name`, big, audit, zparent, achild, mgrandchild, and the stand-ins
    // of 4 views: aa_first sorts before every table, and must not be in the head (run on every client).
    expect(members.map((m) => m.kind)).toEqual(['head', ...Array<string>(12).fill('table'), 'tail'])
    expect(members.reduce((n, m) => n + m.size, 0)).toBe(manifest.compressed.size)
    expect(members.reduce((n, m) => n + m.raw.size, 0)).toBe(manifest.raw.size)
  })

  it("a trigger's and a routine's bodies holding mysqldump's section titles are not cut: each member starts at a title of its own", async () => {
    const file = await readFile(backupPath)
    const text = manifest.members!.map((m) => gunzipSync(file.subarray(m.offset, m.offset + m.size)).toString())
    for (const t of text.slice(1, -1)) expect(t).toMatch(/^-- (Table|Temporary table) structure for (table|view) `/)
    // mysqldump's frame: each member but the last ends with the blank line and the `--` before the next title.
    for (const t of text.slice(0, -1)) expect(t.endsWith('\n\n--\n')).toBe(true)
    const zparent = text.filter((t) => t.includes('zparent_titled'))
    expect(zparent).toHaveLength(1)
    expect(zparent[0]).toMatch(/^-- Table structure for table `zparent`\n--\n/)
    expect(text.at(-1)).toMatch(/^-- Dumping events for database /)
    expect(text.at(-1)).toContain('-- Table structure for table `achild`')
    expect(objects.triggers).toContain('zparent_titled')
    expect(objects.routines).toContain('PROCEDURE titled')
  })

  it('verify proves a sectioned file by its members, with nothing to warn about', async () => {
    const v = await cli(['verify', manifest.id, '--source', 'maria', '--json'], env)
    expect(v.exitCode, v.all).toBe(0)
    const [json] = JSON.parse(v.stdout) as { ok: boolean; warnings?: string[] }[]
    expect(json).toMatchObject({ ok: true })
    expect(json!.warnings).toBeUndefined()
  })

  it('restores in place exactly, over several clients at once: tables, views, routines, triggers, events, foreign keys', async () => {
    await rootQuery(`DELETE FROM \`${db}\`.mgrandchild WHERE id < 100; DROP VIEW \`${db}\`.child_count`, [])
    const fixture = await clientFixture('counting')
    const r = await cli(['restore', 'latest', '--source', 'maria', '--yes', '--no-safety-backup'], {
      ...env,
      PATH: fixture.path,
    })
    expect(r.exitCode, r.all).toBe(0)
    expect(r.stderr).toMatch(/verified as it loaded: sha256/)
    expect(r.all).not.toMatch(/loaded again on one connection/)
    // The tables on at least two clients, then the tail on one more.
    expect(await loads(fixture.log)).toBeGreaterThanOrEqual(3)
    expect(await checksums(db)).toEqual(original)
    expect(await codeObjects(db)).toEqual(objects)
    const [fk] = await rootQuery<{ n: number }[]>(
      'SELECT COUNT(*) AS n FROM information_schema.REFERENTIAL_CONSTRAINTS WHERE CONSTRAINT_SCHEMA = ?',
      [db],
    )
    expect(Number(fk!.n)).toBe(2)
    const [count] = await rootQuery<{ n: number }[]>(`SELECT n FROM \`${db}\`.child_count`)
    expect(Number(count!.n)).toBe(30_000)
    // The foreign keys hold and act: a cascade through the restored tables.
    await rootQuery(`DELETE FROM \`${db}\`.achild WHERE id = 1`)
    const [gone] = await rootQuery<{ n: number }[]>(`SELECT COUNT(*) AS n FROM \`${db}\`.mgrandchild WHERE child = 1`)
    expect(Number(gone!.n)).toBe(0)
    await expect(rootQuery(`INSERT INTO \`${db}\`.achild VALUES (999999, 999999)`)).rejects.toThrow(/foreign key/i)
    const again = await cli(['restore', 'latest', '--source', 'maria', '--yes', '--no-safety-backup'], env)
    expect(again.exitCode, again.all).toBe(0)
    expect(await checksums(db)).toEqual(original)
  })

  it('the same file restores through `gunzip -c | mariadb`', async () => {
    await restoreWithPlainTools(backupPath, plain)
    expect(await checksums(plain)).toEqual(original)
    expect(await codeObjects(plain)).toEqual(objects)
  })

  it('a damaged table member in a re-signed file is refused (by the proof of the content on one client): the target untouched, nothing beside it', async () => {
    // The file's sha256 and size made to match (manifest and sidecar re-signed): only the member's proof can catch it.
    const data = await readFile(backupPath)
    const big = manifest.members!.filter((m) => m.kind === 'table').sort((a, b) => b.size - a.size)[0]!
    const at = big.offset + Math.floor(big.size / 2)
    data[at] = data[at]! ^ 0xff
    const at_ = new Date(Date.parse(manifest.startedAt) + 3_600_000)
    const damagedId = backupId(manifest.database, at_)
    const parsed = parseDataFileName(manifest.file)!
    const name = dataFileName(manifest.database, at_, parsed.contentExt, parsed.compressionExt)
    const path = join(dirname(backupPath), name)
    const signed: Manifest = {
      ...manifest,
      id: damagedId,
      file: name,
      startedAt: at_.toISOString(),
      finishedAt: at_.toISOString(),
      compressed: { size: data.length, sha256: sha256(data) },
      locations: { local: path },
    }
    await writeFile(path, data)
    await writeFile(`${path}${CHECKSUM_SUFFIX}`, `${signed.compressed.sha256}  ${name}\n`)
    await writeFile(`${path}${MANIFEST_SUFFIX}`, encodeManifest(signed))
    try {
      const before = await checksums(db)
      const r = await cli(['restore', damagedId, '--source', 'maria', '--yes', '--no-safety-backup'], env)
      expect(r.exitCode, r.all).toBe(1)
      // The file is the (re-signed) manifest's, so the members are doubted first and the file is
      // loaded again on one client, whose proof of the content refuses it.
      expect(r.all).toMatch(/loaded again on one connection/)
      expect(r.stderr).toMatch(new RegExp(`backup ${damagedId} is damaged and was refused: .*nothing was changed`))
      expect(await checksums(db)).toEqual(before)
      expect(await besides(db)).toEqual([])
    } finally {
      for (const suffix of [MANIFEST_SUFFIX, CHECKSUM_SUFFIX, '']) await rm(`${path}${suffix}`, { force: true })
    }
  })

  it('members that do not describe a good file (the member table is ours to doubt): loaded again on one connection, exact', async () => {
    const manifestPath = `${backupPath}${MANIFEST_SUFFIX}`
    const saved = await readFile(manifestPath, 'utf8')
    // The file and its sha256 untouched; one member's recorded content hash wrong.
    const members = manifest.members!.map((m, i) => (i === 1 ? { ...m, raw: { ...m.raw, sha256: '0'.repeat(64) } } : m))
    await writeFile(manifestPath, encodeManifest({ ...manifest, members }))
    try {
      await rootQuery(`UPDATE \`${db}\`.zparent SET name = 'changed' WHERE id = 1`)
      const r = await cli(['restore', 'latest', '--source', 'maria', '--yes', '--no-safety-backup'], env)
      expect(r.exitCode, r.all).toBe(0)
      expect(r.all).toMatch(
        /the parallel load of backup .* was not proven: .*gzip member 2 of 14.*so it is loaded again on one connection/,
      )
      expect(r.stderr).toMatch(/verified as it loaded: sha256/)
      expect(await checksums(db)).toEqual(original)
      expect(await codeObjects(db)).toEqual(objects)
      expect(await besides(db)).toEqual([])
    } finally {
      await writeFile(manifestPath, saved)
    }
  })

  it('a member table whose boundaries are wrong, on a good file: verify proves the file and says a restore loads it on one connection', async () => {
    const manifestPath = `${backupPath}${MANIFEST_SUFFIX}`
    const saved = await readFile(manifestPath, 'utf8')
    // Still tiling the file, but the cut between members 2 and 3 ten bytes late.
    const members = manifest.members!.map((m, i) =>
      i === 1 ? { ...m, size: m.size + 10 } : i === 2 ? { ...m, offset: m.offset + 10, size: m.size - 10 } : m,
    )
    await writeFile(manifestPath, encodeManifest({ ...manifest, members }))
    try {
      const v = await cli(['verify', manifest.id, '--source', 'maria'], env)
      expect(v.exitCode, v.all).toBe(0)
      expect(v.stdout).toMatch(
        /^ok .*\n\s+warning: its manifest's table of gzip members does not describe the file \(gzip member 2 of 14 .*\); the file itself is proven, but a restore loads it on one connection/,
      )
      const vj = await cli(['verify', manifest.id, '--source', 'maria', '--json'], env)
      const [json] = JSON.parse(vj.stdout) as { ok: boolean; warnings?: string[] }[]
      expect(json!.ok).toBe(true)
      expect(json!.warnings).toHaveLength(1)
    } finally {
      await writeFile(manifestPath, saved)
    }
  })

  it('a client dying mid-load, on a backup proven good: loaded again on one connection, exact, with a warning, nothing beside', async () => {
    // The second load dies after 100 KiB of its input, as a client whose server went away.
    const fixture = await clientFixture(
      'dying',
      `if [ "$n" = 2 ]; then head -c 102400 > /dev/null; echo "ERROR 2013 (HY000) at line 40: Lost connection to server during query" >&2; exit 1; fi
exec /usr/bin/mariadb "$@"`,
    )
    await rootQuery(`UPDATE \`${db}\`.zparent SET name = 'changed' WHERE id = 1`)
    const r = await cli(['restore', 'latest', '--source', 'maria', '--yes', '--no-safety-backup'], {
      ...env,
      PATH: fixture.path,
    })
    expect(r.exitCode, r.all).toBe(0)
    expect(
      r.all.match(/the parallel load of backup .* failed: .*Lost connection.*so it is loaded again on one connection/g),
    ).toHaveLength(1)
    expect(r.stderr).toMatch(/verified as it loaded: sha256/)
    expect(await checksums(db)).toEqual(original)
    expect(await codeObjects(db)).toEqual(objects)
    expect(await besides(db)).toEqual([])
  })

  it('a client dying on the parallel load and again on the one-connection load: refused, nothing swapped, nothing beside it', async () => {
    const fixture = await clientFixture(
      'dying-again',
      `if [ "$n" -ge 2 ]; then head -c 102400 > /dev/null; echo "ERROR 2013 (HY000) at line 40: Lost connection to server during query" >&2; exit 1; fi
exec /usr/bin/mariadb "$@"`,
    )
    await rootQuery(`UPDATE \`${db}\`.zparent SET name = 'changed' WHERE id = 1`)
    const before = await checksums(db)
    const r = await cli(['restore', 'latest', '--source', 'maria', '--yes', '--no-safety-backup'], {
      ...env,
      PATH: fixture.path,
    })
    expect(r.exitCode, r.all).not.toBe(0)
    expect(r.all).toMatch(/loaded again on one connection/)
    expect(r.stderr).toMatch(/Lost connection.*was not changed/)
    expect(await checksums(db)).toEqual(before)
    expect(await besides(db)).toEqual([])
  })

  it('a backup whose manifest has no members (taken before them) is restored as one stream, on one client', async () => {
    const { members: _members, ...old } = manifest
    const manifestPath = `${backupPath}${MANIFEST_SUFFIX}`
    const saved = await readFile(manifestPath, 'utf8')
    await writeFile(manifestPath, encodeManifest(old))
    try {
      const fixture = await clientFixture('old')
      const r = await cli(['restore', manifest.id, '--source', 'maria', '--into', into, '--yes'], {
        ...env,
        PATH: fixture.path,
      })
      expect(r.exitCode, r.all).toBe(0)
      expect(await loads(fixture.log)).toBe(1)
      expect(await checksums(into)).toEqual(original)
      expect(await codeObjects(into)).toEqual(objects)
    } finally {
      await writeFile(manifestPath, saved)
    }
  })
})

/**
 * MariaDB adds a table's foreign-key children to what `LOCK TABLES parent WRITE` locks only if they
 * exist then: a child created by another client while the parent's INSERTs still run fails the
 * parent's next INSERT with ERROR 1100 ("Table 'child' was not locked with LOCK TABLES"). Sorted
 * largest first, the parent here is on a client of its own from the start, and its child, the
 * smallest table, is created by another client once a filler table is done, while the parent loads.
 * Loaded with mysqldump's lock lines, the parallel load failed and the file was loaded again on one
 * connection; without them (rewrite.ts, dropLocks) it loads in parallel.
 */
describe('MySQL parallel load: a foreign-key child created while its parent loads on another client', () => {
  let db: string
  let dir: string
  let env: Record<string, string>
  let original: Record<string, string>

  beforeAll(async () => {
    db = uniqueName('fkrace')
    await rootQuery(`CREATE DATABASE \`${db}\``)
    await rootQuery(
      `CREATE TABLE parent (id INT PRIMARY KEY, pad VARCHAR(120));
       INSERT INTO parent SELECT seq, REPEAT(MD5(seq), 3) FROM seq_1_to_200000;
       CREATE TABLE filler1 (id INT PRIMARY KEY, pad VARCHAR(40)); INSERT INTO filler1 SELECT seq, MD5(seq) FROM seq_1_to_20000;
       CREATE TABLE filler2 LIKE filler1; INSERT INTO filler2 SELECT * FROM filler1;
       CREATE TABLE filler3 LIKE filler1; INSERT INTO filler3 SELECT * FROM filler1;
       CREATE TABLE filler4 LIKE filler1; INSERT INTO filler4 SELECT * FROM filler1;
       CREATE TABLE zchild (id INT PRIMARY KEY, parent INT, FOREIGN KEY (parent) REFERENCES parent (id));
       INSERT INTO zchild VALUES (1, 1), (2, 2);`,
      [],
      db,
    )
    ;({ dir, env } = await mysqlEnv(db, await makeAdminUser()))
    original = await checksums(db)
    await backupNow(env)
  })
  afterAll(async () => {
    await dropDatabases(db)
    await rm(dir, { recursive: true, force: true })
  })

  it('restores on several clients at once, exact, without falling back to one connection', async () => {
    await rootQuery(`DELETE FROM \`${db}\`.zchild WHERE id = 2`)
    const r = await cli(['restore', 'latest', '--source', 'maria', '--yes', '--no-safety-backup'], env)
    expect(r.exitCode, r.all).toBe(0)
    expect(r.all).not.toMatch(/ERROR 1100|loaded again on one connection/)
    expect(r.stderr).toMatch(/verified as it loaded: sha256/)
    expect(await checksums(db)).toEqual(original)
    await expect(rootQuery(`INSERT INTO \`${db}\`.zchild VALUES (3, 999999)`)).rejects.toThrow(/foreign key/i)
  })
})
