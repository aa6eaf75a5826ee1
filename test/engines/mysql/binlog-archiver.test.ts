/**
 * The binlog archiver against its own private mariadbd with `--log-bin --binlog-format=ROW`: the
 * real `mariadb-binlog --stop-never` writing the server's files, the poller proving closed files,
 * a SIGKILLed tool and a restarted archiver losing nothing, a purge while stopped recorded as a gap.
 * A user with a password and only the replication grants, so the password can be looked for in argv.
 */
import { createHash } from 'node:crypto'
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import mysql from 'mysql2/promise'
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, onTestFailed } from 'vitest'
import { binlogArchiveDir } from '../../../src/catalog/naming.js'
import type { Archiver } from '../../../src/engines/archive.js'
import { localBinlogs, readBinlogArchive, readIndex } from '../../../src/engines/mysql/binlog-archive.js'
import { startBinlogArchiver } from '../../../src/engines/mysql/binlog-archiver.js'
import { captureLogger } from '../../support/logs.js'
import { startMariadb } from '../../support/mariadb-server.js'
import type { RunningServer } from '../../support/servers.js'
import { mysqlSource } from './helpers.js'

const PASSWORD = 'Bin#log "pw" $x'
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
async function waitFor<T>(what: string, probe: () => Promise<T | undefined | false>, ms = 20_000): Promise<T> {
  const until = Date.now() + ms
  for (;;) {
    const v = await probe()
    if (v !== undefined && v !== false) return v
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`)
    await sleep(100)
  }
}

let server: RunningServer & { binlogDir?: string }
let admin: mysql.Connection
let serverBinlogDir: string
let dir: string
let archiver: Archiver | undefined

beforeAll(async () => {
  server = await startMariadb({ binlog: {} })
  serverBinlogDir = server.binlogDir!
  const { host, port, user } = server.info
  admin = await mysql.createConnection({ host, port, user, password: '' })
  await admin.query(`CREATE USER archiver@'%' IDENTIFIED BY ?`, [PASSWORD])
  await admin.query(`GRANT REPLICATION SLAVE, BINLOG MONITOR ON *.* TO archiver@'%'`)
  await admin.query('CREATE DATABASE app')
  await admin.query('CREATE TABLE app.t (id INT AUTO_INCREMENT PRIMARY KEY, v VARCHAR(100))')
}, 60_000)
afterAll(async () => {
  await admin?.end()
  await server?.stop()
})
beforeEach(async () => {
  dir = binlogArchiveDir(await mkdtemp(join(tmpdir(), 'dbk-binlog-')), 'my')
})
afterEach(async () => {
  await archiver?.stop()
  archiver = undefined
  await rm(dirname(dirname(dirname(dir))), { recursive: true, force: true })
})

const source = () =>
  mysqlSource({ host: server.info.host, port: server.info.port, user: 'archiver', password: PASSWORD })
const start = (logger = captureLogger().logger) =>
  startBinlogArchiver({ source: source(), dir, logger, backoff: { initialMs: 100 }, pollMs: 200 })
const write = (n: number) => admin.query(`INSERT INTO app.t (v) VALUES ${Array(n).fill('(UUID())').join(',')}`)
const master = async () => {
  const [rows] = await admin.query('SHOW MASTER STATUS')
  const r = (rows as { File: string; Position: number }[])[0]!
  return { file: r.File, position: Number(r.Position) }
}
const sha = async (path: string) =>
  createHash('sha256')
    .update(await readFile(path))
    .digest('hex')
/**
 * The file as the server will have it once closed: while a binlog is open the server sets
 * LOG_EVENT_BINLOG_IN_USE_F in its first event's flags (byte 21: 4 magic bytes + 17 of header),
 * which the replication stream does not carry.
 */
async function asClosed(path: string): Promise<string> {
  const bytes = await readFile(path)
  if (bytes.length > 21) bytes[21] = bytes[21]! & ~1
  return createHash('sha256').update(bytes).digest('hex')
}
/**
 * Every archived file the server still has is byte for byte the server's (the growing one once
 * caught up). Compared until they agree: after a rotation the server appends a Binlog_checkpoint
 * event to the new file on its own, a moment later.
 */
async function expectIdenticalToServer(): Promise<string[]> {
  let mismatch = ''
  const equal = waitFor("the archive to equal the server's files", async () => {
    const m = await master()
    const files = (await localBinlogs(dir)).map((f) => f.file)
    if (!files.includes(m.file)) return ((mismatch = `no ${m.file}`), false)
    for (const f of files) {
      const server = join(serverBinlogDir, f)
      if (!(await stat(server).catch(() => undefined))) continue
      const [a, b] =
        f === m.file
          ? [await asClosed(join(dir, f)), await asClosed(server)]
          : [await sha(join(dir, f)), await sha(server)]
      if (a !== b) return ((mismatch = `${f} differs`), false)
    }
    return files
  })
  return equal.catch((error: Error) => {
    throw new Error(`${error.message}: ${mismatch}`)
  })
}

describe('binlog archiver', () => {
  it('streams the server binlog into the archive and proves each file closed by FLUSH BINARY LOGS', async () => {
    archiver = await start()
    await write(50)
    const first = (await master()).file
    await expectIdenticalToServer()
    await admin.query('FLUSH BINARY LOGS')
    await write(10)
    const closed = await waitFor('the closed file in index.jsonl', async () =>
      (await readIndex(dir)).find((e) => e.kind === 'closed' && e.file === first),
    )
    expect(closed).toMatchObject({ kind: 'closed', file: first, sha256: await sha(join(serverBinlogDir, first)) })
    expect(closed.kind === 'closed' && closed.size).toBe((await stat(join(serverBinlogDir, first))).size)
    const files = await expectIdenticalToServer()
    expect(files).toHaveLength(2)
    const state = await waitFor('a heartbeat', async () => {
      const s = await readBinlogArchive(dir, new Date())
      return s.lagMs === 0 && s
    })
    expect(state.runs).toEqual([{ files, afterGap: undefined }])
    expect(state.gaps).toEqual([])
    // Caught up long ago and the poller gone: the lag is the time since.
    await archiver.stop()
    const later = await readBinlogArchive(dir, new Date(Date.now() + 60_000))
    expect(later.lagMs).toBeGreaterThan(58_000)
  })

  it('loses nothing when the tool is SIGKILLed and when the archiver is restarted', async () => {
    const log = captureLogger()
    onTestFailed(() => console.log(log.text()))
    archiver = await start(log.logger)
    await write(20)
    await expectIdenticalToServer()
    process.kill(archiver.pid!, 'SIGKILL')
    await write(20)
    await waitFor('the supervisor to restart the tool', async () => archiver!.restarts >= 1 && archiver!.pid)
    await write(20)
    await expectIdenticalToServer()
    await archiver.stop()
    await write(20)
    await admin.query('FLUSH BINARY LOGS')
    await write(20)
    archiver = await start()
    await write(5)
    const files = await expectIdenticalToServer()
    expect(files.length).toBeGreaterThanOrEqual(2)
    const state = await readBinlogArchive(dir, new Date())
    expect(state.gaps).toEqual([])
    expect(state.runs).toHaveLength(1)
  })

  it('records a gap when the server purged binlogs while the archiver was stopped', async () => {
    archiver = await start()
    await write(10)
    const before = await expectIdenticalToServer()
    await archiver.stop()
    await admin.query('FLUSH BINARY LOGS')
    await write(10)
    await admin.query('FLUSH BINARY LOGS')
    const current = (await master()).file
    // The server keeps a file its (dying) dump thread still reads: purge until it is gone.
    await waitFor('the purge', async () => {
      await admin.query(`PURGE BINARY LOGS TO '${current}'`)
      const [logs] = await admin.query('SHOW BINARY LOGS')
      return (logs as { Log_name: string }[])[0]!.Log_name === current
    })
    const log = captureLogger()
    archiver = await start(log.logger)
    await write(10)
    await expectIdenticalToServer()
    const state = await readBinlogArchive(dir, new Date())
    expect(state.gaps).toEqual([
      expect.objectContaining({
        kind: 'gap',
        after: before.at(-1),
        resumedAt: current,
        reason: expect.stringContaining('purged'),
      }),
    ])
    expect(state.runs.map((r) => r.files.at(0))).toEqual([...new Set([before[0], current])])
    expect(state.runs.at(-1)!.afterGap?.resumedAt).toBe(current)
    expect(log.text()).toMatch(/has a gap: the server purged/)
  })

  it('never puts the password in argv; its defaults file is 0600 and removed on stop', async () => {
    archiver = await start()
    const pid = await waitFor('the tool', async () => archiver!.pid)
    const argv = (await readFile(`/proc/${pid}/cmdline`, 'utf8')).split('\0')
    expect(argv).toContain('--stop-never')
    expect(argv.join(' ')).not.toContain('pw')
    const cnf = argv.find((a) => a.startsWith('--defaults-extra-file='))!.split('=')[1]!
    expect((await stat(cnf)).mode & 0o777).toBe(0o600)
    expect(await readFile(cnf, 'utf8')).toContain('password=')
    await archiver.stop()
    await expect(stat(cnf)).rejects.toThrow(/ENOENT/)
  })
})
