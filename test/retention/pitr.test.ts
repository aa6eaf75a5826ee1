/**
 * Retention beside point-in-time recovery (src/retention/pitr.ts): no base backup that a time
 * inside PITR_WINDOW needs is removed, whatever KEEP_* says; what falls out of the window goes.
 * Pure, as a property over random bases and times, through decideRetention, and on a real volume
 * through the run's retention step for a DBnn_PITR MySQL source.
 */
import fc from 'fast-check'
import { readdir } from 'node:fs/promises'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { databaseDir } from '../../src/catalog/naming.js'
import { parseConfig } from '../../src/config/index.js'
import { applyRetentionAfterBackup } from '../../src/pipeline/retention-step.js'
import { PITR_BASE, pitrKeeps, windowBase, type PitrBase } from '../../src/retention/pitr.js'
import { decideRetention, NEWEST_PROVEN, type RetentionScope } from '../../src/retention/safety.js'
import { captureLogger } from '../support/logs.js'
import { NUM_RUNS } from './arbitraries.js'
import { fakeEntry, makeTempDir, timesEvery, writeBackup } from './helpers.js'

const DAY = 86_400_000
const NOW = new Date('2026-12-05T12:00:00Z')
/** A base that took 1.5 s (fakeManifest's). */
const base = (startedAt: Date): PitrBase => ({
  id: startedAt.toISOString(),
  finishedAt: new Date(startedAt.getTime() + 1500).toISOString(),
})

describe('windowBase and pitrKeeps', () => {
  const daily = timesEvery(24, 10, new Date('2026-12-05T02:00:00Z')).map(base)

  it('keeps the newest base finished before now − window, and every base after it', () => {
    // Window 3 days: its start is 2026-12-02T12:00Z; the base of 2026-12-02T02:00Z covers it.
    expect(windowBase(daily, NOW, 3 * DAY)?.id).toBe('2026-12-02T02:00:00.000Z')
    expect([...pitrKeeps(daily, NOW, 3 * DAY)].sort()).toEqual([
      '2026-12-02T02:00:00.000Z',
      '2026-12-03T02:00:00.000Z',
      '2026-12-04T02:00:00.000Z',
      '2026-12-05T02:00:00.000Z',
    ])
  })

  it('counts a base by when it finished: one that started before the cut and finished after is not the window base', () => {
    const straddling = { id: 'straddling', finishedAt: new Date(NOW.getTime() - DAY + 1000).toISOString() }
    const older = { id: 'older', finishedAt: new Date(NOW.getTime() - 2 * DAY).toISOString() }
    expect(windowBase([older, straddling], NOW, DAY)?.id).toBe('older')
    expect(pitrKeeps([older, straddling], NOW, DAY)).toEqual(new Set(['older', 'straddling']))
  })

  it('keeps every base when all are younger than the window (none is old enough to be its base)', () => {
    expect(windowBase(daily, NOW, 30 * DAY)).toBeUndefined()
    expect(pitrKeeps(daily, NOW, 30 * DAY).size).toBe(daily.length)
  })

  it('property: for every time inside the window, the newest base finished by then is kept', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.integer({ min: 0, max: 60 * DAY }), { minLength: 1, maxLength: 30 }),
        fc.integer({ min: 1000, max: 20 * DAY }),
        fc.integer({ min: 0, max: 1_000_000 }),
        (offsets, windowMs, frac) => {
          const now = new Date(Date.parse('2027-01-01T00:00:00Z'))
          const bases = offsets.map((o) => ({ id: String(o), finishedAt: new Date(now.getTime() - o).toISOString() }))
          const kept = pitrKeeps(bases, now, windowMs)
          const at = now.getTime() - Math.floor((windowMs * frac) / 1_000_000)
          const needed = bases
            .filter((b) => Date.parse(b.finishedAt) <= at)
            .sort((a, b) => Date.parse(b.finishedAt) - Date.parse(a.finishedAt))[0]
          if (needed) expect(kept.has(needed.id)).toBe(true)
          // Nothing older than the window's base is kept by this rule.
          const wb = windowBase(bases, now, windowMs)
          if (wb)
            for (const id of kept)
              expect(Date.parse(bases.find((b) => b.id === id)!.finishedAt)).toBeGreaterThanOrEqual(
                Date.parse(wb.finishedAt),
              )
        },
      ),
      { numRuns: NUM_RUNS },
    )
  })
})

describe('decideRetention with a PITR window', () => {
  const entries = timesEvery(24, 10, new Date('2026-12-05T02:00:00Z'))
    .reverse()
    .map((t) => fakeEntry('shop', 'app', t))
  const scope = (extra: Partial<RetentionScope> = {}): RetentionScope => ({
    source: 'shop',
    database: 'app',
    policy: { keepLast: 1 },
    tz: 'UTC',
    now: NOW,
    ...extra,
  })

  it('KEEP_LAST=1 alone keeps one base; with PITR_WINDOW=3d the four a time inside it needs', () => {
    expect(decideRetention(entries, scope()).remove).toHaveLength(9)
    const d = decideRetention(entries, scope({ pitrWindowMs: 3 * DAY }))
    const kept = d.verdicts.filter((v) => v.action === 'keep')
    expect(kept.map((v) => v.startedAt)).toEqual([
      '2026-12-05T02:00:00.000Z',
      '2026-12-04T02:00:00.000Z',
      '2026-12-03T02:00:00.000Z',
      '2026-12-02T02:00:00.000Z',
    ])
    expect(kept[0]!.reasons).toEqual(['last snapshot', NEWEST_PROVEN, PITR_BASE])
    expect(kept[3]!.reasons).toEqual([PITR_BASE])
    expect(d.remove.map((e) => e.manifest.startedAt)).toEqual(entries.slice(4).map((e) => e.manifest.startedAt))
  })
})

describe('the run retention step for a DBnn_PITR MySQL source, on the volume', () => {
  let tmp: { path: string; remove(): Promise<void> }
  beforeEach(async () => {
    tmp = await makeTempDir()
  })
  afterEach(() => tmp.remove())

  it('removes what falls out of the window, never a base the window needs', async () => {
    const times = timesEvery(24, 8, new Date(Date.now() - 3_600_000))
    for (const t of times) await writeBackup(tmp.path, 'shop', 'app', t)
    const env = {
      BACKUP_DIR: tmp.path,
      DB01_TYPE: 'mysql',
      DB01_HOST: '127.0.0.1',
      DB01_NAME: 'app',
      DB01_LABEL: 'shop',
      DB01_KEEP_LAST: '1',
      DB01_PITR: 'true',
      PITR_WINDOW: '2d',
    }
    const config = parseConfig(env)
    const { logger } = captureLogger()
    const out = await applyRetentionAfterBackup({ config, source: config.sources[0]!, database: 'app', logger })
    expect(out.ok).toBe(true)
    // Bases 1 h, 25 h, 49 h, 73 h … old: now − 48 h falls after the one of 49 h, which a restore to
    // the window's first second starts from; it and the two after it stay.
    expect(out.removed).toHaveLength(5)
    const left = (await readdir(databaseDir(tmp.path, 'shop', 'app'))).filter((f) => f.endsWith('.manifest.json'))
    expect(left).toHaveLength(3)

    // The same source without DBnn_PITR keeps its one.
    const plain = parseConfig({ ...env, DB01_PITR: 'false' })
    const again = await applyRetentionAfterBackup({ config: plain, source: plain.sources[0]!, database: 'app', logger })
    expect(again.removed).toHaveLength(2)
  })
})
