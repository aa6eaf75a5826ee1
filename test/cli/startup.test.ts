/**
 * Start-up: a command loads only the modules it needs (docs/PERFORMANCE.md, "Start-up"). The
 * HEALTHCHECK runs `dbkeeper status --check` every minute; `--help` is what a lost operator types.
 * Neither may load the AWS SDK, a database driver, nodemailer, prom-client, execa or pino.
 */
import Database from 'better-sqlite3'
import { execa } from 'execa'
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import { commands } from '../../src/cli/commands/index.js'
import { ROOT, runCli } from '../support/cli.js'

const HEAVY = ['@aws-sdk', '@smithy', 'mysql2', '/pg/', 'better-sqlite3', 'nodemailer', 'prom-client', 'execa', 'pino']

let tmp: string
let hook: string

beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'dbkeeper-startup-'))
  hook = join(tmp, 'record-modules.mjs')
  // Records every module the process loads (ESM and CommonJS) into $MODULES_FILE at exit.
  writeFileSync(
    hook,
    `const { registerHooks } = process.getBuiltinModule('node:module')
const { writeFileSync } = process.getBuiltinModule('node:fs')
// Builtins come from getBuiltinModule, not import: an import here would load them before the hook
// and hide them from the list (the --help test below asserts that node:fs is never imported).
const seen = []
registerHooks({ load(url, context, next) { seen.push(url); return next(url, context) } })
process.on('exit', () => {
  writeFileSync(process.env.MODULES_FILE, seen.join('\\n'))
  // Node's own modules, however loaded (getBuiltinModule too): 'NativeModule fs/promises'.
  writeFileSync(process.env.MODULES_FILE + '.builtins', process.moduleLoadList.join('\\n'))
})
`,
  )
})

afterAll(() => {
  rmSync(tmp, { recursive: true, force: true })
})

async function modulesOf(
  args: string[],
  name: string,
  env: Record<string, string> = {},
): Promise<{ modules: string[]; stdout: string; exitCode: number }> {
  const file = join(tmp, `${name}.txt`)
  const r = await runCli(args, {
    DB01_TYPE: 'sqlite',
    DB01_PATH: join(tmp, 'app.db'),
    BACKUP_DIR: join(tmp, 'backups'),
    NODE_OPTIONS: `--import=${hook}`,
    MODULES_FILE: file,
    ...env,
  })
  return { modules: readFileSync(file, 'utf8').split('\n'), stdout: r.stdout, exitCode: r.exitCode }
}

/** The image's layout in `tmp/name`: bin/dbkeeper.js beside dist/cli/ (here: this run's build). */
function imageLayout(name: string): string {
  const pkg = join(tmp, name)
  mkdirSync(join(pkg, 'bin'), { recursive: true })
  mkdirSync(join(pkg, 'dist'))
  copyFileSync(join(ROOT, 'bin/dbkeeper.js'), join(pkg, 'bin/dbkeeper.js'))
  symlinkSync(dirname(inject('cliEntry')), join(pkg, 'dist/cli'))
  return pkg
}

describe('the command table', () => {
  it('loads, for every row, the command of that name', async () => {
    for (const entry of commands) {
      const command = await entry.load()
      expect(command.name).toBe(entry.name)
      expect(command.usage).toContain(`dbkeeper ${entry.name}`)
    }
  })
})

describe.concurrent('start-up', () => {
  it.each([
    ['--help', ['--help']],
    ['status', ['status']],
    ['status --check', ['status', '--check']],
  ])('`dbkeeper %s` loads no driver, SDK, mailer, metrics, execa or logger', async (name, args) => {
    const { modules, stdout, exitCode } = await modulesOf(args, name.replace(/\W+/g, '-'))
    expect(modules.some((m) => m.includes('/cli/main'))).toBe(true)
    expect(modules.filter((m) => HEAVY.some((h) => m.includes(`node_modules/${h.replace(/^\//, '')}`)))).toEqual([])
    if (name === '--help') {
      expect(exitCode).toBe(0)
      for (const entry of commands) expect(stdout).toContain(`  ${entry.name}`)
    } else {
      expect(stdout).toContain('no proven backup yet')
    }
  })

  it('`bin/dbkeeper.js --help`, as the image runs it, imports no node:fs', async () => {
    const pkg = imageLayout('pkg')
    const file = join(tmp, 'bin-help.txt')
    const r = await execa(process.execPath, [join(pkg, 'bin/dbkeeper.js'), '--help'], {
      env: { NODE_OPTIONS: `--import=${hook}`, MODULES_FILE: file },
      reject: false,
    })
    expect(r.exitCode).toBe(0)
    expect(r.stdout).toContain('  backup')
    const modules = readFileSync(file, 'utf8').split('\n')
    expect(modules.some((m) => m.endsWith('/cli/main.js'))).toBe(true)
    // An ESM import of node:fs also loads fs/promises and the stream classes: --help needs none.
    expect(modules.filter((m) => m === 'node:fs' || m === 'node:fs/promises')).toEqual([])
  })

  it('`bin/dbkeeper.js status`, as the image runs it, loads the status build: 3 files, not the shared chunks', async () => {
    const pkg = imageLayout('pkg-status')
    const file = join(tmp, 'bin-status.txt')
    const r = await execa(process.execPath, [join(pkg, 'bin/dbkeeper.js'), 'status', '--check'], {
      env: {
        DB01_TYPE: 'sqlite',
        DB01_PATH: join(tmp, 'app.db'),
        BACKUP_DIR: join(tmp, 'backups-status'),
        NODE_OPTIONS: `--import=${hook}`,
        MODULES_FILE: file,
      },
      reject: false,
    })
    expect(r.exitCode).toBe(1)
    expect(r.stdout).toContain('no proven backup yet')
    const modules = readFileSync(file, 'utf8').split('\n')
    // Builtins come from process.getBuiltinModule (scripts/build.mjs, builtin-lookups): an ESM
    // import of one costs the loader its facade, and node:fs's loads fs/promises and the streams.
    // Fails without the plugin: node:fs, node:fs/promises, node:path, node:stream, node:os, node:module.
    expect(modules.filter((m) => m.startsWith('node:'))).toEqual([])
    // An empty volume is only listed and stat'ed, through the reads `status` passes (node:fs's
    // synchronous calls, src/runtime/sync-reads.ts), and fs/promises, which loads readline, fs/dir
    // and the watchers, is never loaded (scripts/build.mjs, ON_FIRST_CALL: looked up on a first
    // call); nor node:os, whose host name only an SMTP server needs (node:module is loaded by the
    // hook above). Fails with the real modules looked up (fs/promises, readline), with BACKUP_DIR's
    // check or the catalog given no reads (fs/promises), or with the host name read always (os).
    const builtins = readFileSync(`${file}.builtins`, 'utf8').split('\n')
    expect(builtins).toContain('NativeModule fs')
    expect(builtins.filter((m) => /^NativeModule (fs\/promises|readline|internal\/readline\/.*|os)$/.test(m))).toEqual(
      [],
    )
    // Under the build's real directory: the loader resolves the dist/cli link.
    const built = modules.filter((m) => m.includes(dirname(inject('cliEntry'))))
    expect(built.some((m) => m.endsWith('/cli/main-status.js'))).toBe(true)
    expect(built.some((m) => m.endsWith('/cli/main.js'))).toBe(false)
    // Every further file costs the ESM loader a resolve, a read and a compile (docs/PERFORMANCE.md).
    expect(built.length).toBeLessThanOrEqual(3)
  })

  it('`bin/dbkeeper.js status` on a volume with backups and a journal does not load fs/promises either', async () => {
    // What a running container has: manifests, sidecars and runs.jsonl, from real backups.
    const db = join(tmp, 'populated.db')
    const d = new Database(db)
    d.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT); INSERT INTO t (v) VALUES ('a')")
    d.close()
    const env = { DB01_TYPE: 'sqlite', DB01_PATH: db, BACKUP_DIR: join(tmp, 'backups-populated') }
    for (let i = 0; i < 2; i++) expect((await runCli(['backup'], env)).exitCode).toBe(0)
    const pkg = imageLayout('pkg-populated')
    const file = join(tmp, 'bin-status-populated.txt')
    const r = await execa(process.execPath, [join(pkg, 'bin/dbkeeper.js'), 'status', '--check'], {
      env: { ...env, NODE_OPTIONS: `--import=${hook}`, MODULES_FILE: file },
      reject: false,
    })
    expect(r.exitCode).toBe(0)
    expect(r.stdout).toContain('healthy')
    // Manifests are read whole (LocalTarget.getSmall) and the catalog and the journal with node:fs's
    // synchronous calls (readStatus passes src/runtime/sync-reads.ts to both). Fails with manifests
    // read through LocalTarget.get (its FileHandle and stream: fs/promises, readline, fs/streams) or
    // with the catalog or the journal read by the default, fs/promises (fs/promises, readline).
    const builtins = readFileSync(`${file}.builtins`, 'utf8').split('\n')
    expect(builtins).toContain('NativeModule fs')
    expect(
      builtins.filter((m) =>
        /^NativeModule (fs\/promises|internal\/fs\/(promises|streams)|readline|internal\/readline\/.*|os)$/.test(m),
      ),
    ).toEqual([])
  })

  it('`dbkeeper backup --help` loads the backup command and prints its usage', async () => {
    const { stdout, exitCode } = await modulesOf(['backup', '--help'], 'backup-help')
    expect(exitCode).toBe(0)
    expect(stdout).toContain('dbkeeper backup')
  })
})

describe('a run of a SQLite source', () => {
  // engines/index.ts loads an engine's folder on first use (docs/PERFORMANCE.md, "Fixed cost of a
  // run"). Fails with the folders imported statically: mysql2 (89 modules) is in every list.
  it('backs up, lists, checks and restores without loading the MySQL or PostgreSQL drivers', async () => {
    const path = join(tmp, 'only-sqlite.db')
    const db = new Database(path)
    db.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT); INSERT INTO t (v) VALUES ('a'), ('b'), ('c')")
    db.close()
    const env = { DB01_PATH: path, BACKUP_DIR: join(tmp, 'backups-sqlite') }
    const otherDrivers = (modules: string[]) =>
      modules.filter((m) => m.includes('node_modules/mysql2/') || m.includes('node_modules/pg/'))
    for (const [name, args] of [
      ['backup', ['backup']],
      ['list', ['list']],
      ['check', ['check']],
      ['restore', ['restore', 'latest', '--source', 'DB01', '--yes']],
    ] as const) {
      const { modules, stdout, exitCode } = await modulesOf([...args], `sqlite-${name}`, env)
      expect({ name, exitCode, stdout: exitCode === 0 ? '' : stdout }).toEqual({ name, exitCode: 0, stdout: '' })
      expect(modules.some((m) => m.includes('/cli/main'))).toBe(true)
      expect({ name, drivers: otherDrivers(modules) }).toEqual({ name, drivers: [] })
    }
  })
})
