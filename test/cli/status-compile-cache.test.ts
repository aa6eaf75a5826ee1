/**
 * `dbkeeper status` through the image's compile cache (bin/dbkeeper.js, dist/compile-cache, filled
 * by Dockerfile.backup; docs/PERFORMANCE.md, "A start-up snapshot for status"): V8's cached code
 * for the status build prints what a compile prints, exit codes included, on an empty volume and on
 * one with backups and a journal; a stale or foreign cache is compiled as before, without a word;
 * an install without the directory gets none.
 */
import Database from 'better-sqlite3'
import { execa } from 'execa'
import {
  appendFileSync,
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
import { ROOT, runCli } from '../support/cli.js'

let tmp: string
let empty: Record<string, string>
let populated: Record<string, string>

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'dbkeeper-status-cache-'))
  const db = join(tmp, 'app.db')
  const d = new Database(db)
  d.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT); INSERT INTO t (v) VALUES ('a')")
  d.close()
  empty = { DB01_TYPE: 'sqlite', DB01_PATH: db, BACKUP_DIR: join(tmp, 'empty') }
  // What a running container has: manifests, sidecars and runs.jsonl, from real backups.
  populated = { ...empty, BACKUP_DIR: join(tmp, 'populated') }
  for (let i = 0; i < 2; i++) expect((await runCli(['backup'], populated)).exitCode).toBe(0)
}, 60_000)

afterAll(() => {
  rmSync(tmp, { recursive: true, force: true })
})

/**
 * The image's layout in `tmp/name`: bin/dbkeeper.js beside dist/cli/ (this run's build, linked, or
 * copied where the test changes it) and, with `cache`, an empty dist/compile-cache.
 */
function imageLayout(name: string, opts: { cache: boolean; copy?: boolean }): string {
  const pkg = join(tmp, name)
  mkdirSync(join(pkg, 'bin'), { recursive: true })
  mkdirSync(join(pkg, 'dist'))
  cpSync(join(ROOT, 'bin/dbkeeper.js'), join(pkg, 'bin/dbkeeper.js'))
  const built = dirname(inject('cliEntry'))
  if (opts.copy) cpSync(built, join(pkg, 'dist/cli'), { recursive: true })
  else symlinkSync(built, join(pkg, 'dist/cli'))
  if (opts.cache) mkdirSync(join(pkg, 'dist/compile-cache'))
  return pkg
}

async function status(pkg: string, args: string[], env: Record<string, string>, extra: Record<string, string> = {}) {
  const r = await execa(process.execPath, [join(pkg, 'bin/dbkeeper.js'), 'status', ...args], {
    env: { PATH: process.env.PATH, HOME: tmp, ...env, ...extra },
    extendEnv: false,
    reject: false,
  })
  return { exitCode: r.exitCode, stdout: r.stdout, stderr: r.stderr }
}

/** Two runs a moment apart differ in the clock only: the check's time, ages, "in 2h 30m". */
function clockless(r: { exitCode?: number; stdout: string; stderr: string }) {
  const mask = (s: string) =>
    s
      .replace(/"checkedAt": "[^"]*"/g, '"checkedAt": T')
      .replace(/"ageSeconds": \d+/g, '"ageSeconds": N')
      .replace(/\b\d+[smhd]\b/g, 'N')
      .replace(/[ \t]+/g, ' ')
  return { exitCode: r.exitCode, stdout: mask(r.stdout), stderr: mask(r.stderr) }
}

/** The cache entries Node wrote, one directory per Node version, V8 flags and uid. */
function entries(pkg: string): string[] {
  const dir = join(pkg, 'dist/compile-cache')
  return readdirSync(dir).flatMap((tag) => readdirSync(join(dir, tag)).map((f) => join(dir, tag, f)))
}

const ARGS = [[], ['--json'], ['--check']]

describe.concurrent('status through the compile cache', () => {
  it.each([
    ['an empty volume', () => empty, 'no proven backup yet'],
    ['a volume with backups and a journal', () => populated, 'healthy: all 1 database'],
  ])('on %s prints what a compile prints, from cached code', async (_name, env, expected) => {
    const key = _name.replace(/\W+/g, '-')
    const plain = imageLayout(`plain-${key}`, { cache: false })
    const cached = imageLayout(`cached-${key}`, { cache: true })
    // The first run writes the cache (bin/dbkeeper.js enables it), the later ones read it.
    expect(clockless(await status(cached, [], env()))).toEqual(clockless(await status(plain, [], env())))
    expect(entries(cached).length).toBeGreaterThanOrEqual(3)
    for (const args of ARGS) {
      const [withCache, without] = [await status(cached, args, env()), await status(plain, args, env())]
      expect({ args, ...clockless(withCache) }).toEqual({ args, ...clockless(without) })
      expect(without.stdout).toContain(args[0] === '--json' ? '"healthy"' : expected)
    }
    // Fails with bin/dbkeeper.js not enabling the cache: nothing is read (nor written, above).
    const debug = await status(cached, ['--check'], env(), { NODE_DEBUG_NATIVE: 'COMPILE_CACHE' })
    expect(debug.stderr).toMatch(/V8 code cache for ESM file:\/\/\S*\/main-status\.js was accepted/)
  })

  it('falls back to a compile, silently, when main-status.js changed since the cache was written', async () => {
    const plain = imageLayout('plain-stale', { cache: false })
    const cached = imageLayout('cached-stale', { cache: true, copy: true })
    expect((await status(cached, [], populated)).exitCode).toBe(0)
    appendFileSync(join(cached, 'dist/cli/main-status.js'), '\n// rebuilt after the cache was written\n')
    // The first run after the change finds the entry stale (and, the directory being writable here,
    // replaces it: the image's is not).
    const debug = await status(cached, [], populated, { NODE_DEBUG_NATIVE: 'COMPILE_CACHE' })
    expect(debug.stderr).toMatch(/main-status\.js/)
    expect(debug.stderr).not.toMatch(/main-status\.js was accepted/)
    expect(clockless({ ...debug, stderr: '' })).toEqual(clockless(await status(plain, [], populated)))
    for (const args of ARGS)
      expect({ args, ...clockless(await status(cached, args, populated)) }).toEqual({
        args,
        ...clockless(await status(plain, args, populated)),
      })
  })

  it("falls back to a compile, silently, when the entries are another Node's or damaged", async () => {
    const plain = imageLayout('plain-foreign', { cache: false })
    const cached = imageLayout('cached-foreign', { cache: true })
    expect((await status(cached, [], empty)).exitCode).toBe(0)
    for (const file of entries(cached)) writeFileSync(file, Buffer.alloc(4096, 0x5a))
    for (const env of [empty, populated])
      for (const args of ARGS)
        expect({ args, ...clockless(await status(cached, args, env)) }).toEqual({
          args,
          ...clockless(await status(plain, args, env)),
        })
  })

  it('is not made where the install has no dist/compile-cache (a checkout, npm run build)', async () => {
    const pkg = imageLayout('no-cache', { cache: false })
    expect((await status(pkg, ['--check'], populated)).exitCode).toBe(0)
    expect(existsSync(join(pkg, 'dist/compile-cache'))).toBe(false)
  })
})
