/**
 * The pure and small parts of restore: the after-restore check, the dump comparison, expiry of
 * safety backups, locating a backup (and the S3 seam), confirmation, the client's verdict, names,
 * and the two settings.
 */
import { mkdtemp, mkdir, readdir, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { listBackups, type BackupEntry as RemoteEntry, type CatalogEntry } from '../../src/catalog/catalog.js'
import { LocalTarget } from '../../src/storage/local/target.js'
import { encodeManifest, type Manifest } from '../../src/catalog/manifest.js'
import { CHECKSUM_SUFFIX, MANIFEST_SUFFIX, databaseDir } from '../../src/catalog/naming.js'
import { ConfigError, parseConfig } from '../../src/config/index.js'
import { compareTables, describeCheck, tolerance } from '../../src/restore/check.js'
import { compareDumps, DumpLineFilter } from '../../src/restore/compare.js'
import { confirm, requireConfirmable } from '../../src/restore/confirm.js'
import { lockPath } from '../../src/catalog/lock.js'
import { findBackup, findSource, locateBackup, onVolume, type RemoteBackups } from '../../src/restore/locate.js'
import { ServerIdentity } from '../../src/engines/mysql/binlog-replay.js'
import { judgeClient } from '../../src/engines/mysql/errors.js'
import { backupFacts } from '../../src/restore/content.js'
import { isScratchName, parseScratchName, scratchName } from '../../src/restore/scratch.js'
import { mysqlExtraOptsOf } from '../../src/engines/mysql/redump.js'
import { expiredSafetyBackups, pruneSafetyBackups } from '../../src/restore/safety-prune.js'
import type { Logger } from '../../src/runtime/logger.js'
import { fakeEntry, fakeManifest } from '../support/backups.js'

const lines = (text: string, chunk = 3) =>
  Readable.from(
    Buffer.from(text)
      .toString('latin1')
      .match(new RegExp(`[\\s\\S]{1,${chunk}}`, 'g'))!
      .map((s) => Buffer.from(s, 'latin1')),
  )

describe('the check after a restore', () => {
  it('exact counts (SQLite) must be equal; a missing table always fails', () => {
    const r = compareTables(
      [
        { name: 'a', rows: 3 },
        { name: 'b', rows: 0 },
        { name: 'gone', rows: 1 },
      ],
      [
        { name: 'a', rows: 3 },
        { name: 'b', rows: 1 },
      ],
      true,
    )
    expect(r.ok).toBe(false)
    expect(r.problems).toEqual(['table b has 1 rows, the backup has 0', 'table gone is missing'])
  })

  it('estimates (MySQL, PostgreSQL): only far fewer rows than estimated fails', () => {
    expect(tolerance(10)).toBe(1000)
    expect(tolerance(100_000)).toBe(50_000)
    const check = (expected: number, actual: number) =>
      compareTables([{ name: 't', rows: expected }], [{ name: 't', rows: actual }], false).ok
    expect(check(0, 3000)).toBe(true) // never analysed: PostgreSQL says 0
    expect(check(500, 0)).toBe(true) // small tables: estimates are too rough to judge
    expect(check(100_000, 60_000)).toBe(true)
    expect(check(100_000, 40_000)).toBe(false)
    expect(check(100_000, 0)).toBe(false)
    expect(check(100_000, 900_000)).toBe(true)
  })

  it("a partitioned table is checked by its partitions' rows, and its rows are not added to the total twice", () => {
    const expected = [
      { name: 'p', rows: 12_000 },
      { name: 'p_1', rows: 5000 },
      { name: 'p_2', rows: 7000 },
    ]
    const counted = [
      { name: 'p', rows: 12_000, inPartitions: true },
      { name: 'p_1', rows: 5000 },
      { name: 'p_2', rows: 7000 },
    ]
    const r = compareTables(expected, counted, false)
    expect(r.ok).toBe(true)
    expect(describeCheck(r)).toMatch(/^check ok: 3 tables, 12,000 rows/)
    // An old manifest that recorded the parent as 0 (never analysed) passes as well.
    expect(compareTables([{ name: 'p', rows: 0 }], counted, false).ok).toBe(true)
  })
})

describe('comparing dumps', () => {
  it('ignores comments, blank lines and \\restrict keys, but not data that looks like a comment', async () => {
    const a = '-- dumped on monday\nCREATE TABLE t;\n\\restrict abc\nCOPY t (v) FROM stdin;\n-- data\n\\.\n'
    const b = '-- dumped on tuesday\n\nCREATE TABLE t;\n\\restrict xyz\nCOPY t (v) FROM stdin;\n-- data\n\\.\n-- end\n'
    expect(await compareDumps(lines(a), lines(b, 1))).toEqual({ lines: 4 })
    const c = b.replace('-- data\n', '-- DATA\n')
    expect((await compareDumps(lines(a), lines(c))).difference).toEqual({
      line: 5,
      expected: '-- data',
      actual: '-- DATA',
    })
  })

  it("reports the first difference with the backup's line number, and a shorter side", async () => {
    const emoji = 'INSERT 🦆 1;\nINSERT 2;\n'
    expect(await compareDumps(lines(emoji, 2), lines(emoji, 5))).toEqual({ lines: 2 })
    expect((await compareDumps(lines(`-- c\n${emoji}`), lines('INSERT 🦆 1;\n'))).difference).toEqual({
      line: 3,
      expected: 'INSERT 2;',
      actual: '(end of the re-dump)',
    })
  })

  it('a COPY block ends at \\.', () => {
    const f = new DumpLineFilter()
    expect(['COPY a FROM stdin;', '-- x', '\\.', '-- y'].map((l) => f.accept(l))).toEqual([true, true, true, false])
  })
})

describe('safety backups and locating backups', () => {
  let dir: string
  const now = new Date('2026-03-20T12:00:00Z')
  const write = async (database: string, at: string, kind: Manifest['kind']) => {
    const m = { ...fakeManifest('app', database, new Date(at)), kind }
    const d = databaseDir(dir, 'app', database)
    await mkdir(d, { recursive: true })
    await writeFile(join(d, m.file), Buffer.alloc(m.compressed.size))
    await writeFile(join(d, `${m.file}${CHECKSUM_SUFFIX}`), `${m.compressed.sha256}  ${m.file}\n`)
    await writeFile(join(d, `${m.file}${MANIFEST_SUFFIX}`), encodeManifest(m))
    return m
  }
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'dbk-restore-units-'))
  })
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  it('only pre-restore backups older than SAFETY_KEEP_DAYS expire, all three files removed', async () => {
    const old = await write('shop', '2026-03-10T00:00:00Z', 'pre-restore')
    await write('shop', '2026-03-19T00:00:00Z', 'pre-restore')
    await write('shop', '2026-01-01T00:00:00Z', 'backup')
    const entry = (m: Manifest, problem?: string): CatalogEntry => ({
      ...fakeEntry('app', 'shop', new Date()),
      manifest: m,
      ...(problem ? { problem } : {}),
    })
    expect(expiredSafetyBackups([entry(old), entry(old, 'the data file is missing')], 7, now)).toHaveLength(1)
    const removed = await pruneSafetyBackups(dir, 7, now)
    expect(removed.map((p) => p.split('/').at(-1))).toEqual([old.file])
    const left = await readdir(databaseDir(dir, 'app', 'shop'))
    expect(left.filter((n) => n.startsWith(old.file))).toEqual([])
    expect(left).toHaveLength(6)
  })

  it('latest is the newest proven backup, never a safety backup; several databases need --database', async () => {
    const config = parseConfig({ BACKUP_DIR: dir, DB01_TYPE: 'sqlite', DB01_PATH: '/data/app.db', DB01_LABEL: 'app' })
    const source = findSource(config, 'DB01')
    const newest = await write('shop', '2026-03-19T06:00:00Z', 'backup')
    await write('shop', '2026-03-19T07:00:00Z', 'pre-restore')
    expect((await locateBackup(config, { source, ref: 'latest', database: 'shop' })).manifest.id).toBe(newest.id)
    await write('crm', '2026-03-19T00:00:00Z', 'backup')
    await expect(locateBackup(config, { source, ref: 'latest' })).rejects.toMatchObject({
      code: 'USAGE',
      message: expect.stringContaining('crm, shop'),
    })
    await expect(locateBackup(config, { source, ref: 'nope' })).rejects.toMatchObject({
      code: 'NOT_FOUND',
      hint: expect.stringContaining('S3_BUCKET'),
    })
    expect(() => findSource(config, 'other')).toThrow(/unknown source "other"/)
  })

  it('the off-site seam: an id not on the volume, and latest when off-site is newer; fetched under the lock', async () => {
    const config = parseConfig({ BACKUP_DIR: dir, DB01_TYPE: 'sqlite', DB01_PATH: '/data/app.db', DB01_LABEL: 'app' })
    const source = findSource(config, 'app')
    const onDisk = (await listBackups(dir, { source: 'app', database: 'shop' })).filter(
      (e) => e.manifest.kind === 'backup',
    )[0]!
    const remoteEntry = (m: Manifest, problem?: string): RemoteEntry => ({
      manifest: m,
      target: new LocalTarget(dir),
      dataKey: `app/shop/${m.file}`,
      manifestKey: `app/shop/${m.file}${MANIFEST_SUFFIX}`,
      checksumKey: '',
      size: m.compressed.size,
      ...(problem ? { problem } : {}),
    })
    const older = remoteEntry(fakeManifest('app', 'shop', new Date('2026-03-18T00:00:00Z')))
    const same = remoteEntry(onDisk.manifest)
    const newer = remoteEntry(fakeManifest('app', 'shop', new Date('2026-03-19T09:00:00Z')))
    const damaged = remoteEntry(
      fakeManifest('app', 'shop', new Date('2026-03-01T00:00:00Z')),
      'the data object is missing',
    )
    let offsite: RemoteEntry[] = [same, older, damaged]
    const fetched: string[] = []
    let lockedDuringFetch = false
    const remote: RemoteBackups = {
      description: 's3://b/p/',
      list: async (s, d) =>
        offsite.length === 0
          ? Promise.reject(new Error('connect ECONNREFUSED'))
          : offsite.filter((e) => e.manifest.source === s && (d === undefined || e.manifest.database === d)),
      url: (e) => `s3://b/p/${e.dataKey}`,
      fetch: async (e) => {
        fetched.push(e.manifest.id)
        lockedDuringFetch = await stat(lockPath(dir)).then(
          () => true,
          () => false,
        )
        return { ...fakeEntry('app', 'shop', now), manifest: e.manifest }
      },
    }
    const opts = { remote }
    const q = { source, ref: 'latest', database: 'shop' }
    // Both places hold the same newest backup (or an older one off-site): the volume's.
    expect(await findBackup(config, q, opts)).toMatchObject({
      entry: { manifest: { id: onDisk.manifest.id } },
      note: expect.stringContaining('on the volume; none newer off-site'),
    })
    // The volume was restored from an old snapshot: the newer off-site backup wins.
    offsite = [newer, same, older]
    const found = await findBackup(config, q, opts)
    expect(found.entry).toBeUndefined()
    expect(found.manifest.id).toBe(newer.manifest.id)
    expect(found.note).toContain(`newer backup of app/shop than the volume: ${newer.manifest.id}`)
    expect(found.note).toContain(`the volume's newest is ${onDisk.manifest.id}`)
    expect(fetched).toEqual([])
    expect((await onVolume(config, found, {})).manifest.id).toBe(newer.manifest.id)
    expect([fetched, lockedDuringFetch]).toEqual([[newer.manifest.id], true])
    expect(
      await stat(lockPath(dir)).then(
        () => true,
        () => false,
      ),
    ).toBe(false)
    // An id only off-site; a damaged off-site copy is refused before anything is downloaded.
    expect((await findBackup(config, { source, ref: older.manifest.file }, opts)).remote?.url).toBe(
      `s3://b/p/app/shop/${older.manifest.file}`,
    )
    offsite = [damaged]
    await expect(findBackup(config, { source, ref: damaged.manifest.id }, opts)).rejects.toMatchObject({
      code: 'VERIFY_FAILED',
      message: expect.stringContaining('damaged'),
    })
    await expect(findBackup(config, { source, ref: 'nope' }, opts)).rejects.toMatchObject({
      code: 'NOT_FOUND',
      message: expect.stringContaining('s3://b/p/'),
    })
    // S3 unreachable: the volume's newest, with a warning; nothing on the volume: the listing's error.
    offsite = []
    const warnings: string[] = []
    const logger = { warn: (_o: unknown, msg: string) => warnings.push(msg) } as unknown as Logger
    expect((await findBackup(config, q, { remote, logger })).entry?.manifest.id).toBe(onDisk.manifest.id)
    expect(warnings).toEqual([expect.stringContaining('ECONNREFUSED')])
    await expect(findBackup(config, { ...q, database: 'gone' }, { remote, logger })).rejects.toThrow(
      /no proven backup of app\/gone .*cannot be listed.*ECONNREFUSED/,
    )
  })
})

describe('small pieces', () => {
  const source = parseConfig({ BACKUP_DIR: '/backups', DB01_TYPE: 'mariadb', DB01_HOST: 'db', DB01_NAME: 'shop' })
    .sources[0]!
  const exit = (stderr: string, exitCode = 1) => ({ exitCode, signal: undefined, stderr, inputError: undefined })

  it("the client's verdict names the failing line, the cause and the way back", () => {
    expect(judgeClient(source, 'mariadb', exit('', 0), 'db x', 'back')).toBeUndefined()
    const sqlError = judgeClient(
      source,
      'mariadb',
      exit('ERROR 1064 (42000) at line 12: You have an error in your SQL syntax'),
      'db x',
      'restore the safety backup',
    )!
    expect(sqlError).toMatchObject({
      code: 'RESTORE_FAILED',
      message:
        'mariadb stopped at the first failing statement at line 12 of the dump, restoring into db x: ERROR 1064 (42000) at line 12: You have an error in your SQL syntax',
    })
    expect(sqlError.hint).toContain("sed -n '12p'")
    expect(
      judgeClient(
        source,
        'mariadb',
        exit("ERROR 1045 (28000): Access denied for user 'u'@'h' (using password: YES)"),
        'db x',
        '',
      )?.code,
    ).toBe('AUTH')
    expect(
      judgeClient(
        source,
        'mariadb',
        exit(
          'ERROR 1227 (42000) at line 80: Access denied; you need (at least one of) the SUPER, SET USER privilege(s)',
        ),
        'db x',
        '',
      )?.code,
    ).toBe('PRIVILEGE')
    // A statement over max_allowed_packet: MySQL's 1153, MariaDB's closed connection at the line.
    for (const stderr of [
      "ERROR 1153 (08S01) at line 39: Got a packet bigger than 'max_allowed_packet' bytes",
      'ERROR 2006 (HY000) at line 39: Server has gone away',
    ]) {
      const tooLong = judgeClient(source, 'mariadb', exit(stderr), 'db x', 'back')!
      expect(tooLong.code).toBe('RESTORE_FAILED')
      expect(tooLong.message).toMatch(/at line 39 of the dump.*max_allowed_packet/)
      expect(tooLong.hint).toContain("awk 'NR >= 39 { n += length($0) + 1 } NR >= 39 && /;$/ { print n; exit }'")
      expect(tooLong.hint).toContain('SET GLOBAL max_allowed_packet = 1073741824')
    }
    // The commands read the backup as it was written (BackupFacts.readWith): a zstd file with zstd.
    const m = fakeManifest('app', 'shop', new Date('2026-12-01T03:00:00Z'))
    expect(backupFacts(m).readWith).toBe('gzip -dc FILE')
    expect(backupFacts({ ...m, compression: { kind: 'zstd', level: 3 } }).readWith).toBe('zstd -dc FILE')
    const zstd = judgeClient(
      source,
      'mariadb',
      exit('ERROR 2006 (HY000) at line 39: Server has gone away'),
      'db x',
      '',
      { readWith: 'zstd -dc FILE' },
    )!
    expect(zstd.hint).toContain("zstd -dc FILE | LC_ALL=C awk 'NR >= 39")
    expect(zstd.hint).not.toContain('gzip')
    expect(
      judgeClient(source, 'mariadb', exit('ERROR 1064 (42000) at line 12: syntax'), 'db x', '', {
        readWith: 'zstd -dc FILE',
      })!.hint,
    ).toContain("zstd -dc FILE | sed -n '12p'")
    // A connection of the parallel load was fed the head and some tables: its line is not the dump's,
    // and no command looks it up in the file.
    for (const stderr of [
      'ERROR 1064 (42000) at line 12: syntax',
      'ERROR 2006 (HY000) at line 12: Server has gone away',
    ]) {
      const part = judgeClient(source, 'mariadb', exit(stderr), 'db x', '', { part: true })!
      expect(part.message).toContain("at line 12 of this connection's input")
      expect(part.message).not.toContain('of the dump')
      expect(part.hint).not.toMatch(/sed -n|awk|undefined/)
    }
    // The binlog replay's line is a line of what mariadb-binlog prints: the same command shows it,
    // and the dump's promise (a size recorded at backup time) is not made for it.
    const replay = judgeClient(
      source,
      'mariadb (replaying the binlog)',
      exit('ERROR 1153 (08S01) at line 31: Got a packet bigger than'),
      'db x',
      'not put in place',
      {
        name: 'the binlog as mariadb-binlog decodes it',
        readWith: "TZ=UTC mariadb-binlog --database=app '/b/binlog.000001'",
      },
    )!
    expect(replay.message).toContain('at line 31 of the binlog as mariadb-binlog decodes it')
    expect(replay.message).not.toContain('of the dump')
    expect(replay.hint).toContain("TZ=UTC mariadb-binlog --database=app '/b/binlog.000001' | LC_ALL=C awk 'NR >= 31")
    expect(replay.hint).not.toMatch(/gzip|backups taken by this version/)
    // Gone away with no line: the connection, not a statement.
    expect(
      judgeClient(source, 'mariadb', exit('ERROR 2006 (HY000): Server has gone away'), 'db x', '')?.message,
    ).toMatch(/stopped at the first failing statement/)
    expect(
      judgeClient(source, 'mariadb', { ...exit(''), inputError: new Error('unexpected end of file') }, 'db x', '')
        ?.message,
    ).toContain('could not be read')
  })

  it("the binlog replay's stream loses the original GTID lines, wherever the chunks are cut", async () => {
    const decoded = [
      '# at 875',
      '#261207 20:55:48 server id 1  end_log_pos 917 CRC32 0x2738357b \tGTID 0-1-4 trans',
      '/*M!100101 SET @@session.skip_parallel_replication=0*//*!*/;',
      '/*M!100001 SET @@session.gtid_domain_id=0*//*!*/;',
      '/*M!100001 SET @@session.server_id=1*//*!*/;',
      '/*M!100001 SET @@session.gtid_seq_no=4*//*!*/;',
      'START TRANSACTION',
      '/*!*/;',
      "SET @v = '/*M!100001 SET @@session.gtid_seq_no=9*//*!*/;'/*!*/;",
      "BINLOG '",
      'yY5VaRMBAAAAMAAAAPoAAAAAABMAAAAAAAEAA2FwcAABdAACA/wA',
      "'/*!*/;",
      '/*M!100001 SET @@session.gtid_seq_no=5*//*!*/;',
      'COMMIT/*!*/;',
      '',
    ].join('\n')
    const expected = decoded
      .split('\n')
      .filter((l) => !/^\/\*M!100001 SET @@session\.(gtid_domain_id|server_id|gtid_seq_no)=/.test(l))
      .join('\n')
    expect(expected).toContain('skip_parallel_replication')
    expect(expected).toContain("SET @v = '/*M!100001 SET @@session.gtid_seq_no=9")
    const bytes = Buffer.from(decoded)
    for (let cut = 1; cut < bytes.length; cut += 7) {
      const chunks: Buffer[] = []
      for (let i = 0; i < bytes.length; i += cut) chunks.push(bytes.subarray(i, i + cut))
      const out: Buffer[] = []
      for await (const part of Readable.from(chunks).pipe(new ServerIdentity())) out.push(part as Buffer)
      expect(Buffer.concat(out).toString(), `chunks of ${cut}`).toBe(expected)
    }
  })

  it('confirmation: --yes, or "yes" on a terminal; nothing else', async () => {
    expect(() => requireConfirmable({ yes: false, interactive: false }, 'restoring')).toThrow(
      expect.objectContaining({ code: 'USAGE' }),
    )
    await confirm('plan', { yes: true, interactive: false, ask: () => Promise.reject(new Error('must not ask')) })
    await confirm('plan', { yes: false, interactive: true, ask: async () => ' YES ' })
    await expect(confirm('plan', { yes: false, interactive: true, ask: async () => 'y' })).rejects.toMatchObject({
      code: 'ABORTED',
    })
  })

  it("names: the aside database fits in 63 bytes; the backup's own mysqldump options", () => {
    const name = scratchName('ä'.repeat(60), 'dbkrestore')
    expect(Buffer.byteLength(name)).toBeLessThanOrEqual(63)
    expect(name).toMatch(/^ä+_dbkrestore_[0-9a-f]{8}$/)
    const m = {
      ...fakeManifest('a', 'shop', new Date()),
      tool: {
        name: 'mysqldump',
        version: '10.19',
        options: ['--single-transaction', '--quick', '--hex-blob', '--ignore-table=shop.log', '--', 'shop'],
      },
    }
    expect(mysqlExtraOptsOf(m)).toEqual(['--ignore-table=shop.log'])
  })

  it('scratch names: made and recognised in one place; a drill name needs our prefix', () => {
    expect(parseScratchName(scratchName('dbkeeper', 'drill'))).toEqual({ target: 'dbkeeper', tag: 'drill' })
    expect(parseScratchName(scratchName('shop', 'dbkold'))).toEqual({ target: 'shop', tag: 'dbkold' })
    expect(parseScratchName(scratchName('shop_x', 'dbkrestore'))).toEqual({ target: 'shop_x', tag: 'dbkrestore' })
    for (const other of [
      'shop',
      'shop_drill_0123abcd',
      'dbkeeper_drill_0123ABCD',
      'dbkeeper_drill_0123abc',
      'x_dbkold_0123abcdef',
    ]) {
      expect(isScratchName(other)).toBe(false)
    }
  })

  it('SAFETY_KEEP_DAYS and DRILL_SCHEDULE', () => {
    const base = { BACKUP_DIR: '/backups', DB01_TYPE: 'sqlite', DB01_PATH: '/data/app.db' }
    expect(parseConfig(base).restore).toEqual({ safetyKeepDays: 7, drillSchedule: undefined })
    expect(parseConfig({ ...base, SAFETY_KEEP_DAYS: '30', DRILL_SCHEDULE: '30 4 * * 0' }).restore).toEqual({
      safetyKeepDays: 30,
      drillSchedule: '30 4 * * 0',
    })
    try {
      parseConfig({ ...base, SAFETY_KEEP_DAYS: '0', DRILL_SCHEDULE: 'sometimes' })
      expect.unreachable()
    } catch (error) {
      expect((error as ConfigError).problems.map((p) => p.variable)).toEqual(['SAFETY_KEEP_DAYS', 'DRILL_SCHEDULE'])
    }
  })
})
