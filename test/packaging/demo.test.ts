/**
 * `npm run demo` as a new user runs it (issue 15, item 1): it ends with the `export` lines it used
 * and two next commands; pasted into a shell, those commands work (exit 0) and see the demo's
 * backup. The README shows the same lines.
 */
import { execa } from 'execa'
import { readFileSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ROOT } from '../support/cli.js'

let dir: string
let printed: { exports: string[]; next: string[] }

/** A shell with only what a fresh login has (PATH, HOME): nothing of the test's own environment. */
const bare = () => ({ PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/root' })

function nextSteps(text: string): { exports: string[]; next: string[] } {
  const lines = text.split('\n').map((l) => l.trim())
  return {
    exports: lines.filter((l) => l.startsWith('export ')),
    next: lines.filter((l) => l.startsWith('npx dbkeeper ')),
  }
}

beforeAll(async () => {
  // A space and a quote in the path: the printed exports must survive the shell.
  dir = await mkdtemp(join(tmpdir(), "dbk demo's-"))
  const demo = await execa('npm', ['run', 'demo'], {
    cwd: ROOT,
    env: { ...bare(), DEMO_DIR: dir },
    extendEnv: false,
    reject: false,
    timeout: 120_000,
  })
  expect(demo.exitCode, `${demo.stdout}\n${demo.stderr}`).toBe(0)
  printed = nextSteps(demo.stdout)
}, 180_000)
afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true })
})

describe('npm run demo', () => {
  it('prints the exports it used: BACKUP_DIR and the DB01_* source, at the demo directory', () => {
    const names = printed.exports.map((l) => /^export (\w+)=/.exec(l)?.[1])
    expect(names).toEqual(['BACKUP_DIR', 'DB01_TYPE', 'DB01_PATH', 'DB01_LABEL', 'LOG_LEVEL'])
    expect(printed.exports.join('\n')).toContain('demo')
    expect(printed.next).toEqual(['npx dbkeeper list', 'npx dbkeeper status'])
  })

  it('its next commands work in a fresh shell with exactly those exports, and see the demo backup', async () => {
    for (const command of printed.next) {
      const r = await execa('bash', ['-c', [...printed.exports, command].join('\n')], {
        cwd: ROOT,
        env: bare(),
        extendEnv: false,
        reject: false,
        timeout: 60_000,
      })
      expect(r.exitCode, `${command}:\n${r.stdout}\n${r.stderr}`).toBe(0)
      expect(r.stdout, command).toContain('demo')
    }
  }, 180_000)

  it('without the exports, the same commands fail naming what is missing (what the demo prevents)', async () => {
    const r = await execa('bash', ['-c', printed.next[0]!], { cwd: ROOT, env: bare(), extendEnv: false, reject: false })
    expect(r.exitCode).toBe(2)
    expect(r.stderr).toContain('BACKUP_DIR')
  }, 60_000)

  it('is shown in the README with the same exports and next commands', () => {
    const readme = nextSteps(readFileSync(join(ROOT, 'README.md'), 'utf8'))
    const names = (lines: string[]) => lines.map((l) => /^export (\w+)=/.exec(l)?.[1])
    expect(names(readme.exports).slice(0, printed.exports.length)).toEqual(names(printed.exports))
    expect(readme.next.slice(0, printed.next.length)).toEqual(printed.next)
  })
})
