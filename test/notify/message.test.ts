/** The alert text and facts, pure: what an operator reads at 3 a.m. */
import { describe, expect, it } from 'vitest'
import { buildAlert, scrubAlert } from '../../src/notify/message.js'
import { Secret } from '../../src/runtime/secrets.js'
import { fakeEntry, fakeRun } from '../support/backups.js'

const H = 3_600_000
const NOW = new Date('2026-11-22T12:00:00Z')
const ago = (ms: number) => new Date(NOW.getTime() - ms)
const fail = (source: string, database: string, code = 'CONNECT', message = 'connect ECONNREFUSED 10.0.0.5:3306') => ({
  source,
  database,
  ok: false,
  error: { code, message },
})

describe('buildAlert', () => {
  it('gives a whole-source failure the age of each of its databases', () => {
    const backups = [
      fakeEntry('app', 'shop', ago(30 * H)),
      fakeEntry('app', 'crm', ago(7 * H)),
      fakeEntry('other', 'x', ago(H)),
    ]
    const a = buildAlert(fakeRun(NOW, [fail('app', '*')]), backups, NOW, new Map([['app', 'DB03']]))
    expect(a.facts.failures[0]!.lastGood.map((g) => [g.database, g.ageSeconds])).toEqual([
      ['shop', 30 * 3600],
      ['crm', 7 * 3600],
    ])
    expect(a.text).toContain('FAILED  app/*')
    expect(a.text).toMatch(/last good backup of shop: 1d 6h old/)
    expect(a.text).toMatch(/last good backup of crm: 7h old/)
    expect(a.text).toContain('Check DB03_HOST / DB03_PORT')
    expect(a.text).toContain('`dbkeeper backup app`')
  })

  it('says plainly when a database has never been backed up', () => {
    const a = buildAlert(fakeRun(NOW, [fail('app', 'new', 'AUTH', 'Access denied')]), [], NOW)
    expect(a.text).toContain('last good backup: NONE — there is no proven backup of this database')
    expect(a.facts.failures[0]!.lastGood).toEqual([])
    expect(a.text).toContain('check DBnn_USER and DBnn_PASS')
  })

  it("keeps a tool's multi-line stderr tail readable", () => {
    const a = buildAlert(
      fakeRun(NOW, [
        fail('app', 'shop', 'DUMP_FAILED', 'mysqldump exited 2\nmysqldump: Error 2013: Lost connection\nduring query'),
      ]),
      [],
      NOW,
    )
    expect(a.text).toContain(
      '  error: DUMP_FAILED: mysqldump exited 2\n         mysqldump: Error 2013: Lost connection\n         during query\n',
    )
  })

  it("shows the dump tool's last lines on stderr under the error", () => {
    const failure = {
      ...fail('app', 'shop', 'DUMP_FAILED', 'mysqldump exited 2: Error 2013: Lost connection'),
      error: {
        code: 'DUMP_FAILED',
        message: 'mysqldump exited 2: Error 2013: Lost connection',
        output: '-- Retrieving rows...\nmysqldump: Error 2013: Lost connection',
      },
    }
    const a = buildAlert(fakeRun(NOW, [failure]), [], NOW)
    expect(a.facts.failures[0]!.output).toBe('-- Retrieving rows...\nmysqldump: Error 2013: Lost connection')
    expect(a.text).toContain(
      "  the tool's last lines on stderr:\n    | -- Retrieving rows...\n    | mysqldump: Error 2013: Lost connection\n",
    )
  })

  it('names at most four failing sources in the subject', () => {
    const run = fakeRun(
      NOW,
      ['a', 'b', 'c', 'd', 'e', 'f'].map((s) => fail(s, 'db')),
    )
    expect(buildAlert(run, [], NOW).subject).toBe('[dbkeeper] backup FAILED on backup-host: a, b, c, d and 2 more')
  })

  it('reports a run that failed before any database (run errors)', () => {
    const run = fakeRun(NOW, [], {
      ok: false,
      errors: [{ code: 'NO_SPACE', message: 'no space left on device (/backups)' }],
    })
    const a = buildAlert(run, [], NOW)
    expect(a.subject).toBe('[dbkeeper] backup FAILED on backup-host: NO_SPACE')
    expect(a.text).toContain('RUN ERROR  NO_SPACE: no space left on device (/backups)')
    expect(a.text).toContain('The backup volume is full')
  })

  it('summarises a successful run without advice', () => {
    const a = buildAlert(
      fakeRun(NOW, [{ source: 'app', database: 'shop', id: 'shop_1', size: 3 * 1024 * 1024 }]),
      [],
      NOW,
    )
    expect(a.subject).toBe('[dbkeeper] backup OK on backup-host: 1 database backed up')
    expect(a.text).toContain('OK      app/shop  shop_1  (3.0 MiB)')
    expect(a.text).not.toContain('What to check next')
    expect(a.facts.nextSteps).toEqual([])
  })
})

describe('buildAlert for a restore drill', () => {
  const drill = (results: Parameters<typeof fakeRun>[1], extra: Parameters<typeof fakeRun>[2] = {}) =>
    fakeRun(NOW, results, { trigger: 'drill', ...extra })

  it('says "restore drill FAILED", names the drilled backup, and never reads as a failed backup', () => {
    const backups = [fakeEntry('app', 'shop', ago(5 * H))]
    const record = drill([
      {
        source: 'app',
        database: 'shop',
        ok: false,
        drilled: 'shop_20261122T070000Z',
        error: {
          code: 'RESTORE_FAILED',
          message: 'drill of shop_20261122T070000Z failed: line 12 differs',
          hint: 'take a new backup',
        },
      },
      { source: 'app', database: 'crm', drilled: 'crm_20261122T070000Z' },
    ])
    const a = buildAlert(record, backups, NOW, new Map([['app', 'DB01']]))
    expect(a.subject).toBe('[dbkeeper] restore drill FAILED on backup-host: app/shop')
    expect(a.text).toMatch(
      /^dbkeeper on backup-host: the restore drill FAILED — 1 of 2 latest backups did not restore to what they hold\.$/m,
    )
    expect(a.text).toContain('no backup was taken or changed')
    expect(a.text).toContain(
      'DRILL FAILED  app/shop  backup shop_20261122T070000Z\n  error: RESTORE_FAILED: drill of shop_20261122T070000Z failed: line 12 differs\n  hint:  take a new backup\n',
    )
    expect(a.text).toContain('DRILL OK      app/crm  backup crm_20261122T070000Z')
    expect(a.text).toContain('`dbkeeper verify shop_20261122T070000Z --source app --drill`')
    expect(a.text).not.toMatch(/backup FAILED|the backup run|dbkeeper backup app`|last good backup/)
    expect(a.facts).toMatchObject({
      kind: 'drill',
      trigger: 'drill',
      ok: false,
      failures: [{ source: 'app', database: 'shop', drilled: 'shop_20261122T070000Z', code: 'RESTORE_FAILED' }],
    })
    expect(a.facts.succeeded).toEqual([{ source: 'app', database: 'crm', drilled: 'crm_20261122T070000Z' }])
  })

  it('gives drill advice per cause, and reports a drill that could not run', () => {
    const privilege = buildAlert(
      drill([
        {
          source: 'app',
          database: 'shop',
          ok: false,
          drilled: 'shop_1',
          error: { code: 'PRIVILEGE', message: 'CREATE DATABASE denied' },
        },
      ]),
      [],
      NOW,
      new Map([['app', 'DB02']]),
    )
    expect(privilege.facts.nextSteps[0]).toBe(
      'The drill may not create, fill or drop its scratch database `dbkeeper_drill_…`: grant DB02_USER that (docs/RESTORE.md, Privileges).',
    )
    const broken = buildAlert(
      drill([], { ok: false, errors: [{ code: 'IO', message: 'EIO listing /backups' }] }),
      [],
      NOW,
    )
    expect(broken.subject).toBe('[dbkeeper] restore drill FAILED on backup-host: IO')
    expect(broken.text).toContain('the restore drill FAILED before drilling any backup')
    expect(broken.text).toContain('DRILL ERROR  IO: EIO listing /backups')
  })

  it('summarises a passed drill', () => {
    const a = buildAlert(drill([{ source: 'app', database: 'shop', drilled: 'shop_1' }]), [], NOW)
    expect(a.subject).toBe('[dbkeeper] restore drill OK on backup-host: 1 backup restored and compared')
    expect(a.text).toContain('the restore drill passed')
    expect(a.facts.nextSteps).toEqual([])
  })

  it('a backup run\'s alert says kind "backup"', () => {
    expect(buildAlert(fakeRun(NOW, [{ source: 'app', database: 'shop', id: 'shop_1' }]), [], NOW).facts.kind).toBe(
      'backup',
    )
  })
})

describe('scrubAlert', () => {
  it('masks every registered secret in the subject, the text and the facts', () => {
    const secret = new Secret('hunter2-"quoted"')
    const run = fakeRun(NOW, [fail(`app`, 'shop', 'AUTH', `password ${secret.reveal()} refused`)])
    const a = scrubAlert(buildAlert(run, [], NOW))
    expect(JSON.stringify(a)).not.toContain('hunter2')
    expect(a.facts.failures[0]!.message).toBe('password *** refused')
  })
})
