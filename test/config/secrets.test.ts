/**
 * Passwords in the configuration: `DBnn_PASS` or `DBnn_PASS_FILE` (Docker secrets, real files
 * here), and never a password in a ConfigError, whatever else is wrong.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { inspect } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parseConfig } from '../../src/config/index.js'
import { MASK, scrubSecrets } from '../../src/runtime/secrets.js'
import { CWD, configError, withBackupDir, expectProblems, MYSQL, parse, PASSWORD, realFiles } from './support.js'

let dir: string

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'dbkeeper-config-'))
})

afterAll(() => {
  rmSync(dir, { recursive: true, force: true })
})

function secretFile(name: string, content: string): string {
  const path = join(dir, name)
  writeFileSync(path, content, { mode: 0o600 })
  return path
}

/** The real reader, as in production: `_FILE` paths are read from disk. */
function parseWithFiles(env: Record<string, string>) {
  return parseConfig(withBackupDir(env), undefined, CWD)
}

const { DB01_PASS: _omit, ...MYSQL_NO_PASS } = MYSQL

describe('DBnn_PASS', () => {
  it('is kept as written, spaces, quotes, $ and # included', () => {
    const pass = parse(MYSQL).sources[0]!.password!
    expect(pass.reveal()).toBe(PASSWORD)
  })

  it('keeps leading and trailing spaces: they may be part of the password', () => {
    expect(parse({ ...MYSQL, DB01_PASS: '  spaced  ' }).sources[0]!.password!.reveal()).toBe('  spaced  ')
  })

  it('is optional (a passwordless user, or credentials from elsewhere)', () => {
    expect(parse(MYSQL_NO_PASS).sources[0]!.password).toBeUndefined()
  })

  it('prints, serialises and inspects as ***', () => {
    const config = parse(MYSQL)
    const pass = config.sources[0]!.password!
    expect(String(pass)).toBe(MASK)
    expect(JSON.stringify(config)).not.toContain(PASSWORD)
    expect(JSON.stringify(config)).toContain('"password":"***"')
    expect(inspect(config, { depth: 10 })).not.toContain(PASSWORD)
  })

  it('never appears in a ConfigError, whatever else is wrong', () => {
    const secret = 'Tr0ub4dor&3-unique'
    const env = {
      ...MYSQL,
      DB01_PASS: secret,
      DB01_PORT: secret, // pasted into the wrong variable
      DB01_PASSWORD: secret,
      COMPRESSION: 'lz4',
    }
    const error = configError(env)
    expect(error.problems.length).toBe(3)
    // A password pasted into the wrong variable is masked there too.
    expect(error.message).not.toContain(secret)
    expect(error.message).toContain('DB01_PORT: expected a port number from 1 to 65535; got "***"')
    expect(error.problems.find((p) => p.variable === 'DB01_PASSWORD')!.value).toBe('…')
  })

  it('is registered for scrubbing even when the configuration is refused', () => {
    const secret = 'only-in-a-bad-config-9f3a'
    configError({ ...MYSQL, DB01_PASS: secret, DB01_TYPE: 'oracle' })
    expect(scrubSecrets(`connect failed: ${secret}`)).toBe(`connect failed: ${MASK}`)
  })
})

describe('DBnn_PASS_FILE (Docker secrets)', () => {
  it('reads the password from the file, dropping the trailing newline', () => {
    const path = secretFile('pass-newline', 'from-a-file\n')
    const config = parseWithFiles({ ...MYSQL_NO_PASS, DB01_PASS_FILE: path })
    expect(config.sources[0]!.password!.reveal()).toBe('from-a-file')
  })

  it('drops a CRLF line end too, but only one line end', () => {
    expect(
      parseWithFiles({
        ...MYSQL_NO_PASS,
        DB01_PASS_FILE: secretFile('crlf', 'crlf-pass\r\n'),
      }).sources[0]!.password!.reveal(),
    ).toBe('crlf-pass')
    expect(
      parseWithFiles({
        ...MYSQL_NO_PASS,
        DB01_PASS_FILE: secretFile('two', 'two-lines\n\n'),
      }).sources[0]!.password!.reveal(),
    ).toBe('two-lines\n')
  })

  it('keeps a file without a newline as it is, spaces included', () => {
    const path = secretFile('exact', ' exact pass ')
    expect(parseWithFiles({ ...MYSQL_NO_PASS, DB01_PASS_FILE: path }).sources[0]!.password!.reveal()).toBe(
      ' exact pass ',
    )
  })

  it('refuses DB01_PASS and DB01_PASS_FILE together, naming both and showing neither', () => {
    const path = secretFile('both', 'file-pass-both\n')
    const error = expectProblems(
      { ...MYSQL, DB01_PASS_FILE: path },
      [{ variable: 'DB01_PASS', value: MASK, expected: 'either DB01_PASS or DB01_PASS_FILE, not both' }],
      realFiles,
    )
    expect(error.message).not.toContain(PASSWORD)
    expect(error.message).not.toContain('file-pass-both')
  })

  it('reports a missing file under DB01_PASS_FILE, with its path', () => {
    const missing = join(dir, 'no-such-secret')
    const error = configError({ ...MYSQL_NO_PASS, DB01_PASS_FILE: missing }, realFiles)
    expect(error.problems).toEqual([
      { variable: 'DB01_PASS_FILE', value: missing, expected: 'a readable file holding the secret (ENOENT)' },
    ])
    expect(error.message).toContain(
      `DB01_PASS_FILE: expected a readable file holding the secret (ENOENT); got "${missing}"`,
    )
  })

  it('reports a directory given as the file', () => {
    const error = configError({ ...MYSQL_NO_PASS, DB01_PASS_FILE: dir }, realFiles)
    expect(error.problems).toEqual([
      { variable: 'DB01_PASS_FILE', value: dir, expected: 'a readable file holding the secret (EISDIR)' },
    ])
  })

  it('lists the file problem together with every other problem', () => {
    const missing = join(dir, 'missing-too')
    expectProblems(
      { ...MYSQL_NO_PASS, DB01_PASS_FILE: missing, DB01_PORT: 'x', LOG_LEVEL: 'loud' },
      [
        { variable: 'DB01_PASS_FILE', value: missing, expected: 'ENOENT' },
        { variable: 'DB01_PORT', value: 'x', expected: 'a port number' },
        { variable: 'LOG_LEVEL', value: 'loud', expected: 'one of trace' },
      ],
      realFiles,
    )
  })

  it('a file password is scrubbed from output like a direct one', () => {
    const path = secretFile('scrub', 'file-secret-7c1e\n')
    parseWithFiles({ ...MYSQL_NO_PASS, DB01_PASS_FILE: path })
    expect(scrubSecrets('Access denied (using password: file-secret-7c1e)')).toBe(
      `Access denied (using password: ${MASK})`,
    )
  })
})
