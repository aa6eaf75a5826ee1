/**
 * Every dbkeeper process keeps V8's young generation at its initial size (src/runtime/heap.ts):
 * without it a backup's peak RSS is ~30 MB higher (docs/PERFORMANCE.md, "Memory"). Measured in
 * the real CLI process: a hook allocates, at exit, what makes V8 grow the new space (many objects
 * that survive a scavenge or two), and reports the largest new space it saw.
 */
import { execa } from 'execa'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { runCli } from '../support/cli.js'

const MB = 2 ** 20

let tmp: string
let hook: string

beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'dbkeeper-heap-'))
  hook = join(tmp, 'new-space.mjs')
  writeFileSync(
    hook,
    `const v8 = process.getBuiltinModule('node:v8')
const { writeFileSync } = process.getBuiltinModule('node:fs')
process.on('exit', () => {
  let keep = []
  let largest = 0
  for (let i = 0; i < 3e6; i++) {
    keep.push({ i, s: 'x' + i })
    if (keep.length > 20000) keep = []
    if (i % 10000 === 0) largest = Math.max(largest, v8.getHeapSpaceStatistics().find((s) => s.space_name === 'new_space').space_size)
  }
  writeFileSync(process.env.NEW_SPACE_FILE, String(largest))
})
`,
  )
})

afterAll(() => {
  rmSync(tmp, { recursive: true, force: true })
})

const largestNewSpace = (file: string) => Number(readFileSync(file, 'utf8'))

describe('the young generation', () => {
  it('stays small in a dbkeeper process, where a plain node process grows it', async () => {
    const plain = join(tmp, 'plain.txt')
    await execa(process.execPath, ['-e', '0'], { env: { NODE_OPTIONS: `--import=${hook}`, NEW_SPACE_FILE: plain } })
    // The control: the same allocations do grow V8's default new space (64 MB on Node 24), so the
    // assertion below can fail.
    expect(largestNewSpace(plain)).toBeGreaterThan(16 * MB)

    const cli = join(tmp, 'cli.txt')
    const r = await runCli(['--version'], { NODE_OPTIONS: `--import=${hook}`, NEW_SPACE_FILE: cli })
    expect(r.exitCode).toBe(0)
    // Bounded, the new space still takes a few steps of its initial size: 8.5–11.3 MB measured
    // (idle host and CI), against 64 MB without the bound.
    expect(largestNewSpace(cli)).toBeLessThanOrEqual(16 * MB)
  })
})
