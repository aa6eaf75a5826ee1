/**
 * `dbkeeper daemon` with DBnn_PITR=true, end to end: the daemon starts Litestream for the SQLite
 * source (config 0600 under <source>/.pitr/), archives a writer's rows, shows the lag on /metrics
 * and /healthz, and stops Litestream with itself on SIGTERM. The listing never shows the archive.
 */
import { GetObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3'
import Database from 'better-sqlite3'
import { execFile } from 'node:child_process'
import { mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { promisify } from 'node:util'
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
import { startHook } from '../support/webhook-receiver.js'
import { readRuns } from '../../src/catalog/journal.js'
import { ACCESS_KEY_ID, BUCKET, s3Env, SECRET_ACCESS_KEY, startS3, type TestS3 } from '../support/s3.js'
import { litestreamBinary } from '../../src/engines/sqlite/litestream.js'

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

  it('with S3_BUCKET, copies the archive into the bucket too: the copy alone restores every row', async () => {
    const s3: TestS3 = await startS3()
    t.defer(() => s3.destroy())
    const db = new Database(t.dbPath)
    db.pragma('journal_mode = WAL')
    db.exec('CREATE TABLE rows (id INTEGER PRIMARY KEY, committed_at INTEGER NOT NULL)')
    const env = t.env({ ...s3Env(s3.endpoint, 'vault/'), DB01_PITR: 'true', SCHEDULE: FAR_AWAY })
    const daemon = startDaemon(env)
    const started = await daemon.waitForLog((l) => /^litestream started for /.test(l.msg), 'litestream to start')
    expect(started.msg).toContain('s3://dbk-test/vault/app/.pitr/app/')
    // The bucket's keys reach Litestream in its environment: never in its argv or its file.
    const cmdline = await readFile(`/proc/${started.pid as number}/cmdline`, 'utf8')
    const yml = await readFile(join(t.backupDir, 'app', '.pitr', 'app.litestream.yml'), 'utf8')
    for (const text of [cmdline, yml, daemon.output()]) {
      expect(text).not.toContain(SECRET_ACCESS_KEY)
      expect(text).not.toContain(ACCESS_KEY_ID)
    }

    const insert = db.prepare('INSERT INTO rows (committed_at) VALUES (?)')
    for (let i = 0; i < 50; i++) insert.run(Date.now())
    db.close()

    // The bucket's objects, downloaded as they are keyed, are a file replica that Litestream restores.
    const copy = join(t.dir, 'from-bucket')
    const restored = join(t.dir, 'restored.db')
    const rows = await until(
      async () => {
        const listed = await s3.client.send(
          new ListObjectsV2Command({ Bucket: BUCKET, Prefix: 'vault/app/.pitr/app/' }),
        )
        for (const o of listed.Contents ?? []) {
          const body = await s3.client.send(new GetObjectCommand({ Bucket: BUCKET, Key: o.Key! }))
          const file = join(copy, o.Key!.slice('vault/app/.pitr/app/'.length))
          await mkdir(dirname(file), { recursive: true })
          await writeFile(file, await body.Body!.transformToByteArray())
        }
        if (!(listed.Contents ?? []).some((o) => o.Key!.endsWith('.wal.lz4'))) return undefined
        await promisify(execFile)(litestreamBinary(), ['restore', '-o', restored, `file://${copy}`]).catch(
          () => undefined,
        )
        const n = await stat(restored)
          .then(() => {
            const r = new Database(restored, { readonly: true })
            try {
              return (r.prepare('SELECT COUNT(*) AS n FROM rows').get() as { n: number }).n
            } finally {
              r.close()
            }
          })
          .catch(() => undefined)
        if (n !== 50) await rm(restored, { force: true })
        return n === 50 ? n : undefined
      },
      'the bucket copy to restore all 50 rows',
      { context: daemon.output },
    )
    expect(rows).toBe(50)
    daemon.signal('SIGTERM')
    expect((await daemon.exited).exitCode).toBe(0)
  })

  it('a gap in the archive is alerted and followed at once by a fresh base backup', async () => {
    const hook = await startHook('pitr-hook', 'up')
    t.defer(() => hook.close())
    const db = new Database(t.dbPath)
    db.pragma('journal_mode = WAL')
    db.exec('CREATE TABLE rows (id INTEGER PRIMARY KEY, committed_at INTEGER NOT NULL)')
    const insert = db.prepare('INSERT INTO rows (committed_at) VALUES (?)')
    const env = t.env({
      DB01_PITR: 'true',
      SCHEDULE: FAR_AWAY,
      BACKUP_ON_START: 'false',
      PITR_MAX_LAG: '4s',
      WEBHOOK_URL: hook.url,
    })
    const daemon = startDaemon(env)
    const first = await daemon.waitForLog((l) => /^litestream started for /.test(l.msg), 'litestream to start')
    insert.run(Date.now())
    const generations = join(t.backupDir, 'app', '.pitr', 'app', 'generations')
    await until(
      async () => ((await filesUnder(generations)).some((f) => f.endsWith('.wal.lz4')) ? true : undefined),
      'the first generation',
      { context: daemon.output },
    )

    // Litestream loses its position: killed, its shadow WAL beside the file gone. Restarted by the
    // supervisor, it can only begin a new generation.
    process.kill(first.pid as number, 'SIGKILL')
    await rm(join(t.dir, '.app.db-litestream'), { recursive: true, force: true })
    insert.run(Date.now())
    const gap = await daemon.waitForLog((l) => /has a gap/.test(l.msg), 'the gap to be logged')
    expect(gap.level, 'logged at error').toBe(50)
    await until(async () => (hook.raw.some((b) => b.includes('PITR_GAP')) ? true : undefined), 'the gap alert', {
      context: daemon.output,
    })
    const runs = await until(
      async () => {
        const r = (await readRuns(t.backupDir)).filter((x) => x.trigger === 'pitr-gap')
        return r.length > 0 ? r : undefined
      },
      'the fresh base backup',
      { context: daemon.output },
    )
    expect(runs[0]!.ok).toBe(true)
    expect((await listJson(env)).length).toBe(1)
    db.close()
    daemon.signal('SIGTERM')
    expect((await daemon.exited).exitCode).toBe(0)
  })
})
