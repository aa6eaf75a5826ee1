/**
 * bin/dbkeeper.js keeps Node's compile cache in the user's cache directory ($XDG_CACHE_HOME, else
 * ~/.cache, then dbkeeper/; docs/PERFORMANCE.md, "The compile cache on the backup path"). The
 * image's layout in a temp dir: bin/ beside a copy of this run's build in dist/cli/. A run writes
 * the entries; a directory that cannot be made changes nothing a caller sees (stdout is parsed by
 * scripts: `status --json`, `backup --json`), nor does NODE_DISABLE_COMPILE_CACHE=1.
 */
import Database from 'better-sqlite3'
import { execa } from 'execa'
import {
  copyFileSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import { ROOT } from '../support/cli.js'

let tmp: string
let cli: string

beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'dbk-compile-cache-'))
  const pkg = join(tmp, 'pkg')
  mkdirSync(join(pkg, 'bin'), { recursive: true })
  cpSync(dirname(inject('cliEntry')), join(pkg, 'dist/cli'), { recursive: true })
  copyFileSync(join(ROOT, 'bin/dbkeeper.js'), join(pkg, 'bin/dbkeeper.js'))
  copyFileSync(join(ROOT, 'package.json'), join(pkg, 'package.json'))
  symlinkSync(join(ROOT, 'node_modules'), join(pkg, 'node_modules'))
  cli = join(pkg, 'bin/dbkeeper.js')
  const db = new Database(join(tmp, 'app.db'))
  db.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT); INSERT INTO t VALUES (1, 'one')")
  db.close()
  // A file where the cache directory's parent would be: no user, root included, can create it.
  writeFileSync(join(tmp, 'a-file'), '')
})

afterAll(() => rmSync(tmp, { recursive: true, force: true }))

async function run(args: string[], env: Record<string, string>) {
  const r = await execa(process.execPath, [cli, ...args], {
    env: {
      PATH: process.env.PATH,
      HOME: join(tmp, 'home'),
      BACKUP_DIR: join(tmp, 'backups'),
      DB01_TYPE: 'sqlite',
      DB01_PATH: join(tmp, 'app.db'),
      LOG_FORMAT: 'json',
      ...env,
    },
    extendEnv: false,
    reject: false,
    stdin: 'ignore',
    timeout: 60_000,
  })
  return { exitCode: r.exitCode, stdout: r.stdout, stderr: r.stderr }
}

/** The cache entries under `dir` (Node's per-version, per-uid subdirectories). */
function entries(dir: string): string[] {
  if (!existsSync(dir)) return []
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name))
}

/** `status --json` without the clock. */
const statusJson = (stdout: string) =>
  JSON.stringify(JSON.parse(stdout), (k, v: unknown) => (k === 'checkedAt' || k === 'ageSeconds' ? 0 : v))

describe('the compile cache (bin/dbkeeper.js)', () => {
  it('a backup writes its entries in ~/.cache/dbkeeper, or $XDG_CACHE_HOME/dbkeeper; none when disabled', async () => {
    const home = await run(['backup', '--json'], {})
    expect(home.exitCode, home.stderr).toBe(0)
    // A SQLite backup loads ~250 modules (the bundle's chunks, execa, pino).
    expect(entries(join(tmp, 'home/.cache/dbkeeper')).length).toBeGreaterThan(50)

    const xdg = join(tmp, 'xdg')
    expect((await run(['backup', '--json'], { XDG_CACHE_HOME: xdg })).exitCode).toBe(0)
    expect(entries(join(xdg, 'dbkeeper')).length).toBeGreaterThan(50)

    const off = join(tmp, 'off')
    const disabled = await run(['backup', '--json'], { XDG_CACHE_HOME: off, NODE_DISABLE_COMPILE_CACHE: '1' })
    expect(disabled.exitCode).toBe(0)
    expect(entries(off)).toEqual([])
  }, 120_000)

  it('a cache directory that cannot be made changes neither stdout, stderr nor the exit code', async () => {
    const blocked = { XDG_CACHE_HOME: join(tmp, 'a-file') }
    const working = { XDG_CACHE_HOME: join(tmp, 'working') }
    // The cache is on in this layout (else this test would compare two runs without one).
    expect((await run(['status', '--json'], working)).exitCode).toBe(0)
    expect(entries(join(tmp, 'working/dbkeeper')).length).toBeGreaterThan(0)

    for (const args of [['--help'], ['status', '--json'], ['status', '--check'], ['list', '--json']]) {
      const [a, b] = [await run(args, blocked), await run(args, working)]
      expect(a.exitCode, args.join(' ')).toBe(b.exitCode)
      expect(a.stderr, args.join(' ')).toBe(b.stderr)
      if (args[0] === 'status' && args[1] === '--json') expect(statusJson(a.stdout)).toBe(statusJson(b.stdout))
      else expect(a.stdout, args.join(' ')).toBe(b.stdout)
    }
    const backup = await run(['backup', '--json'], blocked)
    expect(backup.exitCode, backup.stderr).toBe(0)
    expect(JSON.parse(backup.stdout)).toMatchObject({ ok: true })
    expect(existsSync(join(tmp, 'a-file/dbkeeper'))).toBe(false)
  }, 120_000)

  // Node's enableCompileCache('/proc/…') spins and never returns: without the guard this runs into
  // the timeout below.
  it('a cache directory under /proc or /sys is not used (a HOME there still runs)', async () => {
    for (const env of [{ XDG_CACHE_HOME: '/proc/self' }, { HOME: '/sys/kernel' }]) {
      const r = await execa(process.execPath, [cli, '--version'], {
        env: { PATH: process.env.PATH, ...env },
        extendEnv: false,
        reject: false,
        stdin: 'ignore',
        timeout: 20_000,
      })
      expect(r.timedOut, JSON.stringify(env)).toBe(false)
      expect(r.exitCode).toBe(0)
    }
  }, 60_000)
})
