/**
 * The preflight of a DBnn_PITR MySQL/MariaDB source against real servers, one per misconfiguration;
 * each problem names the variable or privilege, and the fix it prints, run on the server, clears it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { SourceConfig } from '../../../src/config/types.js'
import type { BinlogProblem } from '../../../src/engines/index.js'
import {
  binlogProblemsError,
  checkBinlogSettings,
  judgeBinlogSettings,
  type BinlogSettings,
} from '../../../src/engines/mysql/binlog-preflight.js'
import { startMariadb } from '../../support/mariadb-server.js'
import { mysqlAdmin, startWithRetry, uniqueName, type RunningServer, type ServerInfo } from '../../support/servers.js'
import { mysqlSourceOn } from './helpers.js'

const DAY_MS = 86_400_000
const WINDOW = 7 * DAY_MS
const signal = new AbortController().signal

function sourceOf(info: ServerInfo, user = info.user, password?: string): SourceConfig {
  return mysqlSourceOn(info, {
    id: 'DB03',
    label: 'shop',
    user,
    ...(password === undefined ? {} : { password }),
    pitr: true,
  })
}

async function run(info: ServerInfo, sql: string, params: unknown[] = []): Promise<void> {
  const conn = await mysqlAdmin(info)
  try {
    await conn.query(sql, params)
  } finally {
    await conn.end()
  }
}

/** The `SET GLOBAL …` statement a fix names. */
const setGlobalOf = (p: BinlogProblem) => /SET GLOBAL [^;]+/.exec(p.fix)![0]

describe('binlog preflight (MariaDB 10.11)', () => {
  let noBinlog: RunningServer
  let good: RunningServer
  let statement: RunningServer
  let expiring: RunningServer

  beforeAll(async () => {
    // One after the other: mariadb-install-db runs side by side have failed on each other's temporary tables in /tmp.
    noBinlog = await startWithRetry(() => startMariadb())
    good = await startWithRetry(() => startMariadb({ binlog: {} }))
    statement = await startWithRetry(() => startMariadb({ binlog: { format: 'STATEMENT' } }))
    expiring = await startWithRetry(() => startMariadb({ binlog: { expireLogsDays: 1 } }))
  }, 120_000)
  afterAll(async () => {
    await Promise.all([noBinlog, good, statement, expiring].map((s) => s?.stop()))
  })

  it('a server with ROW binlog, a server id, no expiry and root: no problem', async () => {
    expect(await checkBinlogSettings(sourceOf(good.info), WINDOW, signal)).toEqual([])
  })

  it('binary logging off: an error naming log_bin and the my.cnf line', async () => {
    const problems = await checkBinlogSettings(sourceOf(noBinlog.info), WINDOW, signal)
    expect(problems).toEqual([
      expect.objectContaining({
        severity: 'error',
        subject: 'log_bin',
        fix: expect.stringContaining('log_bin = binlog'),
      }),
    ])
    const error = binlogProblemsError(sourceOf(noBinlog.info), problems)
    expect(error).toMatchObject({ code: 'CONFIG', message: expect.stringContaining('shop (DB03)') })
    expect(error!.message).toContain('binary logging is off')
    expect(error!.hint).toContain('log_bin: log_bin = binlog in my.cnf')
  })

  it('STATEMENT format: a warning naming binlog_format, not an error; its SET GLOBAL clears it', async () => {
    const problems = await checkBinlogSettings(sourceOf(statement.info), WINDOW, signal)
    expect(problems).toEqual([
      expect.objectContaining({
        severity: 'warning',
        subject: 'binlog_format',
        message: expect.stringContaining('STATEMENT'),
      }),
    ])
    expect(binlogProblemsError(sourceOf(statement.info), problems)).toBeUndefined()
    expect(setGlobalOf(problems[0]!)).toBe("SET GLOBAL binlog_format = 'ROW'")
    expect(problems[0]!.fix).toContain('binlog_format = ROW in my.cnf')
    await run(statement.info, setGlobalOf(problems[0]!))
    expect(await checkBinlogSettings(sourceOf(statement.info), WINDOW, signal)).toEqual([])
  })

  it('server_id 0 cannot happen on MariaDB 10.11 (it keeps 1), so that check is for MySQL: judged below', async () => {
    await run(statement.info, 'SET GLOBAL server_id = 0')
    expect(await checkBinlogSettings(sourceOf(statement.info), WINDOW, signal)).toEqual([])
  })

  it('binlogs expiring after 1 day with a 7 day window: an error naming the variable; its SET GLOBAL clears it', async () => {
    const problems = await checkBinlogSettings(sourceOf(expiring.info), WINDOW, signal)
    expect(problems).toEqual([
      expect.objectContaining({
        severity: 'error',
        subject: 'binlog_expire_logs_seconds',
        message: expect.stringMatching(/after 1d .*sooner than PITR_WINDOW \(7d\)/),
        fix: expect.stringContaining('SET GLOBAL binlog_expire_logs_seconds = 691200'),
      }),
    ])
    // The same server is fine for a window it does keep.
    expect(await checkBinlogSettings(sourceOf(expiring.info), DAY_MS / 2, signal)).toEqual([])
    await run(expiring.info, setGlobalOf(problems[0]!))
    expect(await checkBinlogSettings(sourceOf(expiring.info), WINDOW, signal)).toEqual([])
  })

  it('a user without REPLICATION SLAVE and BINLOG MONITOR: a PRIVILEGE error with the exact GRANT, which clears it', async () => {
    const user = uniqueName('repl')
    await run(good.info, "CREATE USER ?@'%' IDENTIFIED BY 'pw'", [user])
    await run(good.info, "GRANT SELECT ON *.* TO ?@'%'", [user])
    const source = sourceOf(good.info, user, 'pw')
    const problems = await checkBinlogSettings(source, WINDOW, signal)
    expect(problems).toEqual([
      expect.objectContaining({
        severity: 'error',
        code: 'PRIVILEGE',
        fix: `GRANT REPLICATION SLAVE, BINLOG MONITOR ON *.* TO '${user}'@'%';`,
      }),
    ])
    expect(binlogProblemsError(source, problems)).toMatchObject({ code: 'PRIVILEGE' })
    await run(good.info, problems[0]!.fix)
    expect(await checkBinlogSettings(source, WINDOW, signal)).toEqual([])
  })

  it('REPLICATION CLIENT, the old name of BINLOG MONITOR, counts', async () => {
    const user = uniqueName('repl')
    await run(good.info, "CREATE USER ?@'%' IDENTIFIED BY 'pw'", [user])
    await run(good.info, "GRANT REPLICATION SLAVE, REPLICATION CLIENT ON *.* TO ?@'%'", [user])
    expect(await checkBinlogSettings(sourceOf(good.info, user, 'pw'), WINDOW, signal)).toEqual([])
  })
})

describe('judgeBinlogSettings (what real MariaDB 10.11 servers cannot show)', () => {
  const ready: BinlogSettings = {
    flavour: 'mysql',
    logBin: true,
    format: 'ROW',
    serverId: 1,
    expireSeconds: 30 * 86_400,
    privileges: new Set(['REPLICATION SLAVE', 'REPLICATION CLIENT', 'RELOAD']),
    grantee: "'backup'@'%'",
  }

  it('a ready MySQL server: no problem', () => {
    expect(judgeBinlogSettings(ready, WINDOW)).toEqual([])
  })

  it('server_id 0 (MySQL allows it): an error with SET GLOBAL server_id', () => {
    expect(judgeBinlogSettings({ ...ready, serverId: 0 }, WINDOW)).toEqual([
      expect.objectContaining({
        severity: 'error',
        subject: 'server_id',
        fix: expect.stringMatching(/^SET GLOBAL server_id = 1;/),
      }),
    ])
  })

  it("MySQL's --source-data needs RELOAD: the GRANT names it", () => {
    const privileges = new Set(['REPLICATION SLAVE', 'REPLICATION CLIENT'])
    expect(judgeBinlogSettings({ ...ready, privileges }, WINDOW)).toEqual([
      expect.objectContaining({ code: 'PRIVILEGE', fix: "GRANT RELOAD ON *.* TO 'backup'@'%';" }),
    ])
  })

  it('expiry: binlog_expire_logs_seconds wins over expire_logs_days, 0 means never, a missing variable is skipped', () => {
    expect(judgeBinlogSettings({ ...ready, expireSeconds: 0, expireDays: 0 }, WINDOW)).toEqual([])
    expect(judgeBinlogSettings({ ...ready, expireSeconds: 8 * 86_400, expireDays: 1 }, WINDOW)).toEqual([])
    const { expireSeconds: _, ...old } = ready
    expect(judgeBinlogSettings({ ...old, expireDays: 3 }, WINDOW)).toEqual([
      expect.objectContaining({
        subject: 'expire_logs_days',
        fix: expect.stringContaining('SET GLOBAL expire_logs_days = 8;'),
      }),
    ])
  })

  it('privileges that cannot be judged (an active role) are not reported', () => {
    expect(judgeBinlogSettings({ ...ready, privileges: undefined }, WINDOW)).toEqual([])
  })
})
