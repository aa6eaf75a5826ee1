/**
 * The typos of the first hour, as an operator meets them at the command line: a misspelt
 * variable, command or flag, and a source that does not exist, each exit 2 with one message that
 * says what was meant. And the JSON log's times are ISO 8601.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { runCli } from '../support/cli.js'
import { makeSqliteDb } from '../support/sqlite.js'

let tmp: string
let env: Record<string, string>

beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'dbkeeper-cli-typos-'))
  makeSqliteDb(join(tmp, 'notes.db'), 20)
  env = { DB01_TYPE: 'sqlite', DB01_PATH: join(tmp, 'notes.db'), BACKUP_DIR: join(tmp, 'backups') }
})

afterAll(() => {
  rmSync(tmp, { recursive: true, force: true })
})

/** Every quote that opens is closed: Node's own parseArgs message left one open. */
function balanced(text: string): boolean {
  return (text.match(/"/g) ?? []).length % 2 === 0 && (text.match(/'/g) ?? []).length % 2 === 0
}

describe.concurrent('a misspelt variable', () => {
  it.each([
    ['SCHEDUEL', '0 3 * * *', 'SCHEDUEL: expected a known variable (did you mean SCHEDULE?); got "…"'],
    ['KEEP_DIALY', '7', 'KEEP_DIALY: expected a known variable (did you mean KEEP_DAILY?)'],
    ['SMTP_HOSTT', 'smtp.example.com', 'SMTP_HOSTT: expected a known variable (did you mean SMTP_HOST?)'],
    ['DB01_BACKUP_INTERVAL', '60', 'DB01_BACKUP_INTERVAL comes from tiredofit/nfrastack db-backup; dbkeeper: SCHEDULE'],
    ['DB_DUMP_FREQ', '60', 'DB_DUMP_FREQ comes from databacker/mysql-backup'],
    ['TIMEZONE', 'Europe/Berlin', 'TIMEZONE comes from tiredofit/nfrastack db-backup; dbkeeper: TZ'],
  ])('%s stops `backup` with exit 2 before anything is created', async (name, value, message) => {
    const backupDir = join(tmp, `refused-${name}`)
    const r = await runCli(['backup'], { ...env, BACKUP_DIR: backupDir, [name]: value })
    expect(r.exitCode, r.all).toBe(2)
    expect(r.stderr).toContain('invalid configuration (1 problem)')
    expect(r.stderr).toContain(message)
    expect(existsSync(backupDir)).toBe(false)
  })
})

describe.concurrent('a misspelt command', () => {
  it('`bakup` suggests backup, exit 2, without the whole help', async () => {
    const r = await runCli(['bakup'], env)
    expect(r.exitCode, r.all).toBe(2)
    expect(r.stderr.trim()).toBe('dbkeeper: unknown command "bakup": did you mean backup?')
    expect(r.stdout).toBe('')
  })

  it('`lsit` suggests list', async () => {
    const r = await runCli(['lsit'], env)
    expect(r.exitCode, r.all).toBe(2)
    expect(r.stderr).toContain('did you mean list?')
  })

  it('a word far from every command lists the commands, in one line', async () => {
    const r = await runCli(['frobnicate'], env)
    expect(r.exitCode, r.all).toBe(2)
    expect(r.stderr.trim().split('\n')).toHaveLength(1)
    expect(r.stderr).toContain('unknown command "frobnicate" — the commands are backup, list, ')
    expect(r.stderr).not.toContain('Usage:')
  })
})

describe.concurrent('a misspelt flag', () => {
  it('`list --jsn` suggests --json in our own words, quotes balanced, exit 2', async () => {
    const r = await runCli(['list', '--jsn'], env)
    expect(r.exitCode, r.all).toBe(2)
    expect(r.stderr).toContain('dbkeeper list: unknown option --jsn: did you mean --json?')
    expect(r.stderr).toContain('see dbkeeper list --help')
    expect(r.stderr).not.toContain('To specify a positional argument')
    expect(balanced(r.stderr), r.stderr).toBe(true)
  })

  it('a flag far from every option names the options the command takes', async () => {
    const r = await runCli(['config', '--verbose'], env)
    expect(r.exitCode, r.all).toBe(2)
    expect(r.stderr).toContain('unknown option --verbose: config takes --json')
    expect(balanced(r.stderr), r.stderr).toBe(true)
  })

  it('an option without its value, and a value for a switch', async () => {
    const missing = await runCli(['list', '--database'], env)
    expect(missing.exitCode, missing.all).toBe(2)
    expect(missing.stderr).toContain('option --database needs a value (--database VALUE)')
    const extra = await runCli(['list', '--json=yes'], env)
    expect(extra.exitCode, extra.all).toBe(2)
    expect(extra.stderr).toContain('option --json takes no value')
  })
})

describe('an unknown source', () => {
  it('exits 2 for `list` as for `backup`, naming the configured sources', async () => {
    const list = await runCli(['list', 'nosuch'], env)
    const backup = await runCli(['backup', 'nosuch'], env)
    expect(list.exitCode, list.all).toBe(2)
    expect(backup.exitCode, backup.all).toBe(2)
    for (const r of [list, backup]) {
      expect(r.stderr).toContain('unknown source')
      expect(r.stderr).toContain('nosuch')
      expect(r.stderr).toContain('configured sources: notes (DB01)')
    }
  })

  it('lists a source by label or by id, and the JSON log carries ISO 8601 times', async () => {
    const before = Date.now()
    const backup = await runCli(['backup'], env)
    expect(backup.exitCode, backup.all).toBe(0)
    const lines = backup.stderr
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as { time: unknown })
    expect(lines.length).toBeGreaterThan(0)
    for (const { time } of lines) {
      expect(time).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/)
      expect(Date.parse(time as string)).toBeGreaterThanOrEqual(before - 1000)
      expect(Date.parse(time as string)).toBeLessThanOrEqual(Date.now())
    }
    for (const name of ['notes', 'DB01']) {
      const r = await runCli(['list', name, '--json'], env)
      expect(r.exitCode, r.all).toBe(0)
      expect((JSON.parse(r.stdout) as { source: string }[]).map((b) => b.source)).toEqual(['notes'])
    }
  })

  it('still lists the backups of a source no longer configured', async () => {
    const other = { ...env, DB01_LABEL: 'renamed' }
    const r = await runCli(['list', 'notes', '--json'], other)
    expect(r.exitCode, r.all).toBe(0)
    expect((JSON.parse(r.stdout) as { source: string }[]).length).toBeGreaterThan(0)
  })
})
