/** /healthz and /metrics over real HTTP, on a real journal and catalog in a temporary volume. */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { listBackups } from '../../src/catalog/catalog.js'
import { appendRun, readRuns } from '../../src/catalog/journal.js'
import { parseConfig, type Config } from '../../src/config/index.js'
import { readStatus } from '../../src/daemon/current-status.js'
import { startHealthServer, type HealthServer } from '../../src/daemon/http.js'
import { createBackupMetrics, type BackupMetrics } from '../../src/daemon/metrics.js'
import { startObservability } from '../../src/daemon/observability.js'
import type { Status } from '../../src/daemon/status.js'
import { fakeRun, writeFakeBackup } from '../support/backups.js'
import { captureLogger } from '../support/logs.js'
import { freePort } from '../support/servers.js'

const H = 3_600_000
let dir: string
let config: Config
let server: HealthServer
let metrics: BackupMetrics
const base = () => `http://127.0.0.1:${server.port}`

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'dbk-http-'))
  config = parseConfig({ BACKUP_DIR: dir, DB01_TYPE: 'sqlite', DB01_PATH: '/data/notes.db', HEALTH_MAX_AGE: '13h' })
  // History from before a restart: one good backup 20 h ago, one failure since.
  const old = new Date(Date.now() - 20 * H)
  await writeFakeBackup(dir, 'notes', 'notes', old, 4096)
  await appendRun(dir, fakeRun(old, [{ source: 'notes', database: 'notes', id: 'notes_old', size: 4096 }]))
  await appendRun(
    dir,
    fakeRun(new Date(Date.now() - 2 * H), [
      { source: 'notes', database: 'notes', ok: false, error: { code: 'NOT_FOUND', message: 'gone' } },
    ]),
  )
  metrics = createBackupMetrics({
    runs: await readRuns(dir),
    backups: await listBackups(dir),
    databases: [{ source: 'notes', database: 'notes' }],
  })
  server = await startHealthServer({
    port: 0,
    host: '127.0.0.1',
    getStatus: () => readStatus(config),
    registry: metrics.registry,
    beforeMetrics: async () => metrics.observeJournal(await readRuns(dir)),
    logger: captureLogger().logger,
  })
})

afterAll(async () => {
  await server.close()
  await rm(dir, { recursive: true, force: true })
})

function series(text: string, name: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`))
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1))
}

describe('GET /healthz', () => {
  it('is 503 with the status JSON while the last success is older than HEALTH_MAX_AGE, 200 after a success', async () => {
    const stale = await fetch(`${base()}/healthz`)
    expect(stale.status).toBe(503)
    expect(stale.headers.get('content-type')).toBe('application/json')
    const body = (await stale.json()) as Status
    expect(body.healthy).toBe(false)
    // "20h old", or "20h 1s old" when the second turned between setup and this request.
    expect(body.reason).toMatch(
      /^UNHEALTHY: notes\/notes: last proven backup is 20h( \d+s)? old, limit 13h \(last failure: NOT_FOUND\)$/,
    )

    const now = new Date()
    await writeFakeBackup(dir, 'notes', 'notes', now, 5000)
    const run = fakeRun(now, [{ source: 'notes', database: 'notes', id: 'notes_new', size: 5000 }])
    await appendRun(dir, run)
    metrics.observeRun(run)

    const fresh = await fetch(`${base()}/healthz`)
    expect(fresh.status).toBe(200)
    expect(await fresh.json()).toMatchObject({ healthy: true, sources: [{ source: 'notes', healthy: true }] })
  })

  it('answers HEAD without a body, 405 to other methods and 404 elsewhere', async () => {
    expect((await fetch(`${base()}/healthz`, { method: 'HEAD' })).status).toBeGreaterThanOrEqual(200)
    expect((await fetch(`${base()}/healthz`, { method: 'POST' })).status).toBe(405)
    expect((await fetch(`${base()}/`)).status).toBe(404)
  })

  it('is 503 when the status cannot be read', async () => {
    const { logger, text } = captureLogger()
    const broken = await startHealthServer({
      port: 0,
      host: '127.0.0.1',
      getStatus: () => Promise.reject(new Error('EIO: volume gone')),
      registry: metrics.registry,
      logger,
    })
    try {
      const r = await fetch(`http://127.0.0.1:${broken.port}/healthz`)
      expect(r.status).toBe(503)
      expect(await r.json()).toEqual({ healthy: false, reason: 'status unavailable: EIO: volume gone' })
      expect(text()).toContain('cannot read the status')
    } finally {
      await broken.close()
    }
  })
})

describe('GET /metrics', () => {
  it('serves every series in Prometheus text, with gauges carried over from the journal', async () => {
    const r = await fetch(`${base()}/metrics`)
    expect(r.status).toBe(200)
    expect(r.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/)
    const text = await r.text()
    for (const name of [
      'dbkeeper_last_success_timestamp_seconds',
      'dbkeeper_last_run_duration_seconds',
      'dbkeeper_last_backup_size_bytes',
      'dbkeeper_runs_total',
      'dbkeeper_failures_total',
    ]) {
      expect(text).toContain(`# TYPE ${name} `)
    }
    const last = series(text, 'dbkeeper_last_success_timestamp_seconds{source="notes",database="notes"}')
    expect(Math.abs(last! - Date.now() / 1000)).toBeLessThan(60)
    expect(series(text, 'dbkeeper_last_backup_size_bytes{source="notes",database="notes"}')).toBe(5000)
    expect(series(text, 'dbkeeper_last_run_duration_seconds')).toBe(12)
    // Counted since start: the one run observed, not the two of the history.
    expect(series(text, 'dbkeeper_runs_total')).toBe(1)
    expect(series(text, 'dbkeeper_failures_total{source="notes",database="notes"}')).toBe(0)
  })

  it('catches up with a run another process (docker exec) appended to the journal, and counts it once', async () => {
    const manual = fakeRun(
      new Date(),
      [{ source: 'notes', database: 'notes', ok: false, error: { code: 'IO', message: 'EROFS' } }],
      { trigger: 'manual' },
    )
    await appendRun(dir, manual)
    for (let scrape = 0; scrape < 2; scrape++) {
      const text = await (await fetch(`${base()}/metrics`)).text()
      expect(series(text, 'dbkeeper_runs_total')).toBe(2)
      expect(series(text, 'dbkeeper_failures_total{source="notes",database="notes"}')).toBe(1)
    }
    // The daemon observing the same run itself afterwards changes nothing.
    metrics.observeRun(manual)
    expect(series(await metrics.registry.metrics(), 'dbkeeper_runs_total')).toBe(2)
  })
})

describe('createBackupMetrics', () => {
  it('starts "last success" from the catalog when the journal lost the run, and keeps the newest', async () => {
    const at = new Date('2026-01-02T03:04:05Z')
    const backupDir = await mkdtemp(join(tmpdir(), 'dbk-metrics-'))
    try {
      await writeFakeBackup(backupDir, 'app', 'shop', at, 777)
      const m = createBackupMetrics({
        runs: [fakeRun(new Date('2025-12-01T00:00:00Z'), [{ source: 'app', database: 'shop', id: 'older', size: 1 }])],
        backups: await listBackups(backupDir),
      })
      const text = await m.registry.metrics()
      expect(series(text, 'dbkeeper_last_success_timestamp_seconds{source="app",database="shop"}')).toBe(
        at.getTime() / 1000,
      )
      expect(series(text, 'dbkeeper_last_backup_size_bytes{source="app",database="shop"}')).toBe(777)
      expect(series(text, 'dbkeeper_runs_total')).toBe(0)
    } finally {
      await rm(backupDir, { recursive: true, force: true })
    }
  })
})

describe('startObservability', () => {
  it('serves health and metrics on HEALTH_PORT from the volume, and nothing with HEALTH_PORT=0', async () => {
    const port = await freePort()
    const cfg = parseConfig({
      BACKUP_DIR: dir,
      DB01_TYPE: 'sqlite',
      DB01_PATH: '/data/notes.db',
      HEALTH_PORT: String(port),
    })
    const obs = await startObservability(cfg, captureLogger().logger, { host: '127.0.0.1' })
    try {
      expect(obs.server?.port).toBe(port)
      expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(200)
      const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text()
      // The history's gauges, and the counter at 0 until a run finishes in (or after) this process.
      expect(series(text, 'dbkeeper_last_backup_size_bytes{source="notes",database="notes"}')).toBe(5000)
      expect(series(text, 'dbkeeper_runs_total')).toBe(0)
    } finally {
      await obs.close()
    }
    const off = await startObservability(
      parseConfig({ BACKUP_DIR: dir, DB01_TYPE: 'sqlite', DB01_PATH: '/data/notes.db', HEALTH_PORT: '0' }),
      captureLogger().logger,
    )
    expect(off.server).toBeUndefined()
    await off.close()
  })
})
