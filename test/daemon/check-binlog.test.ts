/**
 * The daemon's start-up check (runPreflight) of a DBnn_PITR MariaDB source, against two private
 * servers: one without a binlog, one with `--log-bin --binlog-format=ROW --server-id=1` whose
 * settings each test breaks and puts back. Each refusal names the server variable or the GRANT;
 * a STATEMENT binlog passes with a warning; the password is in no line.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parseConfig } from '../../src/config/index.js'
import { runPreflight, type CheckResult } from '../../src/daemon/preflight.js'
import { startMariadb } from '../support/mariadb-server.js'
import { mysqlAdmin, startWithRetry, uniqueName, type RunningServer, type ServerInfo } from '../support/servers.js'

const PASSWORD = 'chk "Bin" #pw$'
let noBinlog: RunningServer
let good: RunningServer
let dir: string

async function run(info: ServerInfo, sql: string, params: unknown[] = []): Promise<void> {
  const conn = await mysqlAdmin(info)
  try {
    await conn.query(sql, params)
  } finally {
    await conn.end()
  }
}

/** A user with the password and these global grants, on `info`'s server. */
async function userWith(info: ServerInfo, grants: string): Promise<string> {
  const user = uniqueName('pitr')
  await run(info, "CREATE USER ?@'%' IDENTIFIED BY ?", [user, PASSWORD])
  await run(info, `GRANT ${grants} ON *.* TO ?@'%'`, [user])
  return user
}

/** The start-up check's line for the source's archiving, with a 7 day window. */
async function archivingCheck(info: ServerInfo, user: string, window = '7d'): Promise<CheckResult> {
  const config = parseConfig({
    BACKUP_DIR: join(dir, 'backups'),
    DB01_TYPE: 'mysql',
    DB01_HOST: info.host,
    DB01_PORT: String(info.port),
    DB01_USER: user,
    DB01_PASS: PASSWORD,
    DB01_NAME: 'mysql',
    DB01_LABEL: 'shop',
    DB01_PITR: 'true',
    PITR_WINDOW: window,
  })
  const results = await runPreflight(config)
  for (const r of results) expect(r.detail).not.toContain(PASSWORD)
  const line = results.find((r) => r.name.startsWith('point-in-time archiving of shop'))
  expect(line, JSON.stringify(results)).toBeDefined()
  return line!
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'dbk-chkbin-'))
  // One after the other: parallel mariadb-install-db runs have failed on each other.
  noBinlog = await startWithRetry(() => startMariadb())
  good = await startWithRetry(() => startMariadb({ binlog: {} }))
}, 120_000)
afterAll(async () => {
  await Promise.all([noBinlog, good].map((s) => s?.stop()))
  await rm(dir, { recursive: true, force: true })
})

describe('the start-up check of a DBnn_PITR MariaDB source', () => {
  it('passes on a ROW binlog, with a server id, no expiry and the replication grants', async () => {
    const user = await userWith(good.info, 'SELECT, REPLICATION SLAVE, BINLOG MONITOR')
    const c = await archivingCheck(good.info, user)
    expect(c).toMatchObject({ ok: true, name: 'point-in-time archiving of shop (DB01_PITR)' })
    expect(c.detail).toMatch(/^binlog streamable for PITR_WINDOW 7d \(mariadb-binlog .*\)$/)
  })

  it('refuses a server without a binlog, naming log_bin and the my.cnf line', async () => {
    const user = await userWith(noBinlog.info, 'SELECT, REPLICATION SLAVE, BINLOG MONITOR')
    const c = await archivingCheck(noBinlog.info, user)
    expect(c.ok).toBe(false)
    expect(c.detail).toContain('shop (DB01) cannot be archived for point-in-time recovery')
    expect(c.detail).toContain('binary logging is off (log_bin = OFF)')
    expect(c.detail).toContain('log_bin: log_bin = binlog in my.cnf')
  })

  it('passes a STATEMENT binlog with a warning naming binlog_format and its fix', async () => {
    const user = await userWith(good.info, 'SELECT, REPLICATION SLAVE, BINLOG MONITOR')
    await run(good.info, "SET GLOBAL binlog_format = 'STATEMENT'")
    try {
      const c = await archivingCheck(good.info, user)
      expect(c.ok).toBe(true)
      expect(c.detail).toContain('warning: binlog_format is STATEMENT')
      expect(c.detail).toContain("SET GLOBAL binlog_format = 'ROW'")
    } finally {
      await run(good.info, "SET GLOBAL binlog_format = 'ROW'")
    }
  })

  it('refuses binlogs that expire sooner than PITR_WINDOW, naming the variable and the value to set', async () => {
    const user = await userWith(good.info, 'SELECT, REPLICATION SLAVE, BINLOG MONITOR')
    await run(good.info, 'SET GLOBAL binlog_expire_logs_seconds = 86400')
    try {
      const refused = await archivingCheck(good.info, user)
      expect(refused.ok).toBe(false)
      expect(refused.detail).toMatch(/removes binlogs after 1d \(binlog_expire_logs_seconds = 86400\)/)
      expect(refused.detail).toContain('sooner than PITR_WINDOW (7d)')
      expect(refused.detail).toContain('SET GLOBAL binlog_expire_logs_seconds = 691200')
      // A window the server does keep passes.
      expect((await archivingCheck(good.info, user, '12h')).ok).toBe(true)
    } finally {
      await run(good.info, 'SET GLOBAL binlog_expire_logs_seconds = 0')
    }
  })

  it('refuses a user without the replication grants, with the exact GRANT to run', async () => {
    const user = await userWith(good.info, 'SELECT')
    const c = await archivingCheck(good.info, user)
    expect(c.ok).toBe(false)
    expect(c.detail).toContain(`user '${user}'@'%' lacks REPLICATION SLAVE (to stream the binary log)`)
    expect(c.detail).toContain(`GRANT REPLICATION SLAVE, BINLOG MONITOR ON *.* TO '${user}'@'%';`)
    await run(good.info, `GRANT REPLICATION SLAVE, BINLOG MONITOR ON *.* TO ?@'%'`, [user])
    expect((await archivingCheck(good.info, user)).ok).toBe(true)
  })
})
