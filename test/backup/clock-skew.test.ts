/**
 * Issue 14, item 6: a clock that jumped forward once. A backup taken under it is stamped a year
 * ahead; the runs after it, under the right clock, must keep their own new backups (retention
 * once deleted each of them at once: the future one was "the newest" and took KEEP_LAST), `latest`
 * must be the real newest, and `status --check` must not call the future backup a fresh one.
 */
import Database from 'better-sqlite3'
import { mkdtemp } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { runCli } from '../support/cli.js'
import { makeSqliteDb } from '../support/sqlite.js'
import { trial } from '../support/faults/trials.js'
import type { BackupJson } from '../../src/cli/commands/backup.js'
import type { ListedBackup } from '../../src/cli/commands/list.js'
import type { Status } from '../../src/daemon/status.js'

const SHIFT_CLOCK = fileURLToPath(new URL('../fixtures/shift-clock.mjs', import.meta.url))
const YEAR_MS = 366 * 86_400_000

function rowCount(path: string): number {
  const db = new Database(path, { readonly: true })
  try {
    return (db.prepare('SELECT count(*) AS n FROM items').get() as { n: number }).n
  } finally {
    db.close()
  }
}

describe('a backup stamped in the future (clock skew)', () => {
  it('never outranks the real backups: retention, latest and status ignore it, and say so', async () => {
    await trial(
      'adversarial: clock jumped forward',
      'one backup a year ahead, then two runs on the right clock (KEEP_LAST=1)',
      async () => {
        const dir = await mkdtemp(join(tmpdir(), 'dbk-skew-'))
        const dbPath = join(dir, 'app.db')
        makeSqliteDb(dbPath, 10)
        const env = {
          DB01_TYPE: 'sqlite',
          DB01_PATH: dbPath,
          DB01_LABEL: 'app',
          BACKUP_DIR: join(dir, 'b'),
          KEEP_LAST: '1',
        }
        const list = async () => JSON.parse((await runCli(['list', '--json'], env)).stdout) as ListedBackup[]

        const ahead = await runCli(['backup'], {
          ...env,
          NODE_OPTIONS: `--import ${SHIFT_CLOCK}`,
          TEST_CLOCK_OFFSET_MS: String(YEAR_MS),
        })
        expect(ahead.exitCode, ahead.all).toBe(0)
        const [future] = await list()
        expect(Date.parse(future!.time)).toBeGreaterThan(Date.now() + YEAR_MS / 2)
        expect(future!.warning).toMatch(/future/)

        // Only the future backup: not a fresh one.
        const lonely = await runCli(['status', '--check'], env)
        expect(lonely.exitCode, lonely.all).toBe(1)
        expect(lonely.stdout).toContain('CLOCK SKEW')
        expect(lonely.stdout).toContain(future!.id)

        const ids: string[] = []
        for (let i = 0; i < 2; i++) {
          makeSqliteDb(dbPath, 10) // 10 more rows each time: the restored row count says which backup it was
          const run = await runCli(['backup', '--json'], env)
          expect(run.exitCode, run.all).toBe(0)
          const report = JSON.parse(run.stdout) as BackupJson
          const own = report.results[0]!
          ids.push(own.id!)
          expect(run.stderr).toContain('CLOCK SKEW')
          const listed = (await list()).map((b) => b.id)
          // The run's own backup survives; the future one is kept (evidence), never counted.
          expect(listed).toContain(own.id)
          expect(listed).toContain(future!.id)
        }
        // KEEP_LAST=1 among the real ones: the second normal run removed the first.
        expect((await list()).map((b) => b.id).sort()).toEqual([future!.id, ids[1]!].sort())

        const out = join(dir, 'restored.db')
        const restore = await runCli(['restore', 'latest', '--source', 'app', '--to-file', out, '--yes'], env)
        expect(restore.exitCode, restore.all).toBe(0)
        expect(restore.all).toContain(ids[1]!)
        expect(restore.all).toContain('CLOCK SKEW')
        expect(rowCount(out)).toBe(30)

        const status = await runCli(['status', '--check'], env)
        expect(status.exitCode, status.all).toBe(0)
        expect(status.stdout).toMatch(/^healthy/)
        expect(status.stdout).toContain(`CLOCK SKEW: a backup is stamped in the future: app/app ${future!.id}`)
        const json = JSON.parse((await runCli(['status', '--json'], env)).stdout) as Status
        expect(json.sources[0]!.databases[0]!.lastSuccess!.id).toBe(ids[1])
        expect(json.clockSkew.map((b) => b.id)).toEqual([future!.id])
      },
    )
  }, 120_000)
})
