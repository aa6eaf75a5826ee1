import { mkdtemp } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { parseConfig } from '../../src/config/index.js'
import { runCli } from '../support/cli.js'
import { makeSqliteDb } from '../support/sqlite.js'
import type { BackupJson } from '../../src/cli/commands/backup.js'
import type { ListedBackup } from '../../src/cli/commands/list.js'

describe('retention as part of a backup run', () => {
  it('applies the policy after each committed backup, and a failed run prunes nothing', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'dbk-retrun-'))
    const dbPath = join(dir, 'app.db')
    makeSqliteDb(dbPath, 50)
    const env = {
      DB01_TYPE: 'sqlite',
      DB01_PATH: dbPath,
      DB01_LABEL: 'app',
      BACKUP_DIR: join(dir, 'b'),
      KEEP_LAST: '2',
    }
    for (let i = 0; i < 3; i++) expect((await runCli(['backup'], env)).exitCode).toBe(0)
    const list = async () => JSON.parse((await runCli(['list', '--json'], env)).stdout) as ListedBackup[]
    const kept = await list()
    expect(kept).toHaveLength(2)

    // The source now fails (file gone): its run must not touch the existing backups.
    const failed = await runCli(['backup', '--json'], { ...env, DB01_PATH: join(dir, 'gone.db'), KEEP_LAST: '1' })
    expect(failed.exitCode).toBe(1)
    expect((await list()).map((b) => b.id)).toEqual(kept.map((b) => b.id))

    // The JSON report names what retention removed.
    const next = await runCli(['backup', '--json'], { ...env, KEEP_LAST: '1' })
    const report = JSON.parse(next.stdout) as BackupJson
    expect(report.results[0]!.retention!.ok).toBe(true)
    expect(report.results[0]!.retention!.removed).toHaveLength(2)
    expect(await list()).toHaveLength(1)
  })

  it("a source's own tiers replace the implicit 7-day default, but not an explicit global window", () => {
    const base = { BACKUP_DIR: '/backups', DB01_TYPE: 'sqlite', DB01_PATH: '/x/app.db' }
    expect(parseConfig({ ...base, DB01_KEEP_DAILY: '7' }).sources[0]!.retention).toEqual({ keepDaily: 7 })
    expect(parseConfig({ ...base }).sources[0]!.retention).toEqual({ keepWithin: '7d' })
    expect(parseConfig({ ...base, BACKUP_RETENTION_DAYS: '3', DB01_KEEP_DAILY: '7' }).sources[0]!.retention).toEqual({
      keepWithin: '3d',
      keepDaily: 7,
    })
  })
})
