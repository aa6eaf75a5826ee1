/**
 * Retention of a MySQL source's binlog archive (src/retention/binlog.ts) over real binlog files of a
 * private MariaDB (`--log-bin`), laid out as the archiver leaves them: the files of an older
 * numbering (before RESET MASTER) beside the files numbered anew from 1, a gap recorded between.
 * What no base inside PITR_WINDOW needs goes, in the archive's run order (never by number); the
 * growing file and what follows the first needed base stay; without a base nothing goes; and the
 * readers (MysqlArchive.state and prove) see the archive start where retention left it.
 */
import { createHash } from 'node:crypto'
import { mkdir, readdir, readFile, utimes, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import mysql from 'mysql2/promise'
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { binlogArchiveDir } from '../../src/catalog/naming.js'
import { parseConfig } from '../../src/config/index.js'
import { MysqlArchive } from '../../src/engines/mysql/archive.js'
import { appendIndex, readIndex } from '../../src/engines/mysql/binlog-archive.js'
import { startingPoint } from '../../src/engines/mysql/binlog-archiver.js'
import { applyRetentionAfterBackup } from '../../src/pipeline/retention-step.js'
import { pruneBinlogArchive } from '../../src/retention/binlog.js'
import { startMariadb } from '../support/mariadb-server.js'
import type { RunningServer } from '../support/servers.js'
import { captureLogger } from '../support/logs.js'
import { makeTempDir, writeBackup } from './helpers.js'

const DAY = 86_400_000
let server: RunningServer & { binlogDir?: string }
/** The older numbering's files (before RESET MASTER) and the new one's, as copied from the server. */
let older: { file: string; bytes: Buffer }[] = []
let newer: { file: string; bytes: Buffer }[] = []

const names = async (c: mysql.Connection) =>
  ((await c.query('SHOW BINARY LOGS'))[0] as { Log_name: string }[]).map((l) => l.Log_name)

beforeAll(async () => {
  server = await startMariadb({ binlog: {} })
  const c = await mysql.createConnection({ host: server.info.host, port: server.info.port, user: server.info.user })
  const read = async (files: string[]) =>
    Promise.all(files.map(async (file) => ({ file, bytes: await readFile(join(server.binlogDir!, file)) })))
  try {
    await c.query('CREATE DATABASE app')
    await c.query('CREATE TABLE app.t (id INT AUTO_INCREMENT PRIMARY KEY, v VARCHAR(40))')
    for (let i = 0; i < 4; i++) {
      await c.query('INSERT INTO app.t (v) VALUES (UUID())')
      await c.query('FLUSH BINARY LOGS')
    }
    // The archive began at the third file: 3, 4, 5 of the older numbering.
    older = await read((await names(c)).slice(2))
    await c.query('RESET MASTER')
    await c.query('INSERT INTO app.t (v) VALUES (UUID())')
    await c.query('FLUSH BINARY LOGS')
    await c.query('INSERT INTO app.t (v) VALUES (UUID())')
    newer = await read(await names(c))
  } finally {
    await c.end()
  }
}, 90_000)
afterAll(() => server?.stop())

let tmp: { path: string; remove(): Promise<void> }
let dir: string
const NOW = new Date()

beforeEach(async () => {
  tmp = await makeTempDir()
  dir = binlogArchiveDir(tmp.path, 'shop')
  await mkdir(dir, { recursive: true })
  // Written as the archiver writes them: the older numbering first, then (after the gap) the new one.
  const lay = async (files: { file: string; bytes: Buffer }[], writtenAt: number, closed: boolean) => {
    for (const [i, f] of files.entries()) {
      const path = join(dir, f.file)
      await writeFile(path, f.bytes)
      const t = new Date(writtenAt + i * 1000)
      await utimes(path, t, t)
      if (closed || i < files.length - 1) {
        const sha256 = createHash('sha256').update(f.bytes).digest('hex')
        await appendIndex(dir, {
          kind: 'closed',
          file: f.file,
          size: f.bytes.length,
          sha256,
          provenAt: t.toISOString(),
        })
      }
    }
  }
  await lay(older, NOW.getTime() - 60_000, true)
  await appendIndex(dir, {
    kind: 'gap',
    after: older.at(-1)!.file,
    resumedAt: newer[0]!.file,
    detectedAt: NOW.toISOString(),
    reason: 'the server no longer has it (RESET MASTER?)',
  })
  await lay(newer, NOW.getTime() - 10_000, false)
})
afterEach(() => tmp.remove())

const binlogsLeft = async () => (await readdir(dir)).filter((f) => /\.\d{6}$/.test(f)).sort()
const source = { label: 'shop', engine: 'mysql' as const, pitr: true }
const base = (daysAgo: number, file: string, database = 'app') =>
  writeBackup(tmp.path, 'shop', database, new Date(NOW.getTime() - daysAgo * DAY), { binlog: { file, position: 4 } })

describe('pruneBinlogArchive', () => {
  it('removes nothing from a source without a base having binlog coordinates', async () => {
    await writeBackup(tmp.path, 'shop', 'app', new Date(NOW.getTime() - 9 * DAY))
    const { logger } = captureLogger()
    const out = await pruneBinlogArchive({ backupDir: tmp.path, source, now: NOW, windowMs: 2 * DAY, logger })
    expect(out.removed).toEqual([])
    expect(await binlogsLeft()).toHaveLength(older.length + newer.length)
  })

  it('removes the files before the window base, in run order; the readers start where it left', async () => {
    const [o3, o4, o5] = older.map((f) => f.file)
    // Out of the window (9 days), the window's base (3 days: a restore to now − 2 d starts from it), a later one.
    await base(9, o3!)
    await base(3, o4!)
    await base(1, newer[0]!.file)
    const { logger, lines } = captureLogger()
    const out = await pruneBinlogArchive({ backupDir: tmp.path, source, now: NOW, windowMs: 2 * DAY, logger })
    expect(out).toEqual({ removed: [o3], startsAt: o4 })
    expect(await binlogsLeft()).toEqual([...newer.map((f) => f.file), o4, o5].sort())
    expect((await readIndex(dir)).filter((e) => e.kind === 'removed').map((e) => e.file)).toEqual([o3])
    expect(lines().find((l) => String(l.msg).includes('binlog archive of shop: removed 1 file(s)'))).toBeDefined()
    // The readers: the archive starts at the base's file now, its older numbering still before the new one.
    const state = await new MysqlArchive(dir).state(NOW)
    expect(state.ranges.map((r) => r.base)).toEqual([o4, newer[0]!.file])
    expect((await new MysqlArchive(dir).prove([o4!, o5!])).proven).toEqual([o4, o5])
    // Again: nothing more goes.
    expect(
      (await pruneBinlogArchive({ backupDir: tmp.path, source, now: NOW, windowMs: 2 * DAY, logger })).removed,
    ).toEqual([])
  })

  it('removes no file proven after the window base, however the modification times lie (a volume copied without them)', async () => {
    const [o3, o4, o5] = older.map((f) => f.file)
    await base(1, o4!)
    // o5 looks oldest, o4 newest: the run order, which falls back on the times, would put o5 first.
    for (const [f, ago] of [
      [o5!, 300_000],
      [o3!, 200_000],
      [o4!, 100_000],
    ] as const) {
      const t = new Date(NOW.getTime() - ago)
      await utimes(join(dir, f), t, t)
    }
    const { logger } = captureLogger()
    const out = await pruneBinlogArchive({ backupDir: tmp.path, source, now: NOW, windowMs: 2 * DAY, logger })
    expect(out.removed.filter((f) => f !== o3)).toEqual([])
    expect(await binlogsLeft()).toEqual(expect.arrayContaining([o4, o5, ...newer.map((f) => f.file)]))
  })

  it('never compares numbers across RESET MASTER: a base in the new numbering removes the whole older one, never the growing file', async () => {
    // By number, binlog.000001 (new) would come first and the older 3..5 look like what follows it.
    await base(9, older[0]!.file)
    await base(3, newer[0]!.file)
    await base(1, newer[0]!.file)
    const config = parseConfig({
      BACKUP_DIR: tmp.path,
      DB01_TYPE: 'mysql',
      DB01_HOST: '127.0.0.1',
      DB01_NAME: 'app',
      DB01_LABEL: 'shop',
      DB01_KEEP_LAST: '1',
      DB01_PITR: 'true',
      PITR_WINDOW: '2d',
    })
    const { logger } = captureLogger()
    // Through the run's retention step: the 9-day base goes (the 3-day one is the window's), then the binlog it needed.
    const out = await applyRetentionAfterBackup({ config, source: config.sources[0]!, database: 'app', logger })
    expect(out).toMatchObject({ ok: true })
    expect(out.removed).toHaveLength(1)
    expect(await binlogsLeft()).toEqual(newer.map((f) => f.file))
    const state = await new MysqlArchive(dir).state(NOW)
    expect(state.ranges.map((r) => r.base)).toEqual([newer[0]!.file])
  })

  it('keeps what the oldest needed base of any database needs', async () => {
    await base(3, older[2]!.file, 'app')
    await base(3, older[1]!.file, 'crm')
    const { logger } = captureLogger()
    const out = await pruneBinlogArchive({ backupDir: tmp.path, source, now: NOW, windowMs: 2 * DAY, logger })
    expect(out.removed).toEqual([older[0]!.file])
  })

  it('an archiver restarted after RESET MASTER resumes at the newest run, not at the highest number (no false gap)', async () => {
    const server = {
      current: { file: newer.at(-1)!.file, position: newer.at(-1)!.bytes.length },
      files: newer.map((f) => ({ file: f.file, size: f.bytes.length })),
    }
    expect(await startingPoint(dir, server, NOW)).toEqual({ file: newer.at(-1)!.file, gap: undefined })
  })
})
