/**
 * `dbkeeper prune` as a Command on a real temporary volume: which directories it visits, its
 * JSON and human output, dry run, exit codes, and a refused database not stopping the others.
 */
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { listDatabaseDir } from '../../src/catalog/catalog.js'
import { databaseDir } from '../../src/catalog/naming.js'
import { pruneCommand, type PruneOutput } from '../../src/cli/commands/prune.js'
import type { CommandContext } from '../../src/cli/command.js'
import type { Config, RetentionPolicy } from '../../src/config/types.js'
import { lockPath } from '../../src/catalog/lock.js'
import { createLogger } from '../../src/runtime/logger.js'
import { exists, makeTempDir, snapshotTree, timesEvery, writeBackup } from './helpers.js'

const DAYS = timesEvery(24, 6, new Date('2026-01-06T12:00:00Z'))

let volume: { path: string; remove(): Promise<void> }

/** Only the fields prune reads; the rest of Config belongs to other commands. */
function config(sources: { label: string; retention: RetentionPolicy }[]): Config {
  return { backupDir: volume.path, tz: 'UTC', retention: {}, sources, s3Targets: [] } as unknown as Config
}

async function run(args: string[], cfg: Config): Promise<{ code: number; out: string }> {
  const printed: string[] = []
  const ctx: CommandContext = {
    args,
    config: cfg,
    logger: createLogger({ level: 'silent', format: 'json' }),
    print: (t) => printed.push(t),
    isTTY: false,
    signal: new AbortController().signal,
  }
  const code = await pruneCommand.run(ctx)
  return { code, out: printed.join('\n') }
}

beforeEach(async () => {
  volume = await makeTempDir()
  for (const db of ['shop', 'my.db']) for (const t of DAYS) await writeBackup(volume.path, 'app', db, t)
  for (const t of DAYS) await writeBackup(volume.path, 'web', 'cms', t)
  // A directory dbkeeper would never have named this way (it encodes '.' as %2E): not visited.
  await mkdir(join(volume.path, 'app', 'not.ours'), { recursive: true })
  await writeFile(join(volume.path, 'app', 'README'), 'a file next to the database directories\n')
})
afterEach(() => volume.remove())

describe('dbkeeper prune', () => {
  it('prunes every database directory of every source and prints the stable JSON shape', async () => {
    const cfg = config([
      { label: 'app', retention: { keepLast: 2 } },
      { label: 'web', retention: { keepDaily: 4 } },
    ])
    const { code, out } = await run(['--json'], cfg)
    expect(code).toBe(0)
    const parsed = JSON.parse(out) as PruneOutput
    expect(parsed.dryRun).toBe(false)
    expect(
      parsed.databases.map((d) => [
        d.source,
        d.database,
        d.status,
        d.backups.filter((b) => b.action === 'keep').length,
      ]),
    ).toEqual([
      ['app', 'my.db', 'ok', 2],
      ['app', 'shop', 'ok', 2],
      ['web', 'cms', 'ok', 4],
    ])
    const first = parsed.databases[0]!
    expect(first.directory).toBe(join(volume.path, 'app', 'my%2Edb'))
    expect(first.policy).toEqual({ keepLast: 2 })
    expect(first.backups[0]).toEqual({
      id: 'my%2Edb_20260106T120000Z',
      file: 'my%2Edb_20260106T120000Z.db.gz',
      startedAt: '2026-01-06T12:00:00.000Z',
      kind: 'backup',
      action: 'keep',
      reasons: ['last snapshot', 'newest proven backup'],
    })
    expect(first.deleted).toHaveLength(12)
    expect(await listDatabaseDir(databaseDir(volume.path, 'web', 'cms'))).toHaveLength(4)
    expect(await exists(join(volume.path, 'app', 'README'))).toBe(true)
    expect(await exists(join(volume.path, 'app', 'not.ours'))).toBe(true)
    expect(await exists(lockPath(volume.path))).toBe(false)
  })

  it("with SOURCE and --dry-run shows that source's plan and changes nothing", async () => {
    const before = await snapshotTree(volume.path)
    const { code, out } = await run(
      ['web', '--dry-run'],
      config([
        { label: 'app', retention: { keepLast: 1 } },
        { label: 'web', retention: { keepLast: 1 } },
      ]),
    )
    expect(code).toBe(0)
    expect(await snapshotTree(volume.path)).toEqual(before)
    const lines = out.split('\n')
    expect(lines[0]).toBe('dry run: nothing is deleted')
    expect(lines[1]).toBe('web/cms  (policy: keepLast=1; TZ UTC)')
    expect(lines[2]).toBe('  keep    cms_20260106T120000Z  last snapshot, newest proven backup')
    expect(lines[3]).toBe('  remove  cms_20260105T120000Z  no rule of keepLast=1 keeps it')
    expect(out).not.toContain('app/')
  })

  it("exits 1 when a database's plan is refused, and still prunes the others", async () => {
    const { code, out } = await run(
      [],
      config([
        { label: 'app', retention: {} },
        { label: 'web', retention: { keepLast: 1 } },
      ]),
    )
    expect(code).toBe(1)
    expect(out).toContain(
      'app/shop  (policy: (no rule); TZ UTC)\n  REFUSED: retention for app/shop refused: the policy (no rule) keeps nothing and would remove all 6 backups; nothing was deleted — set a policy',
    )
    expect(out).toContain('web/cms  (policy: keepLast=1; TZ UTC)')
    expect(out).toContain('  removed 5 backups (15 files)')
    expect(await listDatabaseDir(databaseDir(volume.path, 'app', 'shop'))).toHaveLength(6)
    expect(await listDatabaseDir(databaseDir(volume.path, 'web', 'cms'))).toHaveLength(1)
  })

  it('refuses an unknown SOURCE as a usage error, naming the configured ones', async () => {
    await expect(run(['nope'], config([{ label: 'app', retention: { keepLast: 1 } }]))).rejects.toMatchObject({
      code: 'USAGE',
      hint: 'configured sources: app',
    })
    await expect(run(['--force'], config([]))).rejects.toMatchObject({ code: 'USAGE' })
  })
})
