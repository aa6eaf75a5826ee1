/**
 * Shipping a MySQL source's binlog archive off-site (src/daemon/binlog-offsite.ts), for real: a
 * private MariaDB with `--log-bin --binlog-format=ROW`, the real binlog archiver writing the
 * archive, and an s3rver bucket. Closed files arrive byte for byte and are recorded once; the
 * growing file follows as it grows; what retention removed from the volume goes off-site too (and
 * nothing merely missing there); a file that no longer matches its proof is refused; with
 * ENCRYPTION on, nothing leaves the volume.
 */
import { createHash } from 'node:crypto'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import mysql from 'mysql2/promise'
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { binlogArchiveDir } from '../../src/catalog/naming.js'
import { parseConfig } from '../../src/config/index.js'
import type { S3Config } from '../../src/config/types.js'
import { startArchivers } from '../../src/daemon/archivers.js'
import { readShipped, startBinlogOffsite, type BinlogOffsite } from '../../src/daemon/binlog-offsite.js'
import type { Archiver } from '../../src/engines/archive.js'
import { localBinlogs, readIndex } from '../../src/engines/mysql/binlog-archive.js'
import { startBinlogArchiver } from '../../src/engines/mysql/binlog-archiver.js'
import { openS3Target } from '../../src/storage/s3/index.js'
import type { Target } from '../../src/storage/target.js'
import { until } from '../support/daemon.js'
import { captureLogger } from '../support/logs.js'
import type { Logger } from '../../src/runtime/logger.js'
import { startMariadb } from '../support/mariadb-server.js'
import { listKeys, s3Env, startS3, testS3Config, type TestS3 } from '../support/s3.js'
import type { RunningServer } from '../support/servers.js'
import { mysqlSourceOn } from '../engines/mysql/helpers.js'
import { pruneBinlogArchive } from '../../src/retention/binlog.js'
import { writeBackup } from '../retention/helpers.js'

const PASSWORD = 'ship "it" #pw$'
let server: RunningServer
let admin: mysql.Connection
let s3: TestS3
let target: Target
let root: string
let dir: string
let archiver: Archiver | undefined
let shipper: BinlogOffsite | undefined

const source = () => mysqlSourceOn(server.info, { label: 'shop', user: 'shipper', password: PASSWORD, pitr: true })
/** The shipper of this test's archive to the test bucket; a long interval: the test calls pass() itself. */
const ship = (logger: Logger, intervalMs = 60_000) =>
  startBinlogOffsite({ source: source(), dir, target, targetId: 'S3', logger, intervalMs })
const write = (n: number) => admin.query(`INSERT INTO app.t (v) VALUES ${Array(n).fill('(UUID())').join(',')}`)
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex')
const remoteBytes = async (file: string) => readFile(s3.objectFile(`unit/shop/.pitr/.binlog/${file}`))

beforeAll(async () => {
  server = await startMariadb({ binlog: {} })
  const { host, port, user } = server.info
  admin = await mysql.createConnection({ host, port, user, password: '' })
  await admin.query(`CREATE USER shipper@'%' IDENTIFIED BY ?`, [PASSWORD])
  await admin.query(`GRANT REPLICATION SLAVE, BINLOG MONITOR ON *.* TO shipper@'%'`)
  await admin.query('CREATE DATABASE app')
  await admin.query('CREATE TABLE app.t (id INT AUTO_INCREMENT PRIMARY KEY, v VARCHAR(100))')
  s3 = await startS3()
  const cfg: S3Config = testS3Config(s3.endpoint, 'unit/')
  target = openS3Target(cfg, { attempts: 2, baseDelayMs: 10 })
}, 60_000)
afterAll(async () => {
  await admin?.end()
  await server?.stop()
  await s3?.destroy()
})
beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'dbk-binship-'))
  dir = binlogArchiveDir(root, 'shop')
})
afterEach(async () => {
  await shipper?.stop()
  await archiver?.stop()
  shipper = undefined
  archiver = undefined
  await rm(root, { recursive: true, force: true })
})

describe('binlog off-site shipping', () => {
  it('sends each closed file once, confirmed, and the growing file as it grows', async () => {
    const log = captureLogger()
    archiver = await startBinlogArchiver({ source: source(), dir, logger: log.logger, pollMs: 200 })
    await write(30)
    await admin.query('FLUSH BINARY LOGS')
    await write(10)
    const closed = await until(
      async () => (await readIndex(dir)).find((e) => e.kind === 'closed'),
      'a closed, proven binlog',
    )
    shipper = ship(log.logger, 200)
    await until(
      async () => (await readShipped(dir, 'S3')).some((e) => e.closed && e.file === closed.file),
      'the closed file shipped',
    )
    expect(closed.kind === 'closed' && sha(await remoteBytes(closed.file))).toBe(
      closed.kind === 'closed' && closed.sha256,
    )
    // Logged just after the record is written: waited for, not read at once.
    await until(
      () => log.text().includes(`binlog ${closed.file} shipped off-site and confirmed`) || undefined,
      'the shipped file logged',
    )

    // The growing file follows as segments, each of its new bytes once: joined, they are the file.
    await write(20)
    const joined = async (file: string) => {
      const keys = (await listKeys(s3, `unit/shop/.pitr/.binlog/${file}.from-`)).sort()
      // s3rver lists a key a moment before its object file is there: a missing one reads as nothing yet.
      const parts = await Promise.all(keys.map((k) => readFile(s3.objectFile(k)).catch(() => undefined)))
      return { keys, bytes: parts.every((p) => p !== undefined) ? Buffer.concat(parts) : Buffer.alloc(0) }
    }
    const growing = await until(async () => {
      const newest = (await localBinlogs(dir)).at(-1)!
      const { keys, bytes } = await joined(newest.file)
      return bytes.equals(await readFile(join(dir, newest.file))) && keys.length > 0 ? { ...newest, keys } : undefined
    }, 'the growing file shipped as far as written')
    expect(growing.file).not.toBe(closed.file)
    await write(20)
    const more = await until(async () => {
      const { keys, bytes } = await joined(growing.file)
      return keys.length > growing.keys.length && bytes.equals(await readFile(join(dir, growing.file)))
        ? keys
        : undefined
    }, 'a second segment')
    expect(more.slice(0, growing.keys.length)).toEqual(growing.keys)
    // Only closed files are recorded: the growing one's line would come every 10 s.
    expect((await readShipped(dir, 'S3')).map((e) => [e.file, e.closed])).toEqual([[closed.file, true]])

    // Closed, it goes whole and its segments go.
    await admin.query('FLUSH BINARY LOGS')
    await until(
      async () => (await readShipped(dir, 'S3')).some((e) => e.file === growing.file),
      'the once growing file shipped closed',
    )
    expect((await joined(growing.file)).keys).toEqual([])
    expect((await remoteBytes(growing.file)).equals(await readFile(join(dir, growing.file)))).toBe(true)

    // Nothing twice: a new shipper over the same record sends no closed file again.
    await shipper.stop()
    shipper = ship(log.logger)
    await shipper.pass()
    expect((await readShipped(dir, 'S3')).length).toBe(2)
    expect(log.lines().filter((l) => String(l.msg).startsWith(`binlog ${closed.file} shipped`))).toHaveLength(1)
    // The newest file, growing, sent again from 0 after the restart: the new shipper's first pass
    // and the one above may each send a segment, as the archiver appends the server's events after
    // the flush (seen: .from-000000000000 and .from-000000000339); each byte once, in order.
    const files = (await localBinlogs(dir)).map((f) => f.file)
    const newest = files.at(-1)!
    const keys = await listKeys(s3, 'unit/shop/.pitr/.binlog/')
    expect(keys.slice(0, files.length - 1)).toEqual(files.slice(0, -1).map((f) => `unit/shop/.pitr/.binlog/${f}`))
    expect(keys.slice(files.length - 1)[0]).toBe(`unit/shop/.pitr/.binlog/${newest}.from-000000000000`)
    expect(keys.slice(files.length - 1).every((k) => k.startsWith(`unit/shop/.pitr/.binlog/${newest}.from-`))).toBe(
      true,
    )
    const sent = await until(async () => {
      const { bytes } = await joined(newest)
      return bytes.length > 0 ? bytes : undefined
    }, 'the newest file segments readable')
    expect(sent.equals((await readFile(join(dir, newest))).subarray(0, sent.length))).toBe(true)
  })

  it('removes off-site what retention removed from the volume, and nothing merely missing there', async () => {
    const log = captureLogger()
    archiver = await startBinlogArchiver({ source: source(), dir, logger: log.logger, pollMs: 200 })
    for (let i = 0; i < 3; i++) {
      await write(5)
      await admin.query('FLUSH BINARY LOGS')
    }
    const closed = await until(async () => {
      const c = (await readIndex(dir)).filter((e) => e.kind === 'closed')
      return c.length >= 3 ? c.map((e) => e.file) : undefined
    }, 'three closed, proven binlogs')
    await archiver.stop()
    archiver = undefined
    shipper = ship(log.logger)
    await shipper.pass()
    const key = (f: string) => `unit/shop/.pitr/.binlog/${f}`
    expect(await listKeys(s3, key(''))).toEqual(expect.arrayContaining(closed.map(key)))
    // A base whose coordinates lie in the third file: retention removes the first two from the volume.
    await writeBackup(root, 'shop', 'app', new Date(Date.now() - 60_000), { binlog: { file: closed[2]!, position: 4 } })
    const pruned = await pruneBinlogArchive({
      backupDir: root,
      source: { label: 'shop', engine: 'mysql', pitr: true },
      now: new Date(),
      windowMs: 7 * 86_400_000,
      logger: log.logger,
    })
    expect(pruned.removed).toEqual(closed.slice(0, 2))
    // The third removed by hand, without retention's record: its off-site copy is all that is left of it.
    await rm(join(dir, closed[2]!))
    await shipper.pass()
    const left = await listKeys(s3, key(''))
    expect(left).not.toContain(key(closed[0]!))
    expect(left).not.toContain(key(closed[1]!))
    expect(left).toContain(key(closed[2]!))
    expect((await readShipped(dir, 'S3')).filter((e) => e.removedAt).map((e) => e.file)).toEqual(closed.slice(0, 2))
    expect(log.text()).toContain(`binlog ${closed[0]} removed off-site`)
    // Once: a second pass removes and records nothing more.
    await shipper.pass()
    expect((await readShipped(dir, 'S3')).filter((e) => e.removedAt)).toHaveLength(2)
  })

  it('refuses a closed file that no longer matches its proof, and records nothing for it', async () => {
    archiver = await startBinlogArchiver({ source: source(), dir, logger: captureLogger().logger, pollMs: 200 })
    await write(5)
    await admin.query('FLUSH BINARY LOGS')
    const closed = await until(
      async () => (await readIndex(dir)).find((e) => e.kind === 'closed'),
      'a closed, proven binlog',
    )
    await archiver.stop()
    archiver = undefined
    const path = join(dir, closed.file)
    const bytes = await readFile(path)
    bytes[bytes.length - 1] = bytes[bytes.length - 1]! ^ 0xff
    await writeFile(path, bytes)
    const log = captureLogger()
    shipper = ship(log.logger)
    await expect(shipper.pass()).rejects.toThrow(/no longer matches its proof in index\.jsonl/)
    expect((await readShipped(dir, 'S3')).filter((e) => e.file === closed.file)).toEqual([])
  })

  it('ships nothing with ENCRYPTION on, and says so', async () => {
    const config = parseConfig({
      BACKUP_DIR: root,
      DB01_TYPE: 'mysql',
      DB01_HOST: server.info.host,
      DB01_PORT: String(server.info.port),
      DB01_USER: 'shipper',
      DB01_PASS: PASSWORD,
      DB01_NAME: 'app',
      DB01_LABEL: 'shop',
      DB01_PITR: 'true',
      ENCRYPTION: 'age',
      AGE_PASSPHRASE: 'correct horse battery staple',
      ...s3Env(s3.endpoint, 'enc/'),
    })
    const log = captureLogger()
    const running = await startArchivers(config, log.logger, { backoff: { initialMs: 100 } })
    try {
      await write(5)
      await until(async () => (await localBinlogs(dir)).length > 0 || undefined, 'the archive')
      expect(log.text()).toMatch(/binlog archive of shop stays on the volume: binlogs are not encrypted yet/)
    } finally {
      await running.stop()
    }
    expect(await listKeys(s3, 'enc/')).toEqual([])
  })
})
