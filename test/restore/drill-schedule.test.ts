/**
 * DRILL_SCHEDULE: the daemon's second cron job drills the latest backups under the volume lock and
 * journals the result with trigger `drill`; stopping it waits for a running drill.
 */
import { mkdir, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { readRuns } from '../../src/catalog/journal.js'
import { parseConfig } from '../../src/config/index.js'
import { lockPath } from '../../src/catalog/lock.js'
import { startDrillSchedule } from '../../src/restore/drill-run.js'
import { captureLogger } from '../support/logs.js'
import { makeSqliteDb } from '../support/sqlite.js'
import { backupNow } from './support.js'

describe('scheduled drills', () => {
  let dir: string
  let env: Record<string, string>
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'dbk-drillsched-'))
    await mkdir(join(dir, 'data'))
    makeSqliteDb(join(dir, 'data', 'notes.db'), 200)
    env = {
      DB01_TYPE: 'sqlite',
      DB01_PATH: join(dir, 'data', 'notes.db'),
      DB01_LABEL: 'notes',
      BACKUP_DIR: join(dir, 'backups'),
      DRILL_SCHEDULE: '* * * * * *',
    }
    await backupNow(env)
  })
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  it('runs on its schedule, journals a passing drill, and releases the lock', async () => {
    const config = parseConfig(env)
    const { logger, lines } = captureLogger()
    const schedule = startDrillSchedule(config, logger)
    const deadline = Date.now() + 60_000
    let drills = (await readRuns(config.backupDir)).filter((r) => r.trigger === 'drill')
    while (drills.length === 0 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 250))
      drills = (await readRuns(config.backupDir)).filter((r) => r.trigger === 'drill')
    }
    await schedule.stop()
    expect(drills[0]).toMatchObject({
      trigger: 'drill',
      ok: true,
      results: [{ source: 'notes', database: 'notes', ok: true, drilled: expect.stringMatching(/^notes_/) }],
    })
    expect(lines().some((l) => String(l.msg).startsWith('drill passed'))).toBe(true)
    await expect(import('node:fs/promises').then((fs) => fs.stat(lockPath(config.backupDir)))).rejects.toThrow()
  })

  it('does nothing without DRILL_SCHEDULE', async () => {
    const { DRILL_SCHEDULE: _unused, ...rest } = env
    const { logger, lines } = captureLogger()
    await startDrillSchedule(parseConfig(rest), logger).stop()
    expect(lines()).toEqual([])
  })
})
