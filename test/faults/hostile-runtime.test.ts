/**
 * Issue 14, item 12, through the real CLI: a BACKUP_DIR under /proc (Node's recursive mkdir spun
 * there forever at 100% CPU) or through a file, `restore --to-file` into a missing directory, a
 * manifest without its tables, and database names holding newlines and terminal escapes. Each
 * gets a clear error (cause and next step, exit 2 for configuration and usage) or works.
 */
import { readdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { runCli } from '../support/cli.js'
import { makeSqliteDb } from '../support/sqlite.js'
import { trial } from '../support/faults/trials.js'
import type { ListedBackup } from '../../src/cli/commands/list.js'

const FAULT = 'hostile configuration'
/** ESC and CSI, raw: what a terminal would obey. */
// eslint-disable-next-line no-control-regex -- finding raw escapes is the point
const RAW_ESCAPES = /[\u001b\u009b]/
let dir: string
let env: Record<string, string>

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'dbk-hostile-runtime-'))
  makeSqliteDb(join(dir, 'app.db'), 20)
  env = {
    BACKUP_DIR: join(dir, 'backups'),
    DB01_TYPE: 'sqlite',
    DB01_PATH: join(dir, 'app.db'),
    DB01_LABEL: 'app',
    TZ: 'UTC',
  }
})
afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true })
})

describe('hostile runtime configuration (issue 14)', () => {
  it('BACKUP_DIR under /proc: exit 2 at once, naming BACKUP_DIR (it spun at 100% CPU)', async () => {
    await trial(FAULT, 'BACKUP_DIR=/proc/x', async () => {
      const t0 = Date.now()
      // Directly under /proc: its parent exists, and mkdir there answers ENOENT (a deeper path is
      // refused earlier, as a missing parent: test/cli/backup-dir.test.ts).
      const r = await runCli(['backup'], { ...env, BACKUP_DIR: '/proc/dbkeeper-x' }, { timeoutMs: 30_000 })
      expect(r.exitCode, r.all).toBe(2)
      expect(r.stderr).toContain('BACKUP_DIR /proc/dbkeeper-x cannot be created')
      expect(Date.now() - t0).toBeLessThan(25_000)
    })
  }, 60_000)

  it('BACKUP_DIR pointing at a file: exit 2 "is not a directory" from backup, list and status', async () => {
    await trial(FAULT, 'BACKUP_DIR is a file', async () => {
      const file = join(dir, 'a-file')
      await writeFile(file, 'x')
      for (const [args, path] of [
        [['backup'], file],
        [['list'], file],
        [['status'], file],
        [['backup'], join(file, 'sub')],
      ] as const) {
        const r = await runCli([...args], { ...env, BACKUP_DIR: path })
        expect(r.exitCode, `${args.join(' ')}: ${r.all}`).toBe(2)
        expect(r.stderr).toContain(`BACKUP_DIR ${path} is not a directory`)
        expect(r.stderr).toContain('set BACKUP_DIR to a directory')
        expect(r.all).not.toMatch(/scandir|EEXIST: file already exists/)
      }
    })
  }, 60_000)

  it('restore --to-file into a missing directory: says which directory, not an internal temp file', async () => {
    await trial(FAULT, 'restore --to-file into a missing directory', async () => {
      expect((await runCli(['backup'], env)).exitCode).toBe(0)
      const target = join(dir, 'missing', 'out.db')
      const r = await runCli(['restore', 'latest', '--source', 'app', '--to-file', target], env)
      expect(r.exitCode, r.all).toBe(2)
      expect(r.stderr).toContain(`the directory ${join(dir, 'missing')} does not exist`)
      expect(r.stderr).toContain('mkdir -p')
      expect(r.all).not.toContain('dbk-restore')
      expect(r.all).not.toContain('ENOENT')
    })
  }, 60_000)

  it('a manifest without tables: reported as damaged with its file name, never a crash', async () => {
    await trial(FAULT, 'a manifest without "tables"', async () => {
      const backupDir = join(dir, 'damaged')
      const e = { ...env, BACKUP_DIR: backupDir }
      expect((await runCli(['backup'], e)).exitCode).toBe(0)
      const dbDir = join(backupDir, 'app', 'app')
      const name = (await readdir(dbDir)).find((n) => n.endsWith('.manifest.json'))!
      const m = JSON.parse(await readFile(join(dbDir, name), 'utf8')) as Record<string, unknown>
      delete m.tables
      await writeFile(join(dbDir, name), JSON.stringify(m))
      const list = await runCli(['list'], e)
      expect(list.exitCode, list.all).toBe(0)
      expect(list.stderr).toContain(`damaged manifest ${join(dbDir, name)}: the manifest has no list of tables`)
      for (const args of [
        ['list', '--json'],
        ['verify'],
        ['status'],
        ['restore', 'latest', '--source', 'app', '--to-file', join(dir, 'out-damaged.db')],
      ]) {
        const r = await runCli(args, e)
        expect(r.all, args.join(' ')).not.toMatch(/Cannot read properties|TypeError/)
      }
    })
  }, 60_000)

  it('names with newlines and terminal escapes are escaped in human output; JSON stays JSON', async () => {
    await trial(FAULT, 'database names with control characters and terminal escapes', async () => {
      const evil = join(dir, 'ev\nil\u001b[2J\u009bx.db')
      makeSqliteDb(evil, 5)
      const e = { ...env, BACKUP_DIR: join(dir, 'evil'), DB01_PATH: evil }
      const outputs = [
        await runCli(['backup'], e),
        await runCli(['list'], e),
        await runCli(['status'], e),
        await runCli(['restore', 'latest', '--source', 'app', '--to-file', join(dir, 'evil-out.db')], e),
      ]
      for (const r of outputs) {
        expect(r.exitCode, r.all).toBe(0)
        expect(r.all).not.toMatch(RAW_ESCAPES)
        expect(r.stdout).not.toContain('ev\nil')
      }
      expect(outputs[1]!.stdout).toContain('app/ev\\nil\\u001b[2J\\u009bx')
      const json = await runCli(['list', '--json'], e)
      const listed = JSON.parse(json.stdout) as ListedBackup[]
      expect(listed[0]!.database).toBe('ev\nil\u001b[2J\u009bx')
      expect(json.stdout).not.toMatch(RAW_ESCAPES)
    })
  }, 120_000)
})
