/**
 * Issue 10, fault 5: runs at once. The daemon's scheduled run (every second) plus three manual
 * `dbkeeper backup` started together: never two runs at a time (the journal's intervals in
 * BACKUP_DIR/.dbkeeper/runs.jsonl are disjoint), exit codes only 0 or 3 (3 = lock busy; with
 * --wait they all succeed), and no damaged file (every listed backup verifies). Plus a run paused
 * at the worst moment of taking the lock (failpoint lock.written), while another run takes it and
 * is mid-run: the paused one must then find it taken, never run beside it.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { readRuns } from '../../src/catalog/journal.js'
import { acquireLock } from '../../src/catalog/lock.js'
import { listJson, startCli } from '../support/cli.js'
import {
  EVERY_SECOND,
  FAR_AWAY,
  holdSqliteLock,
  killDaemons,
  readLockFile,
  startDaemon,
  until,
  type DaemonProcess,
} from '../support/daemon.js'
import { freePort } from '../support/servers.js'
import { makeSqliteDb } from '../support/sqlite.js'
import { trial } from '../support/faults/trials.js'
import { assessLoss } from '../support/faults/loss-accounting.js'
import { debrisOnDisk } from '../support/faults/volume-files.js'
import { waitStopped } from '../support/faults/processes.js'
import type { ListedBackup } from '../../src/cli/commands/list.js'

const FAULT = 'concurrent runs'
/** Retention keeps the newest KEEP: each trial re-verifies a bounded number of backups. */
const KEEP = 4

let dir: string
let backupDir: string
let env: Record<string, string>
let daemon: DaemonProcess | undefined

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'dbk-concurrency-'))
  backupDir = join(dir, 'backups')
  makeSqliteDb(join(dir, 'app.db'), 20_000)
  env = {
    BACKUP_DIR: backupDir,
    TZ: 'UTC',
    KEEP_LAST: String(KEEP),
    DB01_TYPE: 'sqlite',
    DB01_PATH: join(dir, 'app.db'),
    DB01_LABEL: 'app',
    SCHEDULE: EVERY_SECOND,
    BACKUP_ON_START: 'true',
    HEALTH_PORT: String(await freePort()),
  }
}, 60_000)

afterAll(async () => {
  await killDaemons()
  if (dir) await rm(dir, { recursive: true, force: true })
})

/** Every run in the journal started after the one before it ended. */
async function expectDisjointRuns(): Promise<number> {
  const runs = (await readRuns(backupDir)).sort((a, b) => a.startedAt.localeCompare(b.startedAt))
  const overlaps = runs
    .slice(1)
    .flatMap((r, i) =>
      r.startedAt < runs[i]!.finishedAt
        ? [
            `${runs[i]!.trigger} run ${runs[i]!.startedAt}–${runs[i]!.finishedAt} (pid ${runs[i]!.pid}) overlaps ${r.trigger} run ${r.startedAt}–${r.finishedAt} (pid ${r.pid})`,
          ]
        : [],
    )
  expect(overlaps).toEqual([])
  return runs.length
}

/**
 * What was proven before is still there and verifies, except what KEEP_LAST let later runs remove
 * (a backup with KEEP newer ones listed after it); everything listed verifies.
 */
async function lostSince(before: ListedBackup[]): Promise<number> {
  // Under the run lock: the daemon's next run waits, so nothing is pruned between list and verify.
  const lock = await acquireLock(backupDir, { command: 'fault test: checking the volume', wait: true })
  try {
    const after = await listJson(env)
    const mayGo = (b: ListedBackup) => after.filter((a) => a.time > b.time).length >= KEEP
    const { lost, details } = await assessLoss(env, before, after, mayGo)
    expect(details).toEqual([])
    return lost
  } finally {
    await lock.release()
  }
}

/** Three manual runs started at once, while the daemon runs every second. */
async function threeAtOnce(wait: boolean): Promise<number> {
  const before = await listJson(env)
  const journalBefore = (await readRuns(backupDir)).length
  const args = wait ? ['backup', '--wait'] : ['backup']
  const runs = await Promise.all([0, 1, 2].map(() => startCli(args, env)))
  const codes = runs.map((r) => r.exitCode)
  for (const r of runs) {
    if (r.exitCode === 3) expect(String(r.stderr)).toMatch(/another dbkeeper run holds the lock: pid \d+/)
    else expect(r.exitCode, String(r.stderr).slice(-2000)).toBe(0)
  }
  if (wait) expect(codes).toEqual([0, 0, 0])
  // Each run that succeeded is in the journal, next to the daemon's.
  const journal = await until(
    async () => {
      const all = await readRuns(backupDir)
      return all.length >= journalBefore + codes.filter((c) => c === 0).length && all
    },
    'the manual runs in the journal',
    { timeoutMs: 30_000 },
  )
  const manual = journal.slice(journalBefore).filter((r) => r.trigger === 'manual')
  expect(manual.length).toBe(codes.filter((c) => c === 0).length)
  await expectDisjointRuns()
  return lostSince(before)
}

describe('concurrent runs: the daemon every second and manual runs', () => {
  it('the daemon is running backups every second', async () => {
    daemon = startDaemon(env)
    await until(async () => (await readRuns(backupDir)).filter((r) => r.ok).length >= 2 && true, 'two daemon runs', {
      context: daemon.output,
      timeoutMs: 60_000,
    })
  }, 120_000)

  for (let round = 1; round <= 3; round++) {
    it(`three manual runs at once beside the daemon (round ${round}): exit 0 or 3, never overlapping`, async () => {
      await trial(FAULT, `daemon every second + 3 manual runs (round ${round})`, () => threeAtOnce(false))
    }, 180_000)
  }

  it('with --wait all three succeed, one after the other', async () => {
    await trial(FAULT, 'daemon every second + 3 manual runs with --wait', () => threeAtOnce(true))
  }, 180_000)

  it('the daemon ran scheduled backups meanwhile, and stops cleanly', async () => {
    const runs = await readRuns(backupDir)
    expect(runs.filter((r) => r.trigger === 'schedule' && r.ok).length).toBeGreaterThanOrEqual(1)
    daemon!.signal('SIGTERM')
    expect(await daemon!.exited, daemon!.output().slice(-3000)).toEqual({ exitCode: 0, signal: undefined })
    expect(await readLockFile(backupDir)).toBeUndefined()
    expect(await debrisOnDisk(backupDir)).toEqual([])
    await expectDisjointRuns()
  }, 120_000)
})

describe('concurrent runs: a run paused while taking the lock', () => {
  for (const contender of ['manual', 'daemon'] as const) {
    it(`never runs beside the ${contender} run that took the lock meanwhile`, async () => {
      await trial(FAULT, `run paused while taking the lock, ${contender} run started`, async () => {
        const before = await listJson(env)
        // Paused in the middle of taking the lock (the failpoint stops it there).
        const paused = startCli(['backup'], { ...env, DBKEEPER_FAILPOINTS: 'lock.written' })
        let pausedEnded = false
        const pausedDone = paused.then((r) => {
          pausedEnded = true
          return r
        })
        await waitStopped(paused.pid!, () => pausedEnded, 'lock.written')
        // The contender takes the volume lock, then waits for the database (held here): it is
        // mid-run, holding the lock, when the paused run goes on.
        const db = holdSqliteLock(env.DB01_PATH!)
        let contenderPid: number
        let contenderDone: Promise<{ exitCode?: number; stderr?: unknown }> | undefined
        try {
          if (contender === 'manual') {
            const other = startCli(['backup'], env)
            contenderPid = other.pid!
            contenderDone = other.then((r) => r)
          } else {
            daemon = startDaemon({ ...env, SCHEDULE: FAR_AWAY, HEALTH_PORT: '0' })
            contenderPid = daemon.pid
          }
          await until(
            async () => (await readLockFile(backupDir))?.pid === contenderPid,
            `the ${contender} run to take the lock`,
            { timeoutMs: 60_000 },
          )
          process.kill(paused.pid!, 'SIGCONT')
          // It must find the lock taken (exit 3), not run beside the contender.
          const resumed = await pausedDone
          expect(resumed.exitCode, String(resumed.stderr).slice(-2000)).toBe(3)
          expect(String(resumed.stderr)).toMatch(new RegExp(`another dbkeeper run holds the lock: pid ${contenderPid}`))
        } finally {
          db.release()
        }
        if (contenderDone) {
          const other = await contenderDone
          expect(other.exitCode, String(other.stderr).slice(-2000)).toBe(0)
        } else {
          await until(
            async () => (await readRuns(backupDir)).some((r) => r.trigger === 'start' && r.pid === daemon!.pid),
            "the daemon's start run",
            { context: daemon!.output },
          )
          daemon!.signal('SIGTERM')
          expect((await daemon!.exited).exitCode).toBe(0)
        }
        await expectDisjointRuns()
        expect(await readLockFile(backupDir)).toBeUndefined()
        expect(await debrisOnDisk(backupDir)).toEqual([])
        return lostSince(before)
      })
    }, 180_000)
  }
})
