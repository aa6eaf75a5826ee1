/**
 * createBackupMetrics on journal records and a catalog: each database's "last success" is its own
 * backup's time, and restore drills have series of their own that never move the backup series.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { listBackups } from '../../src/catalog/catalog.js'
import { createBackupMetrics } from '../../src/daemon/metrics.js'
import { fakeRun, writeFakeBackup } from '../support/backups.js'
import { metricValue } from '../support/daemon.js'

const T = new Date('2026-11-22T03:00:00Z')
const at = (minutes: number) => new Date(T.getTime() + minutes * 60_000)
const seconds = (d: Date) => d.getTime() / 1000
const shop = 'source="app",database="shop"'
const crm = 'source="app",database="crm"'

describe('dbkeeper_last_success_timestamp_seconds', () => {
  it("is each database's own backup time, not the end of the run it was part of", async () => {
    // One run from 03:00 to 03:40: shop finished at 03:05, crm at 03:38.
    const run = fakeRun(
      at(40),
      [
        { source: 'app', database: 'shop', id: 'shop_1', finishedAt: at(5).toISOString(), size: 10 },
        { source: 'app', database: 'crm', id: 'crm_1', finishedAt: at(38).toISOString(), size: 20 },
      ],
      { startedAt: T.toISOString() },
    )
    const fromHistory = createBackupMetrics({ runs: [run] })
    const observed = createBackupMetrics()
    observed.observeRun(run)
    for (const m of [fromHistory, observed]) {
      const text = await m.registry.metrics()
      expect(metricValue(text, `dbkeeper_last_success_timestamp_seconds{${shop}}`)).toBe(seconds(at(5)))
      expect(metricValue(text, `dbkeeper_last_success_timestamp_seconds{${crm}}`)).toBe(seconds(at(38)))
      expect(metricValue(text, 'dbkeeper_last_run_duration_seconds')).toBe(40 * 60)
    }
  })

  it("takes a journal line without the time (written before it existed) from the backup's manifest", async () => {
    const dir = await mkdtemp(join(tmpdir(), 'dbk-metrics-time-'))
    try {
      const m = await writeFakeBackup(dir, 'app', 'shop', at(5))
      const legacy = fakeRun(at(40), [{ source: 'app', database: 'shop', id: m.id, size: 10 }])
      const metrics = createBackupMetrics({ runs: [legacy], backups: await listBackups(dir) })
      expect(metricValue(await metrics.registry.metrics(), `dbkeeper_last_success_timestamp_seconds{${shop}}`)).toBe(
        seconds(at(5)),
      )
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })
})

describe('restore drills in the metrics', () => {
  const backup = fakeRun(at(2), [
    { source: 'app', database: 'shop', id: 'shop_1', finishedAt: at(1).toISOString(), size: 10 },
  ])
  const passed = fakeRun(
    at(70),
    [{ source: 'app', database: 'shop', drilled: 'shop_1', finishedAt: at(65).toISOString(), durationMs: 300_000 }],
    { trigger: 'drill' },
  )
  const failed = fakeRun(
    at(130),
    [
      {
        source: 'app',
        database: 'shop',
        ok: false,
        drilled: 'shop_1',
        finishedAt: at(129).toISOString(),
        error: { code: 'RESTORE_FAILED', message: 'line 3 differs' },
      },
    ],
    { trigger: 'drill' },
  )

  it('have series of their own; a drill is neither a backup, nor a run, nor a backup failure', async () => {
    const m = createBackupMetrics({ runs: [backup, passed], databases: [{ source: 'app', database: 'shop' }] })
    let text = await m.registry.metrics()
    expect(metricValue(text, `dbkeeper_last_success_timestamp_seconds{${shop}}`)).toBe(seconds(at(1)))
    expect(metricValue(text, `dbkeeper_last_drill_success_timestamp_seconds{${shop}}`)).toBe(seconds(at(65)))
    expect(metricValue(text, `dbkeeper_last_drill_ok{${shop}}`)).toBe(1)
    expect(metricValue(text, `dbkeeper_drill_failures_total{${shop}}`)).toBe(0)
    expect(metricValue(text, 'dbkeeper_drill_runs_total')).toBe(0)
    expect(metricValue(text, 'dbkeeper_last_run_duration_seconds')).toBe(12)

    m.observeRun(failed)
    m.observeRun(failed)
    text = await m.registry.metrics()
    expect(metricValue(text, `dbkeeper_drill_failures_total{${shop}}`)).toBe(1)
    expect(metricValue(text, `dbkeeper_last_drill_ok{${shop}}`)).toBe(0)
    expect(metricValue(text, 'dbkeeper_drill_runs_total')).toBe(1)
    // The last passed drill stays; the backup series did not move.
    expect(metricValue(text, `dbkeeper_last_drill_success_timestamp_seconds{${shop}}`)).toBe(seconds(at(65)))
    expect(metricValue(text, `dbkeeper_failures_total{${shop}}`)).toBe(0)
    expect(metricValue(text, 'dbkeeper_runs_total')).toBe(0)
    expect(metricValue(text, `dbkeeper_last_success_timestamp_seconds{${shop}}`)).toBe(seconds(at(1)))
    expect(metricValue(text, 'dbkeeper_last_run_duration_seconds')).toBe(12)

    // A drill run that failed before drilling anything counts under "*".
    m.observeRun(fakeRun(at(190), [], { trigger: 'drill', ok: false, errors: [{ code: 'IO', message: 'EIO' }] }))
    text = await m.registry.metrics()
    expect(metricValue(text, 'dbkeeper_drill_failures_total{source="*",database="*"}')).toBe(1)
    expect(metricValue(text, 'dbkeeper_drill_runs_total')).toBe(2)
  })

  it("keep the newest drill's verdict whatever the order the journal is replayed in", async () => {
    const m = createBackupMetrics({ runs: [failed, passed] })
    const text = await m.registry.metrics()
    expect(metricValue(text, `dbkeeper_last_drill_ok{${shop}}`)).toBe(0)
    expect(metricValue(text, `dbkeeper_last_drill_success_timestamp_seconds{${shop}}`)).toBe(seconds(at(65)))
  })
})

describe('off-site series per target', () => {
  it('names the target: a failure on S3_2 counts there, S3 keeps its last success', async () => {
    const ok = fakeRun(at(10), [
      {
        source: 'app',
        database: 'shop',
        id: 'shop_1',
        finishedAt: at(5).toISOString(),
        size: 10,
        offsites: [
          { ok: true, target: 'S3', key: 's3://a/shop_1' },
          { ok: true, target: 'S3_2', key: 's3://b/shop_1' },
        ],
      },
    ])
    const failed = fakeRun(at(70), [
      {
        source: 'app',
        database: 'shop',
        ok: false,
        id: 'shop_2',
        finishedAt: at(65).toISOString(),
        size: 10,
        offsites: [
          { ok: true, target: 'S3', key: 's3://a/shop_2' },
          { ok: false, target: 'S3_2', error: 'S3_2 (s3://b/): connection refused' },
        ],
      },
    ])
    const metrics = createBackupMetrics({ runs: [ok] })
    metrics.observeRun(failed)
    const text = await metrics.registry.metrics()
    const label = (target: string) => `{${shop},target="${target}"}`
    expect(metricValue(text, `dbkeeper_offsite_last_success_timestamp_seconds${label('S3')}`)).toBe(seconds(at(65)))
    expect(metricValue(text, `dbkeeper_offsite_last_success_timestamp_seconds${label('S3_2')}`)).toBe(seconds(at(5)))
    expect(metricValue(text, `dbkeeper_offsite_failures_total${label('S3_2')}`)).toBe(1)
    expect(metricValue(text, `dbkeeper_offsite_failures_total${label('S3')}`)).toBe(0)
  })
})

describe('dbkeeper_backups_total and dbkeeper_last_backup_duration_seconds', () => {
  it('counts backups by source, database and outcome, and keeps the newest proven backup’s duration and size', async () => {
    const m = createBackupMetrics({ runs: [], databases: [{ source: 'app', database: 'shop' }] })
    const before = await m.registry.metrics()
    expect(metricValue(before, `dbkeeper_backups_total{${shop},outcome="ok"}`)).toBe(0)
    expect(metricValue(before, `dbkeeper_backups_total{${shop},outcome="failed"}`)).toBe(0)
    m.observeRun(
      fakeRun(at(10), [
        { source: 'app', database: 'shop', id: 'shop_1', size: 500, durationMs: 4000 },
        { source: 'app', database: 'crm', ok: false, error: { code: 'AUTH', message: 'denied' } },
      ]),
    )
    m.observeRun(fakeRun(at(20), [{ source: 'app', database: 'shop', id: 'shop_2', size: 700, durationMs: 6500 }]))
    m.observeRun(
      fakeRun(at(30), [{ source: 'app', database: 'shop', ok: false, error: { code: 'CONNECT', message: 'x' } }]),
    )
    const text = await m.registry.metrics()
    expect(metricValue(text, `dbkeeper_backups_total{${shop},outcome="ok"}`)).toBe(2)
    expect(metricValue(text, `dbkeeper_backups_total{${shop},outcome="failed"}`)).toBe(1)
    expect(metricValue(text, `dbkeeper_backups_total{${crm},outcome="failed"}`)).toBe(1)
    expect(metricValue(text, `dbkeeper_backups_total{${crm},outcome="ok"}`)).toBe(0)
    // The failure at 30 min leaves the gauges of the newest proven backup (20 min) alone.
    expect(metricValue(text, `dbkeeper_last_backup_duration_seconds{${shop}}`)).toBe(6.5)
    expect(metricValue(text, `dbkeeper_last_backup_size_bytes{${shop}}`)).toBe(700)
  })
})
