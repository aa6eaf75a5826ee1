import { readFileSync } from 'node:fs'
import { expect } from 'vitest'
import { ConfigError, parseConfig, type Config } from '../../src/config/index.js'
import { formatProblem, type Env, type FileReader } from '../../src/config/reader.js'

/** A FileReader for tests that set no `_FILE` variable: any read is a missing file. */
export const noFiles: FileReader = (path) => {
  throw Object.assign(new Error(`ENOENT: no such file or directory, open '${path}'`), { code: 'ENOENT' })
}

/** The production reader, for tests with real `_FILE` secrets on disk. */
export const realFiles: FileReader = (path) => readFileSync(path, 'utf8')

/** The working directory relative BACKUP_DIR values resolve against in these tests. */
export const CWD = '/srv/dbkeeper'

export const PASSWORD = 'pa ss"w0rd$#'

/** A valid MySQL source; tests spread it and break one thing. */
export const MYSQL: Readonly<Record<string, string>> = {
  DB01_TYPE: 'mysql',
  DB01_HOST: 'db',
  DB01_NAME: 'app',
  DB01_USER: 'backup',
  DB01_PASS: PASSWORD,
}

export const SQLITE: Readonly<Record<string, string>> = { DB01_TYPE: 'sqlite', DB01_PATH: '/data/app.db' }

/**
 * BACKUP_DIR as the image sets it, unless the test sets its own (or `BACKUP_DIR: undefined`, to
 * test it unset): outside the container it is required, and most tests are about something else.
 */
export function withBackupDir(env: Env): Env {
  return { BACKUP_DIR: '/backups', ...env }
}

export function parse(env: Env, readFile: FileReader = noFiles): Config {
  return parseConfig(withBackupDir(env), readFile, CWD)
}

/** Parses a configuration that must be refused, and returns the error. */
export function configError(env: Env, readFile: FileReader = noFiles): ConfigError {
  try {
    parseConfig(withBackupDir(env), readFile, CWD)
  } catch (error) {
    if (error instanceof ConfigError) return error
    throw error
  }
  throw new Error(`expected a ConfigError, but the configuration was accepted: ${JSON.stringify(env)}`)
}

export interface ExpectedProblem {
  variable: string
  /** The value the problem must show (undefined: "it is not set"). */
  value?: string | undefined
  /** A fragment of what was expected. */
  expected: string | RegExp
}

/**
 * Asserts that `env` is refused with exactly these problems, in any order — no more (every
 * problem listed once) and no fewer — and that the message names each one's variable, value and
 * expectation in the operator-facing line.
 */
export function expectProblems(env: Env, expected: ExpectedProblem[], readFile: FileReader = noFiles): ConfigError {
  const error = configError(env, readFile)
  expect(error.code).toBe('CONFIG')
  const problems = error.problems
  expect(problems.map((p) => p.variable).sort(), error.message).toEqual(expected.map((p) => p.variable).sort())
  for (const want of expected) {
    const candidates = problems.filter((p) => p.variable === want.variable)
    const hit = candidates.find(
      (p) =>
        ('value' in want ? p.value === want.value : true) &&
        (typeof want.expected === 'string' ? p.expected.includes(want.expected) : want.expected.test(p.expected)),
    )
    expect(hit, `${want.variable}: ${JSON.stringify(want)} in\n${error.message}`).toBeDefined()
    // The operator reads the message, not the array: the same line must be in it.
    expect(error.message).toContain(formatProblem(hit!))
  }
  const count = problems.length
  expect(error.message).toContain(`invalid configuration (${count} problem${count === 1 ? '' : 's'})`)
  return error
}
