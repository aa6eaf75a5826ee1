/**
 * Configuration errors as an operator meets them: the real CLI in its own process. A bad
 * configuration exits 2 before any work, lists every problem on stderr and touches nothing on
 * the volume; `dbkeeper config` shows the effective configuration with passwords as ***.
 */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { runCli } from '../support/cli.js'

const PASSWORD = 's3cr3t pass'

let tmp: string
let caseNo = 0

beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'dbkeeper-cli-config-'))
})

afterAll(() => {
  rmSync(tmp, { recursive: true, force: true })
})

const MYSQL = {
  DB01_TYPE: 'mysql',
  DB01_HOST: '127.0.0.1',
  DB01_PORT: '1',
  DB01_NAME: 'app',
  DB01_USER: 'backup',
  DB01_PASS: PASSWORD,
}
const SQLITE = { DB01_TYPE: 'sqlite', DB01_PATH: '/nonexistent/app.db', DB01_PASS: PASSWORD }

/** name, environment, the variables whose problems must be listed (one entry per problem). */
const badConfigs: [string, Record<string, string>, string[]][] = [
  ['no source', { DB01_PASS: PASSWORD }, ['DB01_TYPE']],
  ['an unknown engine', { ...MYSQL, DB01_TYPE: 'oracle' }, ['DB01_TYPE']],
  ['a MySQL source without host and name', { DB01_TYPE: 'mysql', DB01_PASS: PASSWORD }, ['DB01_HOST', 'DB01_NAME']],
  ['a port out of range', { ...MYSQL, DB01_PORT: '70000' }, ['DB01_PORT']],
  ['the password pasted into the port', { ...MYSQL, DB01_PORT: PASSWORD }, ['DB01_PORT']],
  [
    'an unknown compression and level',
    { ...MYSQL, COMPRESSION: 'lz4', COMPRESSION_LEVEL: '0' },
    ['COMPRESSION', 'COMPRESSION_LEVEL'],
  ],
  [
    'a bad log level, log format and time zone',
    { ...SQLITE, LOG_LEVEL: 'loud', LOG_FORMAT: 'xml', TZ: 'Nowhere/City' },
    ['LOG_LEVEL', 'LOG_FORMAT', 'TZ'],
  ],
  ['a relative SQLite path', { ...SQLITE, DB01_PATH: 'app.db' }, ['DB01_PATH']],
  ['DB01_PASSWORD instead of DB01_PASS', { ...MYSQL, DB01_PASSWORD: PASSWORD }, ['DB01_PASSWORD']],
  ['both DB01_PASS and DB01_PASS_FILE', { ...MYSQL, DB01_PASS_FILE: '/run/secrets/db01' }, ['DB01_PASS']],
  [
    'a missing DB01_PASS_FILE',
    { DB01_TYPE: 'mysql', DB01_HOST: 'db', DB01_NAME: 'app', DB01_PASS_FILE: '/nonexistent/secret' },
    ['DB01_PASS_FILE'],
  ],
  [
    'a password in EXTRA_OPTS',
    { ...MYSQL, DB01_EXTRA_OPTS: `--password=${PASSWORD.replace(' ', '')} --compact` },
    ['DB01_EXTRA_OPTS', 'DB01_EXTRA_OPTS'],
  ],
  ['duplicate labels', { ...MYSQL, DB02_TYPE: 'mysql', DB02_HOST: '127.0.0.1', DB02_NAME: 'shop' }, ['DB02_LABEL']],
  [
    'mistakes in three places at once',
    { ...MYSQL, COMPRESSION: 'brotli', DB01_NAME: 'a,,b', DB02_TYPE: 'sqlite', DB02_PATH: 'relative.db' },
    ['COMPRESSION', 'DB01_NAME', 'DB02_PATH'],
  ],
]

describe.concurrent('a bad configuration at the command line', () => {
  it('has at least 10 cases', () => {
    expect(badConfigs.length).toBeGreaterThanOrEqual(10)
  })

  it.each(badConfigs)(
    'backup with %s: exit 2, every problem on stderr, nothing created',
    async (_name, env, variables) => {
      const backupDir = join(tmp, `backups-${++caseNo}`)
      const r = await runCli(['backup'], { ...env, BACKUP_DIR: backupDir })

      expect(r.exitCode, r.all).toBe(2)
      const n = variables.length
      expect(r.stderr).toContain(`invalid configuration (${n} problem${n === 1 ? '' : 's'})`)
      const problemLines = r.stderr.split('\n').filter((l) => l.startsWith('  - '))
      expect(problemLines.map((l) => /^ {2}- ([A-Z0-9_*]+):/.exec(l)?.[1]).sort(), r.stderr).toEqual(
        [...variables].sort(),
      )
      for (const line of problemLines) expect(line).toMatch(/: expected .+; (got ".*"|it is not set)( — .*)?$/)
      expect(r.stderr).toContain('docs/CONFIGURATION.md')
      expect(r.stdout).toBe('')
      expect(r.all).not.toContain(PASSWORD)
      expect(r.all).not.toContain(PASSWORD.replace(' ', ''))
      expect(existsSync(backupDir), 'a refused configuration must not create BACKUP_DIR').toBe(false)
    },
  )

  it('leaves an existing BACKUP_DIR exactly as it was', async () => {
    const backupDir = join(tmp, 'existing')
    mkdirSync(join(backupDir, 'db', 'app'), { recursive: true })
    writeFileSync(join(backupDir, 'db', 'app', 'debris.sql.gz.tmp'), 'half a dump')
    const before = readdirSync(backupDir, { recursive: true }).sort()
    const r = await runCli(['backup'], { ...MYSQL, COMPRESSION: 'lz4', BACKUP_DIR: backupDir })
    expect(r.exitCode, r.all).toBe(2)
    // No lock directory, no journal, no debris cleaned: nothing is touched before the config is valid.
    expect(readdirSync(backupDir, { recursive: true }).sort()).toEqual(before)
  })

  it('refuses a bad configuration for `config` too, with exit 2', async () => {
    const r = await runCli(['config'], { ...MYSQL, DB01_PORT: 'x' })
    expect(r.exitCode, r.all).toBe(2)
    expect(r.stderr).toContain('DB01_PORT: expected a port number from 1 to 65535; got "x"')
    expect(r.all).not.toContain(PASSWORD)
  })
})

describe.concurrent('dbkeeper config', () => {
  const env = { ...MYSQL, DB01_PORT: '3306', BACKUP_DIR: '/srv/backups', DB01_EXTRA_OPTS: '--no-tablespaces' }

  it('--json prints the effective configuration with the password as ***', async () => {
    const r = await runCli(['config', '--json'], env)
    expect(r.exitCode, r.all).toBe(0)
    expect(r.all).not.toContain(PASSWORD)
    const config = JSON.parse(r.stdout) as {
      backupDir: string
      compression: { kind: string; level: number }
      tz: string
      sources: {
        id: string
        label: string
        engine: string
        host: string
        port: number
        user: string
        password: string
        databases: string[]
        extraOpts: string[]
      }[]
    }
    expect(config.backupDir).toBe('/srv/backups')
    expect(config.compression).toEqual({ kind: 'gzip', level: 6 })
    expect(config.tz).toBe('UTC')
    expect(config.sources).toHaveLength(1)
    expect(config.sources[0]).toMatchObject({
      id: 'DB01',
      label: '127.0.0.1',
      engine: 'mysql',
      host: '127.0.0.1',
      port: 3306,
      user: 'backup',
      password: '***',
      databases: ['app'],
      extraOpts: ['--no-tablespaces'],
    })
  })

  it('prints a readable summary and never the password', async () => {
    const r = await runCli(['config'], env)
    expect(r.exitCode, r.all).toBe(0)
    expect(r.stdout).toContain('/srv/backups')
    expect(r.stdout).toContain('DB01')
    expect(r.stdout).toContain('***')
    expect(r.all).not.toContain(PASSWORD)
    expect(r.all).not.toContain('s3cr3t')
  })

  it('masks a password read from DB01_PASS_FILE', async () => {
    const file = join(tmp, 'db01-pass')
    writeFileSync(file, `${PASSWORD}-from-file\n`, { mode: 0o600 })
    const { DB01_PASS: _omit, ...noPass } = env
    const r = await runCli(['config', '--json'], { ...noPass, DB01_PASS_FILE: file })
    expect(r.exitCode, r.all).toBe(0)
    expect(r.all).not.toContain('s3cr3t')
    expect((JSON.parse(r.stdout) as { sources: { password: string }[] }).sources[0]!.password).toBe('***')
  })
})
