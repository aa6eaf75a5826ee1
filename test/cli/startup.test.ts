/**
 * Start-up: a command loads only the modules it needs (docs/PERFORMANCE.md, "Start-up"). The
 * HEALTHCHECK runs `dbkeeper status --check` every minute; `--help` is what a lost operator types.
 * Neither may load the AWS SDK, a database driver, nodemailer, prom-client, execa or pino.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { commands } from '../../src/cli/commands/index.js'
import { runCli } from '../support/cli.js'

const HEAVY = ['@aws-sdk', '@smithy', 'mysql2', '/pg/', 'better-sqlite3', 'nodemailer', 'prom-client', 'execa', 'pino']

let tmp: string
let hook: string

beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'dbkeeper-startup-'))
  hook = join(tmp, 'record-modules.mjs')
  // Records every module the process loads (ESM and CommonJS) into $MODULES_FILE at exit.
  writeFileSync(
    hook,
    `import { registerHooks } from 'node:module'
import { writeFileSync } from 'node:fs'
const seen = []
registerHooks({ load(url, context, next) { seen.push(url); return next(url, context) } })
process.on('exit', () => writeFileSync(process.env.MODULES_FILE, seen.join('\\n')))
`,
  )
})

afterAll(() => {
  rmSync(tmp, { recursive: true, force: true })
})

async function modulesOf(
  args: string[],
  name: string,
): Promise<{ modules: string[]; stdout: string; exitCode: number }> {
  const file = join(tmp, `${name}.txt`)
  const r = await runCli(args, {
    DB01_TYPE: 'sqlite',
    DB01_PATH: join(tmp, 'app.db'),
    BACKUP_DIR: join(tmp, 'backups'),
    NODE_OPTIONS: `--import=${hook}`,
    MODULES_FILE: file,
  })
  return { modules: readFileSync(file, 'utf8').split('\n'), stdout: r.stdout, exitCode: r.exitCode }
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

  it('`dbkeeper backup --help` loads the backup command and prints its usage', async () => {
    const { stdout, exitCode } = await modulesOf(['backup', '--help'], 'backup-help')
    expect(exitCode).toBe(0)
    expect(stdout).toContain('dbkeeper backup')
  })
})
