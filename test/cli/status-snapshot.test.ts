/**
 * bin/dbkeeper.sh, the image's `dbkeeper` (the HEALTHCHECK runs `dbkeeper status --check`): `status`
 * from the start-up snapshot dist/cli/status.blob when it is usable, else bin/dbkeeper.js, with
 * the same output and exit code either way (docs/PERFORMANCE.md, "A start-up snapshot for
 * status"). The image's layout in a temp dir: bin/ beside a copy of this run's build in dist/cli/,
 * the blob made from it by scripts/build-status-snapshot.mjs (WARM=1, as the image). `node` on
 * PATH is a shim that logs its arguments, so each case also says which path ran.
 */
import Database from 'better-sqlite3'
import { execa } from 'execa'
import {
  chmodSync,
  copyFileSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs'
import { randomBytes } from 'node:crypto'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { afterAll, beforeAll, beforeEach, describe, expect, inject, it } from 'vitest'
import { ROOT } from '../support/cli.js'

let tmp: string
let pkg: string
let cli: string
let blob: string
let goodBlob: Buffer
let mainStatus: string
let mainStatusText: string
let nodeLog: string
let shimDir: string

const VOLUMES = ['empty', 'populated'] as const
type Volume = (typeof VOLUMES)[number]

function envOf(volume: Volume): Record<string, string> {
  return {
    PATH: `${shimDir}:${process.env.PATH}`,
    HOME: tmp,
    BACKUP_DIR: join(tmp, volume === 'empty' ? 'none' : 'backups'),
    DB01_TYPE: 'sqlite',
    DB01_PATH: join(tmp, 'app.db'),
    NODE_LOG: nodeLog,
  }
}

interface Run {
  stdout: string
  stderr: string
  exitCode: number
  /** The `node` command lines the run started, one each. */
  nodes: string[]
}

async function run(file: string, args: string[], volume: Volume): Promise<Run> {
  writeFileSync(nodeLog, '')
  const r = await execa(file, args, { env: envOf(volume), extendEnv: false, cwd: tmp, stdin: 'ignore', reject: false })
  const nodes = readFileSync(nodeLog, 'utf8').split('\n').filter(Boolean)
  return { stdout: r.stdout, stderr: r.stderr, exitCode: r.exitCode ?? -1, nodes }
}

/** The wrapper as the HEALTHCHECK runs it (through sh, as its #! line says). */
const wrapper = (args: string[], volume: Volume) => run('sh', [join(pkg, 'bin/dbkeeper.sh'), ...args], volume)
/** Today's path: bin/dbkeeper.js, which runs dist/cli/main-status.js for status. */
const plain = (args: string[], volume: Volume) => run('node', [join(pkg, 'bin/dbkeeper.js'), ...args], volume)

/** The clock aside: ages and "in …" (text), checkedAt and ageSeconds (JSON). */
function unclocked(text: string): string {
  return text
    .replace(/"checkedAt": "[^"]*"/g, '"checkedAt": "T"')
    .replace(/"ageSeconds": \d+/g, '"ageSeconds": 0')
    .replace(/\b\d+(ms|[smhd])\b/g, 'N$1')
}

/** The blob newer than main-status.js (a minute apart: mtime granularity never decides). */
function freshBlob(bytes: Buffer = goodBlob): void {
  writeFileSync(blob, bytes)
  const now = Date.now() / 1000
  utimesSync(mainStatus, now - 120, now - 120)
  utimesSync(blob, now - 60, now - 60)
}

const CASES: string[][] = [['status'], ['status', '--check'], ['status', '--json']]

async function expectSameAsPlain(volume: Volume, nodesOf: (r: Run) => void): Promise<void> {
  for (const args of CASES) {
    const w = await wrapper(args, volume)
    const p = await plain(args, volume)
    expect({ args, volume, stdout: unclocked(w.stdout), stderr: w.stderr, exitCode: w.exitCode }).toEqual({
      args,
      volume,
      stdout: unclocked(p.stdout),
      stderr: p.stderr,
      exitCode: p.exitCode,
    })
    expect(p.stdout).not.toBe('')
    nodesOf(w)
  }
}

const ranBlobOnly = (r: Run) => {
  expect(r.nodes).toHaveLength(1)
  expect(r.nodes[0]).toMatch(/^--snapshot-blob \S+\/dist\/cli\/status\.blob status\b/)
}
const ranPlainOnly = (r: Run) => {
  expect(r.nodes).toHaveLength(1)
  expect(r.nodes[0]).toMatch(/\/bin\/dbkeeper\.js status\b/)
}
const triedBlobThenPlain = (r: Run) => {
  expect(r.nodes).toHaveLength(2)
  expect(r.nodes[0]).toMatch(/^--snapshot-blob /)
  expect(r.nodes[1]).toMatch(/\/bin\/dbkeeper\.js status\b/)
}

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'dbkeeper-status-snapshot-'))
  pkg = join(tmp, 'app')
  cli = join(pkg, 'dist/cli')
  mkdirSync(join(pkg, 'bin'), { recursive: true })
  copyFileSync(join(ROOT, 'bin/dbkeeper.js'), join(pkg, 'bin/dbkeeper.js'))
  copyFileSync(join(ROOT, 'bin/dbkeeper.sh'), join(pkg, 'bin/dbkeeper.sh'))
  // A copy (the blob is written beside main-status.js, which a case rewrites); the packages resolve
  // through the link, as in the image's /app.
  cpSync(dirname(inject('cliEntry')), cli, { recursive: true })
  symlinkSync(join(ROOT, 'node_modules'), join(pkg, 'node_modules'))
  mainStatus = join(cli, 'main-status.js')
  mainStatusText = readFileSync(mainStatus, 'utf8')
  blob = join(cli, 'status.blob')

  shimDir = join(tmp, 'shim')
  mkdirSync(shimDir)
  nodeLog = join(tmp, 'node.log')
  writeFileSync(
    join(shimDir, 'node'),
    `#!/bin/sh\nprintf '%s\\n' "$*" >>"$NODE_LOG"\nexec '${process.execPath}' "$@"\n`,
  )
  chmodSync(join(shimDir, 'node'), 0o755)

  // The blob, as the image makes it; a failure here fails the file.
  await execa(process.execPath, ['scripts/build-status-snapshot.mjs', join(pkg, 'dist')], {
    cwd: ROOT,
    env: { WARM: '1' },
  })
  goodBlob = readFileSync(blob)

  // Populated: 3 backups of a one-row SQLite file, their manifests and the journal.
  const db = new Database(join(tmp, 'app.db'))
  db.exec('CREATE TABLE t (id INTEGER PRIMARY KEY); INSERT INTO t VALUES (1)')
  db.close()
  for (let i = 0; i < 3; i++) {
    await execa(process.execPath, [join(cli, 'main.js'), 'backup'], { env: envOf('populated'), extendEnv: false })
  }
}, 120_000)

afterAll(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true })
})

beforeEach(() => {
  writeFileSync(mainStatus, mainStatusText)
  freshBlob()
})

describe('bin/dbkeeper.sh status', { timeout: 180_000 }, () => {
  it.each(VOLUMES)('with the blob: runs it alone, as bin/dbkeeper.js would (%s volume)', async (volume) => {
    await expectSameAsPlain(volume, ranBlobOnly)
  })

  it('passes the arguments through as they are (a usage error, a space in one)', async () => {
    for (const args of [
      ['status', '--bogus'],
      ['status', 'a b'],
      ['status', '--json', ''],
    ]) {
      const w = await wrapper(args, 'populated')
      const p = await plain(args, 'populated')
      expect({ stdout: w.stdout, stderr: w.stderr, exitCode: w.exitCode }).toEqual({
        stdout: p.stdout,
        stderr: p.stderr,
        exitCode: p.exitCode,
      })
      expect(p.exitCode).toBe(2)
      ranBlobOnly(w)
    }
  })

  it('without a blob: bin/dbkeeper.js', async () => {
    rmSync(blob)
    for (const volume of VOLUMES) await expectSameAsPlain(volume, ranPlainOnly)
  })

  it('with a blob older than main-status.js (dist rebuilt, the blob not): bin/dbkeeper.js, the new code', async () => {
    // The rebuilt status prints a first line the blob's copy of the code does not have.
    writeFileSync(mainStatus, `process.stdout.write("rebuilt\\n");\n${mainStatusText}`)
    const now = Date.now() / 1000
    utimesSync(blob, now - 120, now - 120)
    utimesSync(mainStatus, now - 60, now - 60)
    expect((await plain(['status'], 'populated')).stdout).toMatch(/^rebuilt\n/)
    for (const volume of VOLUMES) await expectSameAsPlain(volume, ranPlainOnly)
  })

  it("with another node's blob (exit 14, refused): bin/dbkeeper.js, the refusal not shown", async () => {
    // The same blob with another Node.js version in its header, where Node reads it first.
    const version = Buffer.from(process.versions.node)
    const at = goodBlob.subarray(0, 64).indexOf(version)
    expect(at).toBeGreaterThan(0)
    const foreign = Buffer.from(goodBlob)
    foreign.write(version[0] === 0x31 ? '2' : '1', at)
    writeFileSync(join(tmp, 'foreign.blob'), foreign)
    const direct = await execa(process.execPath, ['--snapshot-blob', join(tmp, 'foreign.blob'), 'status'], {
      reject: false,
    })
    expect(direct.exitCode).toBe(14)
    expect(direct.stderr).toContain('Failed to load the startup snapshot')
    freshBlob(foreign)
    for (const volume of VOLUMES) await expectSameAsPlain(volume, triedBlobThenPlain)
  })

  // Node does not exit 14 for these: random bytes fail the magic's assertion (abort), a blob cut
  // short crashes the loader (SIGSEGV).
  it.each([
    ['random bytes', () => randomBytes(goodBlob.length)],
    ['cut short', () => goodBlob.subarray(0, 100_000)],
  ])('with a damaged blob (%s): bin/dbkeeper.js', async (_, bytes) => {
    freshBlob(bytes())
    for (const volume of VOLUMES) await expectSameAsPlain(volume, triedBlobThenPlain)
  })

  it('any other command: bin/dbkeeper.js alone', async () => {
    const w = await wrapper(['--version'], 'empty')
    const p = await plain(['--version'], 'empty')
    expect(w.stdout).toBe(p.stdout)
    expect(w.exitCode).toBe(0)
    expect(existsSync(blob)).toBe(true)
    expect(w.nodes).toHaveLength(1)
    expect(w.nodes[0]).toMatch(/\/bin\/dbkeeper\.js --version$/)
  })
})
