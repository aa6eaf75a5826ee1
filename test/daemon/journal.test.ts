/**
 * Issue 14, item 11: a bounded journal. `runs.jsonl` is rotated at its size limit, the rotated
 * files are bounded in number, a torn last line is skipped, and every reader reads from the end:
 * with a 600 MB journal (generated in a few large writes) `status` and the daemon start and answer
 * correctly with a bounded memory (peak RSS from /proc), and the next run's append rotates it.
 */
import { readFileSync } from 'node:fs'
import { appendFile, mkdir, mkdtemp, open, readdir, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { JOURNAL_MAX_BYTES } from '../../src/catalog/journal-files.js'
import { appendRun, readRuns, type RunRecord } from '../../src/catalog/journal.js'
import { runCli, startCli } from '../support/cli.js'
import { FAR_AWAY, killDaemons, startDaemon, until } from '../support/daemon.js'
import { freePort } from '../support/servers.js'
import { makeSqliteDb } from '../support/sqlite.js'
import { trial } from '../support/faults/trials.js'

const FAULT = 'adversarial: a journal of any size'
let dir: string

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'dbk-journal-'))
})
afterEach(killDaemons)
afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true })
})

function record(runId: string, ok = true, at = '2026-01-01T00:00:00.000Z'): RunRecord {
  return {
    runId,
    trigger: 'schedule',
    host: 'h',
    pid: 1,
    startedAt: at,
    finishedAt: at,
    ok,
    results: [
      {
        source: 'app',
        database: 'app',
        ok,
        durationMs: 5,
        ...(ok ? {} : { error: { code: 'DUMP_FAILED', message: `failed in ${runId}` } }),
      },
    ],
  }
}

const stateDir = (backupDir: string) => join(backupDir, '.dbkeeper')

/** Peak RSS (VmHWM, kB) of a process, polled until it ends. */
function peakRss(pid: number): { stop: () => number } {
  let peak = 0
  const read = () => {
    try {
      const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
      if (m) peak = Math.max(peak, Number(m[1]))
    } catch {
      // gone
    }
  }
  const timer = setInterval(read, 5)
  return { stop: () => (clearInterval(timer), read(), peak) }
}

describe('journal rotation', () => {
  it('rotates at the limit, keeps a bounded number of files and reads across them in order', async () => {
    const backupDir = join(dir, 'small')
    const limits = { maxBytes: 2000, keepFiles: 2, keepDays: 400 }
    for (let i = 0; i < 40; i++) await appendRun(backupDir, record(`r${i}`), limits)
    const names = (await readdir(stateDir(backupDir))).sort()
    expect(names).toEqual(['runs.1.jsonl', 'runs.2.jsonl', 'runs.jsonl'])
    for (const n of names) expect((await stat(join(stateDir(backupDir), n))).size).toBeLessThan(2000 + 400)
    const runs = await readRuns(backupDir, 10)
    expect(runs.map((r) => r.runId)).toEqual(Array.from({ length: 10 }, (_, i) => `r${30 + i}`))
    const all = await readRuns(backupDir)
    expect(all.at(-1)!.runId).toBe('r39')
    expect(all.map((r) => Number(r.runId.slice(1)))).toEqual(
      [...all.map((r) => Number(r.runId.slice(1)))].sort((a, b) => a - b),
    )
  })

  it('rotates at the default threshold (16 MiB), not before', async () => {
    const backupDir = join(dir, 'default')
    await mkdir(stateDir(backupDir), { recursive: true })
    const line = `${JSON.stringify(record('filler'))}\n`
    const count = Math.floor(JOURNAL_MAX_BYTES / line.length) - 2
    await writeFile(join(stateDir(backupDir), 'runs.jsonl'), line.repeat(count))
    await appendRun(backupDir, record('below'))
    expect(await readdir(stateDir(backupDir))).toEqual(['runs.jsonl'])
    while ((await stat(join(stateDir(backupDir), 'runs.jsonl'))).size < JOURNAL_MAX_BYTES)
      await appendFile(join(stateDir(backupDir), 'runs.jsonl'), line)
    await appendRun(backupDir, record('after'))
    expect((await readdir(stateDir(backupDir))).sort()).toEqual(['runs.1.jsonl', 'runs.jsonl'])
    expect((await readRuns(backupDir, 2)).map((r) => r.runId)).toEqual(['filler', 'after'])
  })

  it('skips a line torn by a crash mid-append, and the next record is not swallowed by it', async () => {
    await trial(FAULT, 'a torn last line (killed mid-append)', async () => {
      const backupDir = join(dir, 'torn')
      await appendRun(backupDir, record('before'))
      await appendFile(join(stateDir(backupDir), 'runs.jsonl'), JSON.stringify(record('torn')).slice(0, 70))
      expect((await readRuns(backupDir)).map((r) => r.runId)).toEqual(['before'])
      await appendRun(backupDir, record('after'))
      expect((await readRuns(backupDir)).map((r) => r.runId)).toEqual(['before', 'after'])
    })
  })
})

describe('a 600 MB journal', () => {
  it('status and the daemon answer correctly in bounded memory; the next run rotates it', async () => {
    await trial(FAULT, '600 MB runs.jsonl: status, daemon start, /healthz, /metrics, rotation', async () => {
      const backupDir = join(dir, 'huge')
      await mkdir(stateDir(backupDir), { recursive: true })
      const journal = join(stateDir(backupDir), 'runs.jsonl')
      const line = `${JSON.stringify(record('old-ok', true, '2025-06-01T00:00:00.000Z'))}\n`
      const block = Buffer.from(line.repeat(Math.ceil((64 * 1024 * 1024) / line.length)))
      const handle = await open(journal, 'w')
      for (let i = 0; i < 10; i++) await handle.write(block)
      await handle.write(
        `${JSON.stringify(record('last-run', false, '2026-01-02T00:00:00.000Z'))}\n${JSON.stringify(record('torn')).slice(0, 50)}`,
      )
      await handle.close()
      expect((await stat(journal)).size).toBeGreaterThan(600 * 1024 * 1024)
      makeSqliteDb(join(dir, 'app.db'), 10)
      const env = {
        BACKUP_DIR: backupDir,
        DB01_TYPE: 'sqlite',
        DB01_PATH: join(dir, 'app.db'),
        DB01_LABEL: 'app',
        TZ: 'UTC',
      }

      const t0 = Date.now()
      const child = startCli(['status', '--json'], env)
      const rss = peakRss(child.pid!)
      const r = await child
      const statusPeakKb = rss.stop()
      const statusMs = Date.now() - t0
      const status = JSON.parse(String(r.stdout)) as {
        lastRun: { runId: string }
        sources: { databases: { database: string; lastFailure: { runId: string } | null }[] }[]
      }
      expect(status.lastRun.runId).toBe('last-run')
      expect(status.sources[0]!.databases[0]!.lastFailure!.runId).toBe('last-run')
      expect(statusPeakKb, `status peak RSS ${statusPeakKb} kB`).toBeLessThan(200 * 1024)

      const port = await freePort()
      const daemon = startDaemon({ ...env, SCHEDULE: FAR_AWAY, HEALTH_PORT: String(port) })
      const daemonRss = peakRss(daemon.pid)
      await daemon.waitForLog((l) => l.msg === 'dbkeeper daemon started', 'the daemon to start', 60_000)
      const health = await until(
        async () =>
          fetch(`http://127.0.0.1:${port}/healthz`)
            .then((x) => x.json() as Promise<{ lastRun: { runId: string } }>)
            .catch(() => undefined),
        '/healthz',
      )
      expect(health.lastRun.runId).toBe('last-run')
      const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text()
      expect(metrics).toMatch(/dbkeeper_/)
      const daemonPeakKb = daemonRss.stop()
      daemon.signal('SIGTERM')
      await daemon.exited
      expect(daemonPeakKb, `daemon peak RSS ${daemonPeakKb} kB`).toBeLessThan(200 * 1024)

      const backup = await runCli(['backup'], env)
      expect(backup.exitCode, backup.all).toBe(0)
      const names = (await readdir(stateDir(backupDir))).filter((n) => n.startsWith('runs')).sort()
      expect(names).toEqual(['runs.1.jsonl', 'runs.jsonl'])
      expect((await stat(join(stateDir(backupDir), 'runs.1.jsonl'))).size).toBeLessThanOrEqual(JOURNAL_MAX_BYTES)
      // The daemon's shutdown may have added its own record between the two.
      const runs = await readRuns(backupDir)
      expect(runs).toHaveLength(1000)
      const last = runs.findIndex((x) => x.runId === 'last-run')
      expect(runs.slice(0, last).every((x) => x.runId === 'old-ok')).toBe(true)
      expect(runs.at(-1)!.ok, JSON.stringify(runs.slice(last))).toBe(true)
      console.log(
        `600 MB journal: status ${statusMs} ms, peak RSS ${Math.round(statusPeakKb / 1024)} MB; daemon peak RSS ${Math.round(daemonPeakKb / 1024)} MB`,
      )
    })
  }, 180_000)
})
