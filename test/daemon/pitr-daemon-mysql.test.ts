/**
 * `dbkeeper daemon` with DB01_PITR=true on a private MariaDB (`--log-bin --binlog-format=ROW
 * --server-id=1`), as a real process: it streams the server's binlog into
 * `<source>/.pitr/.binlog/` (one archive for the source), proves closed files, restarts a SIGKILLed
 * mariadb-binlog without a gap, stops it on SIGTERM; binlogs purged while it was stopped are a gap,
 * recorded in index.jsonl, logged as an error at its next start, alerted (webhook) and followed by a
 * fresh base backup; a server that refuses is tried
 * again; with S3_BUCKET the files reach the bucket (s3rver).
 */
import { createHash } from 'node:crypto'
import { readdir, readFile, stat } from 'node:fs/promises'
import { join } from 'node:path'
import mysql from 'mysql2/promise'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { readRuns } from '../../src/catalog/journal.js'
import { binlogArchiveDir } from '../../src/catalog/naming.js'
import { parseConfig } from '../../src/config/index.js'
import { startArchivers } from '../../src/daemon/archivers.js'
import { readShipped } from '../../src/daemon/binlog-offsite.js'
import { localBinlogs, readBinlogArchive, readIndex } from '../../src/engines/mysql/binlog-archive.js'
import {
  daemonTestContext,
  FAR_AWAY,
  httpGet,
  LOADED_MACHINE_TIMEOUT_MS,
  metricValue,
  startDaemon,
  until,
  type LogLine,
} from '../support/daemon.js'
import { captureLogger } from '../support/logs.js'
import { startMariadb } from '../support/mariadb-server.js'
import { startHook } from '../support/webhook-receiver.js'
import { listKeys, s3Env, startS3 } from '../support/s3.js'
import type { RunningServer } from '../support/servers.js'

const PASSWORD = 'pitr "daemon" #pw$'
const t = daemonTestContext('dbk-pitrmy-')
let server: RunningServer & { binlogDir?: string }
let admin: mysql.Connection

beforeAll(async () => {
  server = await startMariadb({ binlog: {} })
  const { host, port, user } = server.info
  admin = await mysql.createConnection({ host, port, user, password: '' })
  await admin.query(`CREATE USER archiver@'%' IDENTIFIED BY ?`, [PASSWORD])
  await admin.query(
    `GRANT SELECT, SHOW VIEW, TRIGGER, EVENT, LOCK TABLES, REPLICATION SLAVE, BINLOG MONITOR ON *.* TO archiver@'%'`,
  )
  await admin.query('CREATE DATABASE app')
  await admin.query('CREATE TABLE app.t (id INT AUTO_INCREMENT PRIMARY KEY, v VARCHAR(100))')
}, 60_000)
afterAll(async () => {
  await admin?.end()
  await server?.stop()
})

const env = () => ({
  BACKUP_DIR: t.backupDir,
  DB01_TYPE: 'mysql',
  DB01_HOST: server.info.host,
  DB01_PORT: String(server.info.port),
  DB01_USER: 'archiver',
  DB01_PASS: PASSWORD,
  DB01_NAME: 'app',
  DB01_LABEL: 'shop',
  DB01_PITR: 'true',
  HEALTH_PORT: String(t.healthPort),
  SCHEDULE: FAR_AWAY,
  BACKUP_ON_START: 'false',
  TZ: 'UTC',
})
const archive = () => binlogArchiveDir(t.backupDir, 'shop')
const write = (n: number) => admin.query(`INSERT INTO app.t (v) VALUES ${Array(n).fill('(UUID())').join(',')}`)
const master = async () => {
  const [rows] = await admin.query('SHOW MASTER STATUS')
  const r = (rows as { File: string; Position: number }[])[0]!
  return { file: r.File, position: Number(r.Position) }
}
const alive = (pid: number) => {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}
/** The archive holds everything the server wrote: its newest file is the server's, as long. */
const caughtUp = () =>
  until(
    async () => {
      const m = await master()
      const newest = (await localBinlogs(archive())).at(-1)
      return newest?.file === m.file && newest.size >= m.position ? newest : undefined
    },
    'the archive to catch up with the server',
    { timeoutMs: 20_000 },
  )
const toolStarted = (l: LogLine) => /^mariadb-binlog started for shop at /.test(l.msg)

describe('dbkeeper daemon with DBnn_PITR on MariaDB', { timeout: LOADED_MACHINE_TIMEOUT_MS }, () => {
  it('streams the binlog into the source archive, restarts a SIGKILLed tool without a gap, and stops it on SIGTERM', async () => {
    const daemon = startDaemon(env())
    const first = await daemon.waitForLog(toolStarted, 'mariadb-binlog to start')
    const pid = first.pid as number
    await daemon.waitForLog((l) => /^preflight ok: point-in-time archiving of shop/.test(l.msg), 'the binlog preflight')
    await write(50)
    await caughtUp()
    // /metrics and /healthz watch the source's one binlog archive: its lag, on every database.
    await until(
      async () =>
        metricValue(
          (await httpGet(t.healthPort, '/metrics')).body,
          'dbkeeper_pitr_lag_seconds{source="shop",database="*"}',
        ) === 0 || undefined,
      'dbkeeper_pitr_lag_seconds 0 for the binlog archive',
      { context: daemon.output },
    )
    const health = JSON.parse((await httpGet(t.healthPort, '/healthz')).body)
    expect(health.sources[0].databases[0]).toMatchObject({ database: 'app', pitr: { lagSeconds: 0, healthy: true } })
    const closing = (await master()).file
    await admin.query('FLUSH BINARY LOGS')
    await write(10)
    const closed = await until(
      async () => (await readIndex(archive())).find((e) => e.kind === 'closed' && e.file === closing),
      'the closed file proven in index.jsonl',
    )
    const serverCopy = await readFile(join(server.binlogDir!, closing))
    expect(closed).toMatchObject({
      size: serverCopy.length,
      sha256: createHash('sha256').update(serverCopy).digest('hex'),
    })

    process.kill(pid, 'SIGKILL')
    await write(20)
    const again = await daemon.waitForLog((l) => toolStarted(l) && l.pid !== pid, 'mariadb-binlog to be restarted')
    expect(daemon.logs().some((l) => /mariadb-binlog was killed by SIGKILL/.test(l.msg))).toBe(true)
    await write(20)
    await caughtUp()
    const state = await readBinlogArchive(archive(), new Date())
    expect(state.gaps).toEqual([])
    expect(state.runs).toHaveLength(1)
    expect(state.runs[0]!.files).toContain(closing)

    daemon.signal('SIGTERM')
    expect((await daemon.exited).exitCode).toBe(0)
    expect(alive(again.pid as number)).toBe(false)
    // The credentials file lives only as long as the tool.
    expect((await readdir(archive())).filter((f) => f.endsWith('.cnf'))).toEqual([])
    expect(daemon.output()).not.toContain(PASSWORD)
  })

  it('loses nothing when the daemon itself is SIGKILLed mid-stream and started again', async () => {
    const first = startDaemon(env())
    const tool = await first.waitForLog(toolStarted, 'mariadb-binlog to start')
    await write(20)
    await caughtUp()
    const gapsBefore = (await readIndex(archive())).filter((e) => e.kind === 'gap').length
    first.signal('SIGKILL')
    await first.exited
    // Written while nothing archived; the orphaned tool (if it outlived the daemon) still announces
    // the source's replica id, so the new one replaces it on the server instead of both writing.
    await write(30)
    const second = startDaemon(env())
    const again = await second.waitForLog(toolStarted, 'mariadb-binlog to start after the kill')
    await write(10)
    await caughtUp()
    await until(() => !alive(tool.pid as number) || undefined, 'the orphaned mariadb-binlog to be gone', {
      timeoutMs: 20_000,
    })
    expect(alive(again.pid as number)).toBe(true)
    expect((await readIndex(archive())).filter((e) => e.kind === 'gap')).toHaveLength(gapsBefore)
    // Every row is in the archive: the server's current file and the archived one are the same bytes.
    const m = await master()
    const local = await readFile(join(archive(), m.file))
    const onServer = await readFile(join(server.binlogDir!, m.file))
    // Byte 21 (LOG_EVENT_BINLOG_IN_USE_F of the first event) is set only in the server's open file.
    expect(local.subarray(0, 21)).toEqual(onServer.subarray(0, 21))
    expect(local.subarray(22)).toEqual(onServer.subarray(22, local.length))
    expect(local.length).toBeGreaterThanOrEqual(m.position)
    second.signal('SIGTERM')
    expect((await second.exited).exitCode).toBe(0)
  })

  it('records and logs a gap when the server purged binlogs while the daemon was stopped', async () => {
    const before = startDaemon(env())
    await before.waitForLog(toolStarted, 'mariadb-binlog to start')
    await write(10)
    const archived = await caughtUp()
    before.signal('SIGTERM')
    await before.exited

    await admin.query('FLUSH BINARY LOGS')
    await write(10)
    await admin.query('FLUSH BINARY LOGS')
    const current = (await master()).file
    // The server keeps a file a (dying) dump thread still reads: purge until it is gone.
    await until(async () => {
      await admin.query(`PURGE BINARY LOGS TO '${current}'`)
      const [logs] = await admin.query('SHOW BINARY LOGS')
      return (logs as { Log_name: string }[])[0]!.Log_name === current || undefined
    }, 'the purge')

    const hook = await startHook('pitr-hook', 'up')
    t.defer(() => hook.close())
    // PITR_MAX_LAG 4 s: the watch reads the archive every second.
    const after = startDaemon({ ...env(), PITR_MAX_LAG: '4s', WEBHOOK_URL: hook.url })
    const logged = await after.waitForLog((l) => /has a gap: the server purged/.test(l.msg), 'the gap to be logged')
    expect(logged.level).toBe(50)
    expect(logged.msg).toContain(`between ${archived.file} and ${current}`)
    await after.waitForLog(toolStarted, 'mariadb-binlog to start after the gap')
    await write(5)
    await caughtUp()
    expect((await readIndex(archive())).filter((e) => e.kind === 'gap')).toEqual([
      expect.objectContaining({ after: archived.file, resumedAt: current, reason: expect.stringContaining('purged') }),
    ])
    const state = await readBinlogArchive(archive(), new Date())
    expect(state.runs.at(-1)!.afterGap?.resumedAt).toBe(current)
    // The watch sees the archive split: the gap is alerted, and a fresh base backup follows at once.
    await until(async () => hook.raw.some((b) => b.includes('PITR_GAP')) || undefined, 'the gap alert', {
      context: after.output,
    })
    const runs = await until(
      async () => {
        const r = (await readRuns(t.backupDir)).filter((x) => x.trigger === 'pitr-gap')
        return r.length > 0 ? r : undefined
      },
      'the fresh base backup',
      { context: after.output },
    )
    expect(runs[0]!.ok, JSON.stringify(runs[0])).toBe(true)
    after.signal('SIGTERM')
    expect((await after.exited).exitCode).toBe(0)
    expect((await stat(archive())).isDirectory()).toBe(true)
  })

  it('tries a binlog archiver again while the server refuses, leaving no connection open, and starts it once granted', async () => {
    await admin.query(`CREATE USER late@'%' IDENTIFIED BY ?`, [PASSWORD])
    await admin.query(`GRANT SELECT ON *.* TO late@'%'`)
    const connections = async () => {
      const [rows] = await admin.query(`SELECT COUNT(*) AS n FROM information_schema.PROCESSLIST WHERE USER = 'late'`)
      return Number((rows as { n: number }[])[0]!.n)
    }
    const log = captureLogger()
    const config = parseConfig({ ...env(), DB01_USER: 'late' })
    const running = await startArchivers(config, log.logger, { retryMs: 200, backoff: { initialMs: 100 } })
    try {
      expect(running.archivers).toEqual([])
      await until(
        () =>
          log.lines().filter((l) => /its binlog\) could not start: .*trying again in 0 s/.test(String(l.msg))).length >=
          3,
        'three refused attempts',
      )
      // Each refused attempt closed its connection.
      expect(await connections()).toBe(0)
      await admin.query(`GRANT REPLICATION SLAVE, BINLOG MONITOR ON *.* TO late@'%'`)
      await until(() => running.archivers.length === 1, 'the archiver to start once granted')
      expect(running.archivers[0]).toMatchObject({ source: 'shop', database: undefined })
      expect(log.text()).toMatch(/binlog archiving of shop started after all/)
      await write(5)
      await caughtUp()
    } finally {
      await running.stop()
    }
    // The poller's connection is gone with the stop. The server's dump thread of the stopped tool
    // notices its replica is gone only when it sends events again: the next writes end it.
    const [threads] = await admin.query(`SELECT COMMAND FROM information_schema.PROCESSLIST WHERE USER = 'late'`)
    expect(threads).toEqual([{ COMMAND: 'Binlog Dump' }])
    await until(
      async () => {
        await write(1)
        return (await connections()) === 0 || undefined
      },
      'the dump thread to end',
      { timeoutMs: 10_000 },
    )
    expect(running.archivers[0]!.archiver.pid).toBeUndefined()
  })

  it('with S3_BUCKET set later, copies the archived binlog files into the bucket under <source>/.pitr/.binlog/', async () => {
    const s3 = await startS3()
    t.defer(() => s3.destroy())
    const before = startDaemon(env())
    await before.waitForLog(toolStarted, 'mariadb-binlog to start')
    await write(10)
    const closing = (await master()).file
    await admin.query('FLUSH BINARY LOGS')
    await until(
      async () => (await readIndex(archive())).some((e) => e.kind === 'closed' && e.file === closing),
      'the closed file proven',
    )
    before.signal('SIGTERM')
    await before.exited
    // The first pass runs at the daemon's start: what the archive holds goes at once.
    const daemon = startDaemon({ ...env(), ...s3Env(s3.endpoint, 'vault/') })
    await until(
      async () => (await readShipped(archive(), 'S3')).some((e) => e.file === closing && e.closed),
      'the closed file confirmed off-site',
    )
    const keys = await listKeys(s3, 'vault/shop/.pitr/.binlog/')
    expect(keys).toContain(`vault/shop/.pitr/.binlog/${closing}`)
    const sent = await readFile(s3.objectFile(`vault/shop/.pitr/.binlog/${closing}`))
    expect(sent.equals(await readFile(join(archive(), closing)))).toBe(true)
    daemon.signal('SIGTERM')
    expect((await daemon.exited).exitCode).toBe(0)
  })
})
