/**
 * A long run history written straight into a test volume's journal (the status page's load test):
 * `days` of six-hourly runs of every database, some failed, the older half in the rotated file
 * `runs.1.jsonl` as rotation would have left it, and the newest backups of each database on disk.
 */
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { DatabaseResult, RunRecord } from '../../src/catalog/journal.js'
import { STATE_DIR } from '../../src/catalog/naming.js'
import { writeFakeBackup } from './backups.js'

export const SIX_HOURS = 6 * 3_600_000

export interface HistoryShape {
  /** `source` → its databases. */
  databases: Record<string, string[]>
  days: number
  /** Backups of each database kept on disk (the newest ones). */
  onDisk?: number
}

/** Writes the journal (and the newest backups); returns the number of runs and of database entries. */
export async function writeRunHistory(
  dir: string,
  shape: HistoryShape,
  now = Date.now(),
): Promise<{ runs: number; entries: number }> {
  const runs = Math.floor((shape.days * 24 * 3_600_000) / SIX_HOURS)
  const lines: string[] = []
  let entries = 0
  for (let i = runs; i >= 1; i--) {
    const start = now - i * SIX_HOURS
    const results: DatabaseResult[] = []
    let t = start
    for (const [source, dbs] of Object.entries(shape.databases)) {
      for (const [k, database] of dbs.entries()) {
        const durationMs = 20_000 + k * 8000 + (runs - i) * 20 + ((i * 7 + k) % 5) * 1000
        t += durationMs
        const failed = (i + k) % 97 === 0
        const size = 1_000_000 * (k + 1) + (runs - i) * 1000
        results.push(
          failed
            ? {
                source,
                database,
                ok: false,
                durationMs,
                error: { code: 'CONNECT', message: 'connection refused', hint: `check ${source}` },
              }
            : {
                source,
                database,
                ok: true,
                id: `${database}_${i}`,
                finishedAt: new Date(t).toISOString(),
                size,
                rawSize: size * 4,
                durationMs,
              },
        )
        entries += 1
      }
    }
    const record: RunRecord = {
      runId: `schedule-${new Date(start).toISOString()}`,
      trigger: 'schedule',
      host: 'backup',
      pid: 1,
      startedAt: new Date(start).toISOString(),
      finishedAt: new Date(t).toISOString(),
      ok: results.every((r) => r.ok),
      results,
    }
    lines.push(JSON.stringify(record))
  }
  const state = join(dir, STATE_DIR)
  await mkdir(state, { recursive: true })
  const half = Math.floor(lines.length / 2)
  await writeFile(join(state, 'runs.1.jsonl'), `${lines.slice(0, half).join('\n')}\n`)
  await writeFile(join(state, 'runs.jsonl'), `${lines.slice(half).join('\n')}\n`)
  for (const [source, dbs] of Object.entries(shape.databases))
    for (const database of dbs)
      for (let j = 1; j <= (shape.onDisk ?? 2); j++)
        await writeFakeBackup(dir, source, database, new Date(now - j * SIX_HOURS + 60_000), 1_000_000)
  return { runs, entries }
}

/** Four MySQL sources of five databases each: 20 databases (config only, no server is asked). */
export const YEAR_SOURCES: Record<string, string[]> = {
  shop: ['orders', 'users', 'stock', 'audit', 'search'],
  crm: ['a', 'b', 'c', 'd', 'e'],
  wiki: ['w1', 'w2', 'w3', 'w4', 'w5'],
  erp: ['e1', 'e2', 'e3', 'e4', 'e5'],
}

/** The environment of YEAR_SOURCES; each password is `pw-<host>-s3cret`. */
export function yearEnv(dir: string, port: number): Record<string, string> {
  const env: Record<string, string> = {
    BACKUP_DIR: dir,
    HEALTH_PORT: String(port),
    SCHEDULE: '0 */6 * * *',
    HEALTH_MAX_AGE: '13h',
  }
  Object.entries(YEAR_SOURCES).forEach(([host, dbs], i) => {
    const p = `DB0${i + 1}`
    Object.assign(env, {
      [`${p}_TYPE`]: 'mysql',
      [`${p}_HOST`]: host,
      [`${p}_USER`]: 'backup',
      [`${p}_PASS`]: `pw-${host}-s3cret`,
      [`${p}_NAME`]: dbs.join(','),
    })
  })
  return env
}
