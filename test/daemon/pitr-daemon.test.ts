/**
 * `dbkeeper daemon` with DBnn_PITR=true, end to end: the daemon starts Litestream for the SQLite
 * source (config 0600 under <source>/.pitr/), archives a writer's rows, shows the lag on /metrics
 * and /healthz, and stops Litestream with itself on SIGTERM. The listing never shows the archive.
 */
import Database from 'better-sqlite3'
import { stat } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { LocalTarget } from '../../src/storage/local/target.js'
import { listJson } from '../support/cli.js'
import {
  daemonTestContext,
  FAR_AWAY,
  httpGet,
  LOADED_MACHINE_TIMEOUT_MS,
  metricValue,
  startDaemon,
  until,
} from '../support/daemon.js'
import { filesUnder } from '../support/files.js'

const t = daemonTestContext('dbk-pitrd-')

const alive = (pid: number) => {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

describe('dbkeeper daemon with DBnn_PITR', { timeout: LOADED_MACHINE_TIMEOUT_MS }, () => {
  it('runs Litestream beside the schedule, reports its lag, and stops it on SIGTERM', async () => {
    const db = new Database(t.dbPath)
    db.pragma('journal_mode = WAL')
    db.exec('CREATE TABLE rows (id INTEGER PRIMARY KEY, committed_at INTEGER NOT NULL)')
    const env = t.env({ DB01_PITR: 'true', SCHEDULE: FAR_AWAY, BACKUP_ON_START: 'true' })
    const daemon = startDaemon(env)
    const started = await daemon.waitForLog((l) => /^litestream started for /.test(l.msg), 'litestream to start')
    const pid = started.pid as number
    expect(alive(pid)).toBe(true)
    const config = join(t.backupDir, 'app', '.pitr', 'app.litestream.yml')
    expect((await stat(config)).mode & 0o777).toBe(0o600)

    const insert = db.prepare('INSERT INTO rows (committed_at) VALUES (?)')
    for (let i = 0; i < 50; i++) insert.run(Date.now())
    const lag = await until(
      async () => {
        const m = await httpGet(t.healthPort, '/metrics')
        const v = metricValue(m.body, 'dbkeeper_pitr_lag_seconds{source="app",database="app"}')
        return v === 0 ? m.body : undefined
      },
      'the archive to catch up (dbkeeper_pitr_lag_seconds 0)',
      { context: daemon.output },
    )
    expect(
      metricValue(lag, 'dbkeeper_pitr_window_start_timestamp_seconds{source="app",database="app"}'),
    ).toBeLessThanOrEqual(Date.now() / 1000)
    const health = await until(
      async () => {
        const h = await httpGet(t.healthPort, '/healthz')
        return h.status === 200 ? h : undefined
      },
      'healthy after the first backup',
      { context: daemon.output },
    )
    expect(JSON.parse(health.body).sources[0].databases[0].pitr).toMatchObject({ healthy: true, lagSeconds: 0 })
    // The status page and its API show the same archive: its lag and its window.
    const api = JSON.parse((await httpGet(t.healthPort, '/api/status')).body)
    expect(api.sources[0].databases[0].pitr).toMatchObject({ healthy: true, lagSeconds: 0 })
    expect(api.sources[0].databases[0].pitr.window).not.toBeNull()
    const page = (await httpGet(t.healthPort, '/')).body
    expect(page).toContain('<th>Point in time</th>')
    expect(page).toMatch(/<span class="ok">0 s behind \(limit [^)]+\)<\/span><br>/)
    db.close()

    // The archive is no backup: the volume's listing never walks its segments, though they sit
    // under the source's directory (a week of writes is 600 000 of them).
    expect((await filesUnder(join(t.backupDir, 'app', '.pitr'))).some((f) => f.endsWith('.wal.lz4'))).toBe(true)
    const keys: string[] = []
    for await (const o of new LocalTarget(t.backupDir).list('app/')) keys.push(o.key)
    expect(keys.length).toBeGreaterThan(0)
    expect(keys.filter((k) => k.includes('.pitr'))).toEqual([])
    expect((await listJson(env)).length).toBe(1)

    daemon.signal('SIGTERM')
    expect((await daemon.exited).exitCode).toBe(0)
    expect(alive(pid)).toBe(false)
  })
})
