/**
 * The variables we ship in docker-compose.yaml and .env.example are ones the config module reads
 * (a misspelt global would be ignored without a word), their values are valid, and .env.example
 * lists every variable the config module reads, with its real default.
 *
 * What the config module reads is measured, not kept in a second list: parseConfig runs over an
 * environment that records every name it looks up, with one source of each engine and every
 * optional block (S3, email, webhook, drills) switched on.
 */
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { ConfigError, parseConfig } from '../../src/config/index.js'
import type { Env, FileReader } from '../../src/config/reader.js'

const ROOT = join(import.meta.dirname, '..', '..')
const SOURCE_VAR = /^DB\d{2,}_(.+)$/

/** Secrets arrive through _FILE in what we ship; a webhook's file must hold a URL. */
const fakeFiles: FileReader = (path) => (path.includes('webhook') ? 'https://hooks.example.com/T000/B000/x' : 'secret')

const PROBE: Env = {
  DB01_TYPE: 'mysql',
  DB01_HOST: 'db',
  DB01_NAME: 'app',
  DB02_TYPE: 'postgres',
  DB02_HOST: 'pg',
  DB02_NAME: 'app',
  DB03_TYPE: 'sqlite',
  DB03_PATH: '/data/app.db',
  S3_BUCKET: 'example-bucket',
  SMTP_HOST: 'smtp.example.com',
  MAIL_TO: 'ops@example.com',
  WEBHOOK_URL: 'https://hooks.example.com/x',
  DRILL_SCHEDULE: '30 4 * * 0',
}

function problemsOf(env: Env): ConfigError['problems'] {
  try {
    parseConfig(env, fakeFiles, '/')
    return []
  } catch (error) {
    if (error instanceof ConfigError) return error.problems
    throw error
  }
}

/** Every name parseConfig looks up in `env`. */
function namesRead(env: Env): Set<string> {
  const seen = new Set<string>()
  const recording = new Proxy(
    { ...env },
    {
      get(target, key) {
        if (typeof key === 'string') seen.add(key)
        return target[key as string]
      },
    },
  )
  problemsOf(recording)
  return seen
}

const READ = namesRead(PROBE)
const KNOWN_GLOBALS = new Set([...READ].filter((n) => !SOURCE_VAR.test(n)))
const KNOWN_SOURCE_SUFFIXES = new Set([...READ].flatMap((n) => SOURCE_VAR.exec(n)?.[1] ?? []))

function isKnown(name: string): boolean {
  const suffix = SOURCE_VAR.exec(name)?.[1]
  return suffix === undefined ? KNOWN_GLOBALS.has(name) : KNOWN_SOURCE_SUFFIXES.has(suffix)
}

interface Shipped {
  /** Set as shipped. */
  active: Map<string, string>
  /** Commented out: examples an operator switches on by removing the `#`. */
  commented: Map<string, string>
}

/** `NAME=value` and `# NAME=value` lines; prose comments never start with `NAME=`. */
function parseEnvExample(text: string): Shipped {
  const shipped: Shipped = { active: new Map(), commented: new Map() }
  for (const line of text.split('\n')) {
    const m = /^(#\s*)?([A-Z][A-Z0-9_]*)=(.*)$/.exec(line)
    if (m) (m[1] ? shipped.commented : shipped.active).set(m[2]!, m[3]!)
  }
  return shipped
}

/** The `environment:` map of services.backup, commented entries included (our file's layout). */
function parseComposeBackupEnv(text: string): Shipped {
  const shipped: Shipped = { active: new Map(), commented: new Map() }
  const lines = text.split('\n')
  const service = lines.indexOf('  backup:')
  const start = lines.findIndex((l, i) => i > service && l === '    environment:')
  expect(service, 'docker-compose.yaml has services.backup').toBeGreaterThan(0)
  expect(start, 'services.backup has an environment: map').toBeGreaterThan(service)
  for (const line of lines.slice(start + 1)) {
    if (line.trim() !== '' && !line.startsWith('      ')) break
    const m = /^ {6}(#\s*)?([A-Z][A-Z0-9_]*):\s*(.*)$/.exec(line)
    if (m) (m[1] ? shipped.commented : shipped.active).set(m[2]!, m[3]!.replace(/^(["'])(.*)\1$/, '$2'))
  }
  return shipped
}

/** What an operator gets by uncommenting every example: a name's _FILE form wins over it. */
function allSwitchedOn({ active, commented }: Shipped): Env {
  const env: Record<string, string> = Object.fromEntries(active)
  // A _FILE example with a value stands for its variable; an empty one (AGE_RECIPIENTS_FILE) is only named.
  for (const [name, value] of commented) if (value !== '' && !commented.get(`${name}_FILE`)) env[name] = value
  return env
}

const envExample = parseEnvExample(readFileSync(join(ROOT, '.env.example'), 'utf8'))
const compose = parseComposeBackupEnv(readFileSync(join(ROOT, 'docker-compose.yaml'), 'utf8'))

/** What the image itself sets (Dockerfile.backup `ENV`): BACKUP_DIR, required outside the container. */
const IMAGE_BACKUP_DIR = /^\s*(?:ENV\s+)?BACKUP_DIR=(\S+)/m.exec(
  readFileSync(join(ROOT, 'Dockerfile.backup'), 'utf8'),
)?.[1]

describe('Dockerfile.backup', () => {
  it('sets BACKUP_DIR=/backups, its volume: inside the container it need not be set', () => {
    expect(IMAGE_BACKUP_DIR).toBe('/backups')
  })
})

describe('the variables the config module reads (measured)', () => {
  it('include every variable name written out in src/config', () => {
    // A name read only on a path the probe does not take would be missing from the known set.
    // (`'S3_'` and the like are prefixes, not names: a name ends in a letter or digit.)
    const literal = new Set<string>()
    for (const file of readdirSync(join(ROOT, 'src', 'config')).filter((f) => f.endsWith('.ts'))) {
      const text = readFileSync(join(ROOT, 'src', 'config', file), 'utf8')
      for (const m of text.matchAll(
        /\br\s*\.\s*\w+\(\s*'([A-Z][A-Z0-9_]*[A-Z0-9])'|\(\s*r\s*,\s*'([A-Z][A-Z0-9_]*[A-Z0-9])'/g,
      ))
        literal.add((m[1] ?? m[2])!)
    }
    expect(literal.size).toBeGreaterThan(20)
    expect([...literal].filter((n) => !READ.has(n))).toEqual([])
  })

  it('include the source variables of every engine', () => {
    for (const suffix of [
      'TYPE',
      'HOST',
      'PORT',
      'NAME',
      'USER',
      'PASS',
      'PASS_FILE',
      'PATH',
      'LABEL',
      'EXTRA_OPTS',
      'PG_FORMAT',
      'KEEP_DAILY',
    ]) {
      expect(KNOWN_SOURCE_SUFFIXES).toContain(suffix)
    }
  })
})

describe.each([
  ['docker-compose.yaml (services.backup.environment)', compose],
  ['.env.example', envExample],
])('%s', (_file, shipped) => {
  const names = [...shipped.active.keys(), ...shipped.commented.keys()]

  it('sets only variables the config module reads', () => {
    expect(names.length).toBeGreaterThan(5)
    expect(names.filter((n) => !isKnown(n))).toEqual([])
  })

  it('sets no DBnn_ variable that parseConfig refuses as unknown', () => {
    const base = { DB99_TYPE: 'sqlite', DB99_PATH: '/data/x.db' }
    for (const name of names.filter((n) => SOURCE_VAR.test(n))) {
      const unknown = problemsOf({ ...base, [name]: 'x' }).filter(
        (p) => p.variable === name && p.expected.startsWith('a known source variable'),
      )
      expect(unknown, name).toEqual([])
    }
  })

  it('holds valid values, with every commented example switched on too', () => {
    const env = allSwitchedOn(shipped)
    // .env.example ships no source switched on; its examples switched on are DB01–DB03.
    expect(
      problemsOf({ BACKUP_DIR: IMAGE_BACKUP_DIR, ...env }).map((p) => `${p.variable}: expected ${p.expected}`),
    ).toEqual([])
  })
})

describe('.env.example', () => {
  it('lists every variable the config module reads', () => {
    const listed = [...envExample.active.keys(), ...envExample.commented.keys()]
    expect([...KNOWN_GLOBALS].filter((n) => !listed.includes(n)).sort()).toEqual([])
    const listedSuffixes = new Set(listed.flatMap((n) => SOURCE_VAR.exec(n)?.[1] ?? []))
    expect([...KNOWN_SOURCE_SUFFIXES].filter((s) => !listedSuffixes.has(s)).sort()).toEqual([])
  })

  it('sets only defaults: as shipped it changes nothing', () => {
    // BACKUP_DIR as the image sets it (Dockerfile.backup): .env.example repeats it, changing nothing.
    const source = { BACKUP_DIR: '/backups', DB01_TYPE: 'sqlite', DB01_PATH: '/data/app.db' }
    expect(envExample.active.size).toBeGreaterThan(5)
    expect(parseConfig({ ...Object.fromEntries(envExample.active), ...source }, fakeFiles, '/')).toEqual(
      parseConfig(source, fakeFiles, '/'),
    )
  })
})
