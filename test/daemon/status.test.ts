/** computeStatus (pure) and `dbkeeper status` reading a real journal and catalog on disk. */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { appendRun, type DatabaseResult, type RunRecord } from '../../src/catalog/journal.js'
import { localTime, statusCommand } from '../../src/cli/commands/status.js'
import { parseConfig, type Config } from '../../src/config/index.js'
import { computeStatus, type Status } from '../../src/daemon/status.js'
import { fakeEntry, fakeRun, writeFakeBackup } from '../support/backups.js'
import { captureLogger } from '../support/logs.js'

const H = 3_600_000
const NOW = new Date('2026-11-22T12:00:00Z')
const ago = (ms: number) => new Date(NOW.getTime() - ms)
const config = parseConfig({
  BACKUP_DIR: '/backups',
  DB01_TYPE: 'mysql',
  DB01_HOST: 'db',
  DB01_NAME: 'shop,crm',
  DB01_LABEL: 'app',
  DB02_TYPE: 'mysql',
  DB02_HOST: 'db2',
  DB02_NAME: 'ALL',
  DB02_LABEL: 'all',
})
const opts = { maxAgeMs: 13 * H, nextRun: new Date('2026-11-22T18:00:00Z') }

describe('computeStatus', () => {
  it('is healthy when every database has a proven backup younger than the limit', () => {
    const backups = [
      fakeEntry('app', 'shop', ago(2 * H)),
      fakeEntry('app', 'shop', ago(8 * H)),
      fakeEntry('app', 'crm', ago(2 * H)),
      fakeEntry('all', 'a', ago(3 * H)),
    ]
    const runs = [fakeRun(ago(2 * H), [{ source: 'all', database: 'a' }])]
    const s = computeStatus(runs, backups, config.sources, NOW, opts)
    expect(s.healthy).toBe(true)
    expect(s.reason).toBe('healthy: all 3 databases have a proven backup younger than 13h')
    expect(s.nextRun).toBe('2026-11-22T18:00:00.000Z')
    expect(s.maxAgeSeconds).toBe(13 * 3600)
    expect(s.sources[0]!.databases[0]).toEqual({
      database: 'shop',
      healthy: true,
      failing: false,
      lastFailure: null,
      lastDrill: null,
      lastSuccess: { at: ago(2 * H).toISOString(), id: backups[0]!.manifest.id, ageSeconds: 7200 },
    })
  })

  it('never takes a backup stamped in the future for a fresh one, and names it even when healthy', () => {
    const ahead = fakeEntry('app', 'shop', new Date(NOW.getTime() + 365 * 24 * H))
    const stale = [
      fakeEntry('app', 'shop', ago(20 * H)),
      fakeEntry('app', 'crm', ago(H)),
      fakeEntry('all', 'a', ago(H)),
    ]
    const s = computeStatus([], [ahead, ...stale], config.sources, NOW, opts)
    expect(s.healthy).toBe(false)
    expect(s.sources[0]!.databases[0]!.lastSuccess!.id).toBe(stale[0]!.manifest.id)
    expect(s.reason).toMatch(
      /^UNHEALTHY: app\/shop: last proven backup is 20h old, limit 13h — CLOCK SKEW: a backup is stamped in the future: app\/shop \S+ \(365 days ahead\); .*check the host clock/i,
    )
    expect(s.clockSkew).toEqual([
      { source: 'app', database: 'shop', id: ahead.manifest.id, startedAt: ahead.manifest.startedAt },
    ])

    const fresh = computeStatus(
      [],
      [ahead, fakeEntry('app', 'shop', ago(H)), ...stale.slice(1)],
      config.sources,
      NOW,
      opts,
    )
    expect(fresh.healthy).toBe(true)
    expect(fresh.reason).toMatch(/^healthy: all 3 databases .* — CLOCK SKEW: /)
  })

  it('is unhealthy when a database has no proven backup, or only one older than the limit, and says which', () => {
    const backups = [fakeEntry('app', 'shop', ago(14 * H)), fakeEntry('all', 'a', ago(H))]
    const s = computeStatus([], backups, config.sources, NOW, opts)
    expect(s.healthy).toBe(false)
    expect(s.sources.map((x) => x.healthy)).toEqual([false, true])
    expect(s.reason).toBe(
      'UNHEALTHY: app/shop: last proven backup is 14h old, limit 13h; app/crm: no proven backup yet',
    )
  })

  it('reports the last failure with its cause, and "failing" only while it is newer than the last success', () => {
    const runs = [
      fakeRun(ago(5 * H), [
        {
          source: 'app',
          database: 'shop',
          ok: false,
          error: { code: 'CONNECT', message: 'connect ECONNREFUSED', hint: 'check DB01_HOST' },
        },
      ]),
      fakeRun(ago(4 * H), [
        { source: 'app', database: 'crm', ok: false, error: { code: 'AUTH', message: 'Access denied' } },
      ]),
    ]
    const backups = [
      fakeEntry('app', 'shop', ago(3 * H)),
      fakeEntry('app', 'crm', ago(6 * H)),
      fakeEntry('all', 'a', ago(H)),
    ]
    const s = computeStatus(runs, backups, config.sources, NOW, opts)
    const [shop, crm] = s.sources[0]!.databases
    expect(shop).toMatchObject({
      healthy: true,
      failing: false,
      lastFailure: { code: 'CONNECT', message: 'connect ECONNREFUSED', hint: 'check DB01_HOST', runId: runs[0]!.runId },
    })
    expect(crm).toMatchObject({
      healthy: true,
      failing: true,
      lastFailure: { code: 'AUTH', at: ago(4 * H).toISOString() },
    })
    expect(s.lastRun).toMatchObject({ runId: runs[1]!.runId, ok: false })
  })

  it('turns unhealthy when every run fails, however recent the runs', () => {
    const runs = [1, 2, 3].map((i) =>
      fakeRun(ago(i * H), [
        { source: 'app', database: 'shop', ok: false, error: { code: 'DUMP_FAILED', message: 'mysqldump exited 2' } },
      ]),
    )
    const s = computeStatus(runs, [fakeEntry('app', 'shop', ago(20 * H))], config.sources, NOW, opts)
    expect(s.healthy).toBe(false)
    expect(s.reason).toContain('app/shop: last proven backup is 20h old, limit 13h (last failure: DUMP_FAILED)')
  })

  it('applies a whole-source failure (database "*") to each of its databases', () => {
    const runs = [
      fakeRun(ago(H), [
        { source: 'app', database: '*', ok: false, error: { code: 'CONNECT', message: 'db: unreachable' } },
      ]),
    ]
    const s = computeStatus(
      runs,
      [fakeEntry('app', 'shop', ago(2 * H)), fakeEntry('app', 'crm', ago(2 * H))],
      config.sources,
      NOW,
      opts,
    )
    expect(s.sources[0]!.databases.map((d) => [d.database, d.failing, d.lastFailure?.code])).toEqual([
      ['shop', true, 'CONNECT'],
      ['crm', true, 'CONNECT'],
    ])
    expect(s.sources[0]!.healthy).toBe(true)
  })

  it('judges an ALL source on the databases of its newest listing run, else those on the volume', () => {
    const backups = [fakeEntry('all', 'a', ago(H)), fakeEntry('all', 'dropped', ago(40 * H))]
    const fromVolume = computeStatus([], backups, config.sources, NOW, opts).sources[1]!
    expect(fromVolume.databases.map((d) => d.database)).toEqual(['a', 'dropped'])
    const runs = [
      fakeRun(ago(H), [
        { source: 'all', database: 'a' },
        { source: 'all', database: 'b', ok: false, error: { code: 'AUTH', message: 'x' } },
      ]),
    ]
    const fromRun = computeStatus(runs, backups, config.sources, NOW, opts).sources[1]!
    expect(fromRun.databases.map((d) => [d.database, d.healthy])).toEqual([
      ['a', true],
      ['b', false],
    ])
  })

  it('is unhealthy for an ALL source with nothing known yet', () => {
    const s = computeStatus(
      [],
      [fakeEntry('app', 'shop', ago(H)), fakeEntry('app', 'crm', ago(H))],
      config.sources,
      NOW,
      opts,
    )
    expect(s.reason).toBe('UNHEALTHY: all: no proven backup yet')
  })

  it('never takes a restore drill for a backup run, and shows the last drill of each database', () => {
    const backups = [
      fakeEntry('app', 'shop', ago(6 * H)),
      fakeEntry('app', 'crm', ago(6 * H)),
      fakeEntry('all', 'a', ago(6 * H)),
    ]
    const backupRun = fakeRun(ago(6 * H), [
      { source: 'app', database: 'shop', id: backups[0]!.manifest.id },
      { source: 'app', database: 'crm', id: backups[1]!.manifest.id },
      { source: 'all', database: 'a' },
    ])
    const drill = (finished: Date, results: Partial<DatabaseResult>[], extra: Partial<RunRecord> = {}) =>
      fakeRun(finished, results, { trigger: 'drill', ...extra })
    const earlier = drill(ago(3 * H), [
      { source: 'app', database: 'crm', drilled: backups[1]!.manifest.id, finishedAt: ago(3.5 * H).toISOString() },
    ])
    const last = drill(ago(H), [
      { source: 'app', database: 'shop', drilled: backups[0]!.manifest.id, finishedAt: ago(1.5 * H).toISOString() },
      {
        source: 'app',
        database: 'crm',
        ok: false,
        drilled: backups[1]!.manifest.id,
        error: { code: 'RESTORE_FAILED', message: 'drill of crm_x failed: line 12 differs', hint: 'take a new backup' },
      },
      // An ALL source is judged on its backup runs' databases, never on what a drill saw.
      { source: 'all', database: 'only-drilled', ok: false, error: { code: 'RESTORE_FAILED', message: 'x' } },
    ])
    const s = computeStatus([backupRun, earlier, last], backups, config.sources, NOW, opts)
    expect(s.healthy).toBe(true)
    expect(s.lastRun).toMatchObject({ runId: backupRun.runId, trigger: 'schedule' })
    expect(s.lastDrill).toEqual({
      runId: last.runId,
      startedAt: last.startedAt,
      finishedAt: last.finishedAt,
      ok: false,
    })
    const [shop, crm] = s.sources[0]!.databases
    expect(shop).toMatchObject({
      lastFailure: null,
      failing: false,
      lastDrill: { ok: true, at: ago(1.5 * H).toISOString(), backup: backups[0]!.manifest.id, runId: last.runId },
    })
    expect(crm).toMatchObject({ healthy: true, lastFailure: null, failing: false })
    expect(crm!.lastDrill).toEqual({
      at: last.finishedAt,
      runId: last.runId,
      backup: backups[1]!.manifest.id,
      ok: false,
      code: 'RESTORE_FAILED',
      message: 'drill of crm_x failed: line 12 differs',
      hint: 'take a new backup',
    })
    expect(s.sources[1]!.databases.map((d) => [d.database, d.lastDrill])).toEqual([['a', null]])
    // A drill that could not run at all is the last drill, with its errors; still no backup run.
    const broken = drill(ago(0.5 * H), [], { ok: false, errors: [{ code: 'IO', message: 'EIO reading /backups' }] })
    const after = computeStatus([backupRun, last, broken], backups, config.sources, NOW, opts)
    expect(after.lastDrill).toMatchObject({ runId: broken.runId, ok: false, errors: [{ code: 'IO' }] })
    expect(after.lastRun?.runId).toBe(backupRun.runId)
  })

  it('does not count damaged backups or pre-restore safety dumps as proven', () => {
    const damaged = { ...fakeEntry('app', 'shop', ago(H)), problem: 'the data file is missing' }
    const safety = fakeEntry('app', 'crm', ago(H))
    safety.manifest.kind = 'pre-restore'
    const s = computeStatus([], [damaged, safety, fakeEntry('app', 'shop', ago(30 * H))], config.sources, NOW, opts)
    expect(s.sources[0]!.databases.map((d) => d.lastSuccess?.ageSeconds ?? null)).toEqual([30 * 3600, null])
  })
})

describe('dbkeeper status', () => {
  let dir: string
  let cfg: Config

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'dbk-status-'))
    cfg = parseConfig({
      BACKUP_DIR: dir,
      DB01_TYPE: 'sqlite',
      DB01_PATH: '/data/notes.db',
      SCHEDULE: '0 3 * * *',
      TZ: 'Europe/Berlin',
    })
  })
  afterAll(() => rm(dir, { recursive: true, force: true }))

  async function run(args: string[]) {
    const out: string[] = []
    const code = await statusCommand.run({
      args,
      config: cfg,
      logger: captureLogger().logger,
      print: (t) => out.push(t),
      isTTY: false,
      signal: new AbortController().signal,
    })
    return { code, out: out.join('\n') }
  }

  it('--check exits 1 with one line when there is no backup, then 0 after a proven one', async () => {
    const before = await run(['--check'])
    expect(before).toEqual({ code: 1, out: 'UNHEALTHY: notes/notes: no proven backup yet' })

    const at = new Date(Date.now() - 60_000)
    await writeFakeBackup(dir, 'notes', 'notes', at)
    await appendRun(dir, fakeRun(at, [{ source: 'notes', database: 'notes', id: 'notes_x', size: 1234 }]))
    const after = await run(['--check'])
    expect(after.code).toBe(0)
    // 2 × 24 h + 1 h (2d 3h in the weeks when a 25-hour night falls within the sample).
    expect(after.out).toMatch(/^healthy: all 1 database has a proven backup younger than 2d [13]h$/)
  })

  it('--json prints the documented shape, with the next run from SCHEDULE in TZ', async () => {
    const { code, out } = await run(['--json'])
    expect(code).toBe(0)
    const s = JSON.parse(out)
    expect(Object.keys(s)).toEqual([
      'healthy',
      'reason',
      'checkedAt',
      'maxAgeSeconds',
      'nextRun',
      'lastRun',
      'lastDrill',
      'sources',
      'clockSkew',
    ])
    expect(
      new Date(s.nextRun).toLocaleString('en-GB', { timeZone: 'Europe/Berlin', hour: '2-digit', minute: '2-digit' }),
    ).toBe('03:00')
    expect(s.sources[0]).toMatchObject({ source: 'notes', id: 'DB01', engine: 'sqlite', healthy: true })
    expect(Object.keys(s.sources[0].databases[0])).toEqual([
      'database',
      'healthy',
      'lastSuccess',
      'lastFailure',
      'failing',
      'lastDrill',
    ])
  })

  it('prints a table and the cause of a failing database', async () => {
    await appendRun(
      dir,
      fakeRun(new Date(), [
        {
          source: 'notes',
          database: 'notes',
          ok: false,
          error: { code: 'NOT_FOUND', message: '/data/notes.db does not exist', hint: 'check DB01_PATH' },
        },
      ]),
    )
    const { code, out } = await run([])
    expect(code).toBe(0)
    expect(out).toMatch(/^Next scheduled run: \d{4}-\d{2}-\d{2} 03:00:00 Europe\/Berlin \(in /m)
    expect(out).toMatch(/^SOURCE\s+DATABASE\s+LAST SUCCESS \(Europe\/Berlin\)\s+AGE\s+LAST FAILURE\s+STATE$/m)
    const stamp = '\\d{4}-\\d{2}-\\d{2} \\d{2}:\\d{2}:\\d{2}'
    expect(out).toMatch(
      new RegExp(`^notes\\s+notes\\s+${stamp}\\s+1m(?: \\d+s)?\\s+${stamp} NOT_FOUND\\s+ok, last try FAILED$`, 'm'),
    )
    expect(out).toMatch(
      new RegExp(`^notes/notes failed at ${stamp}: NOT_FOUND: /data/notes.db does not exist — check DB01_PATH$`, 'm'),
    )
  })

  it('shows the last restore drill, and a failed one as a drill, not as a failed backup', async () => {
    const before = await run([])
    expect(before.out).not.toContain('LAST DRILL')
    const drill = fakeRun(
      new Date(),
      [
        {
          source: 'notes',
          database: 'notes',
          ok: false,
          drilled: 'notes_x',
          error: {
            code: 'RESTORE_FAILED',
            message: 'drill of notes_x failed: table items has 3 rows',
            hint: 'take a new backup',
          },
        },
      ],
      { trigger: 'drill' },
    )
    await appendRun(dir, drill)
    const { code, out } = await run([])
    expect(code).toBe(0)
    const stamp = '\\d{4}-\\d{2}-\\d{2} \\d{2}:\\d{2}:\\d{2}'
    // The last run is still the failed backup run of the test before, not the drill.
    expect(out).toMatch(new RegExp(`^Last run: ${stamp} \\(schedule\\) FAILED$`, 'm'))
    expect(out).toMatch(new RegExp(`^Last restore drill: ${stamp} FAILED$`, 'm'))
    expect(out).toMatch(
      /^SOURCE\s+DATABASE\s+LAST SUCCESS \(Europe\/Berlin\)\s+AGE\s+LAST FAILURE\s+LAST DRILL\s+STATE$/m,
    )
    expect(out).toMatch(
      new RegExp(
        `^notes\\s+notes\\s+${stamp}\\s+\\S.*\\s+${stamp} NOT_FOUND\\s+${stamp} FAILED RESTORE_FAILED\\s+ok, last try FAILED$`,
        'm',
      ),
    )
    expect(out).toMatch(
      new RegExp(
        `^notes/notes: restore drill of notes_x FAILED at ${stamp}: RESTORE_FAILED: drill of notes_x failed: table items has 3 rows — take a new backup$`,
        'm',
      ),
    )
    const json = JSON.parse((await run(['--json'])).out) as Status
    expect(json.sources[0]!.databases[0]).toMatchObject({
      lastFailure: { code: 'NOT_FOUND' },
      lastDrill: { ok: false, code: 'RESTORE_FAILED', backup: 'notes_x' },
    })
    expect(json.lastRun?.trigger).toBe('schedule')
  })

  it('refuses an unknown argument as a usage error', async () => {
    await expect(run(['--verbose'])).rejects.toMatchObject({ code: 'USAGE' })
  })
})

describe('localTime', () => {
  it('shows UTC times exactly as Intl does for the other zones, without asking Intl', () => {
    const intl = (iso: string, tz: string) =>
      new Intl.DateTimeFormat('sv-SE', { timeZone: tz, dateStyle: 'short', timeStyle: 'medium' }).format(new Date(iso))
    for (const iso of [
      '2026-11-22T09:00:00.000Z',
      '2026-01-01T00:00:00.999Z',
      '2024-02-29T23:59:59.500Z',
      '1999-12-31T12:34:56Z',
    ]) {
      expect(localTime(iso, 'UTC')).toBe(intl(iso, 'UTC'))
      expect(localTime(iso, 'Europe/Berlin')).toBe(intl(iso, 'Europe/Berlin'))
    }
    expect(localTime('2026-11-22T09:00:00.000Z', 'Europe/Berlin')).toBe('2026-11-22 10:00:00')
  })
})
