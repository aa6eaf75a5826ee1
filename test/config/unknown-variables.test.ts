/**
 * Unknown variables: a typo in a family of ours (KEEP_DIALY), a near-miss of a known name
 * (SCHEDUEL) or a peer image's variable (DB01_BACKUP_INTERVAL) is a problem with a suggestion;
 * the rest of a container's environment is none of our business.
 */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { closest, distanceWithin, editDistance } from '../../src/runtime/did-you-mean.js'
import { configError, expectProblems, parse, SQLITE } from './support.js'

const ROOT = join(import.meta.dirname, '..', '..')

describe('typos of our variables', () => {
  it.each([
    ['SCHEDUEL', 'did you mean SCHEDULE?'],
    ['COMPRESION', 'did you mean COMPRESSION?'],
    ['COMPRESSION_LEVL', 'did you mean COMPRESSION_LEVEL?'],
    ['LOG_LEVL', 'did you mean LOG_LEVEL?'],
    ['SMPT_HOST', 'did you mean SMTP_HOST?'],
    ['SAFETY_KEEP_DAY', 'did you mean SAFETY_KEEP_DAYS?'],
    ['KEEP_DIALY', 'did you mean KEEP_DAILY?'],
    ['KEEP_DAYS', 'the KEEP_* variables are KEEP_LAST, KEEP_HOURLY, KEEP_DAILY, '],
    ['SMTP_HOSTT', 'did you mean SMTP_HOST?'],
    ['SMTP_PASSWORD', 'did you mean SMTP_PASS?'],
    ['SMTP_PASSWORD_FILE', 'did you mean SMTP_PASS_FILE?'],
    ['SMTP_USERNAME', 'did you mean SMTP_USER?'],
    ['MAIL_RECIPIENTS', 'did you mean MAIL_TO?'],
    ['DRILL_PASSWORD', 'did you mean DRILL_PASS?'],
    ['HEALTH_PORTT', 'did you mean HEALTH_PORT?'],
    ['STATUS_AUTH_FIEL', 'did you mean STATUS_AUTH_FILE?'],
    ['PING_ULR', 'did you mean PING_URL?'],
    ['BACKUP_DIRECTORY', 'the BACKUP_* variables are BACKUP_DIR, '],
    ['S3_BUKET', 'did you mean S3_BUCKET?'],
    ['S3_1_BUCKET', 'target 1 is the plain S3_*: did you mean S3_BUCKET?'],
    ['DB01_KEEP_DIALY', 'did you mean DB01_KEEP_DAILY?'],
    ['DB01_HOSTT', 'did you mean DB01_HOST?'],
    ['PG_FORMAT', 'did you mean DB01_PG_FORMAT?'],
  ])('%s is refused: %s', (variable, suggestion) => {
    expectProblems({ ...SQLITE, S3_BUCKET: 'example-bucket', [variable]: 'x' }, [
      { variable, value: '…', expected: suggestion },
    ])
  })

  it('never shows the value of an unknown variable: it may be a password', () => {
    const error = expectProblems({ ...SQLITE, SMTP_PASSWORD: 'hunter2-smtp' }, [
      { variable: 'SMTP_PASSWORD', value: '…', expected: 'did you mean SMTP_PASS?' },
    ])
    expect(error.message).not.toContain('hunter2-smtp')
  })

  it('lists every problem at once, unknown names among the others', () => {
    const error = configError({ ...SQLITE, SCHEDUEL: '0 3 * * *', KEEP_DIALY: '7', COMPRESSION: 'lz4' })
    expect(error.problems.map((p) => p.variable).sort()).toEqual(['COMPRESSION', 'KEEP_DIALY', 'SCHEDUEL'])
    expect(error.message).toContain('  - SCHEDUEL: expected a known variable (did you mean SCHEDULE?); got "…"')
  })

  it('refuses a PITR_ variable it does not read, listing the ones it does', () => {
    expectProblems({ ...SQLITE, PITR_ENABLED: 'x' }, [
      { variable: 'PITR_ENABLED', value: '…', expected: 'the PITR_* variables are PITR_WINDOW, PITR_MAX_LAG' },
    ])
  })

  it('knows a variable that only another setting reads: what is known is measured over every engine and codec', () => {
    expect(() =>
      parse({ ...SQLITE, COMPRESSION: 'none', COMPRESSION_LEVEL: '5', DB01_PORT: '3306', DRILL_PORT: '' }),
    ).not.toThrow()
  })

  it('accepts every _FILE form the readers take, and refuses one of a variable that is no secret', () => {
    const files = (path: string) => (path.includes('hook') ? 'https://hooks.example.com/x' : 'secret')
    const env = {
      ...SQLITE,
      DB01_PASS_FILE: '/run/secrets/db',
      SMTP_HOST: 'smtp',
      MAIL_TO: 'ops@example.com',
      SMTP_USER: 'u',
      SMTP_PASS_FILE: '/run/secrets/smtp',
      WEBHOOK_URL_FILE: '/run/secrets/hook',
      S3_BUCKET: 'example-bucket',
      AWS_ACCESS_KEY_ID_FILE: '/run/secrets/a',
      AWS_SECRET_ACCESS_KEY_FILE: '/run/secrets/b',
    }
    expect(() => parse(env, files)).not.toThrow()
    expectProblems(
      { ...env, SMTP_HOST_FILE: '/run/secrets/host' },
      [{ variable: 'SMTP_HOST_FILE', value: '…', expected: 'a known variable' }],
      files,
    )
  })
})

describe("the peers' variables", () => {
  it.each([
    ['DB01_BACKUP_INTERVAL', 'tiredofit/nfrastack db-backup; dbkeeper: SCHEDULE'],
    ['DB01_CLEANUP_TIME', 'dbkeeper: DB01_KEEP_WITHIN'],
    ['DB01_S3_BUCKET', 'dbkeeper: the global S3_* variables'],
    ['DB01_COMPRESSION', 'dbkeeper: the global COMPRESSION'],
    ['DEFAULT_BACKUP_INTERVAL', 'tiredofit/nfrastack db-backup; dbkeeper: the unprefixed globals'],
    ['TIMEZONE', 'dbkeeper: TZ'],
    ['CONTAINER_ENABLE_MONITORING', 'dbkeeper: nothing to set'],
    ['S3_KEY_ID', 'dbkeeper: AWS_ACCESS_KEY_ID'],
    ['DB_DUMP_FREQ', 'databacker/mysql-backup or tiredofit/nfrastack db-backup before v4; dbkeeper: SCHEDULE'],
    ['DB_DUMP_BEGIN', 'dbkeeper: SCHEDULE'],
    ['DB_DUMP_TARGET', 'dbkeeper: BACKUP_DIR'],
    ['DB_SERVER', 'dbkeeper: DB01_HOST'],
    ['DB_NAMES', 'dbkeeper: DB01_NAME'],
    ['AWS_PATH_STYLE', 'dbkeeper: S3_FORCE_PATH_STYLE'],
  ])('%s names our equivalent', (variable, equivalent) => {
    expectProblems({ ...SQLITE, S3_BUCKET: 'example-bucket', [variable]: 'x' }, [
      { variable, value: '…', expected: equivalent },
    ])
  })

  it('names the source the variable belongs to', () => {
    expectProblems({ ...SQLITE, DB02_TYPE: 'sqlite', DB02_PATH: '/data/b.db', DB02_CLEANUP_TIME: '1440' }, [
      { variable: 'DB02_CLEANUP_TIME', value: '…', expected: 'dbkeeper: DB02_KEEP_WITHIN' },
    ])
  })
})

describe('what is not ours', () => {
  /** The container's own environment: Dockerfile.backup's ENV lines and what Docker and the node image add. */
  function containerEnv(): Record<string, string> {
    const dockerfile = readFileSync(join(ROOT, 'Dockerfile.backup'), 'utf8')
    const env: Record<string, string> = {
      PATH: '/usr/local/bin:/usr/bin:/bin',
      HOME: '/home/dbkeeper',
      HOSTNAME: 'a1b2c3',
      TERM: 'xterm',
      TZ: 'UTC',
      USER: 'dbkeeper',
      NODE_VERSION: '24.22.3',
      YARN_VERSION: '1.22.22',
      LANG: 'C.UTF-8',
      PWD: '/app',
      SHLVL: '1',
      NODE_OPTIONS: '--max-old-space-size=512',
      // The AWS SDK's own, and Kubernetes service links of services named smtp and backup.
      AWS_REGION: 'eu-central-1',
      AWS_PROFILE: 'backup',
      AWS_ENDPOINT_URL: 'https://s3.example.com',
      AWS_CA_BUNDLE: '/ca.pem',
      SMTP_SERVICE_HOST: '10.0.0.1',
      SMTP_SERVICE_PORT: '25',
      BACKUP_PORT_8080_TCP_ADDR: '10.0.0.2',
      KUBERNETES_SERVICE_HOST: '10.0.0.3',
      // Read by our own scripts/restore-mysql.sh, and by many an application sharing its env file.
      DB_HOST: 'db',
      DB_PORT: '3306',
      DB_USER: 'app',
      DB_PASSWORD: 'x',
      DB_DATABASE: 'app',
      DBKEEPER_FAILPOINTS: '',
      // Set by orchestrators and CI runners, whatever image runs.
      CONTAINER_NAME: 'backup-1',
      CONTAINER_ID: 'a1b2c3',
    }
    for (const m of dockerfile.matchAll(/^\s*(?:ENV\s+)?([A-Za-z_][A-Za-z0-9_]*)=(\S*)\s*\\?$/gm)) env[m[1]!] = m[2]!
    return env
  }

  it("accepts the container's environment, Dockerfile.backup's ENV lines included", () => {
    const env = containerEnv()
    expect(env.NODE_ENV).toBe('production')
    expect(env.BACKUP_DIR).toBe('/backups')
    expect(() => parse({ ...env, ...SQLITE })).not.toThrow()
  })
})

describe('closest', () => {
  it('takes one edit up to 8 characters and two beyond; a swap of neighbours is one edit', () => {
    expect(editDistance('SCHEDUEL', 'SCHEDULE')).toBe(1)
    expect(closest('SCHEDUEL', ['SCHEDULE', 'TZ'])).toBe('SCHEDULE')
    expect(closest('SCHDUEL', ['SCHEDULE'])).toBeUndefined()
    expect(closest('COMPRSION', ['COMPRESSION'])).toBe('COMPRESSION')
    expect(closest('TX', ['TZ'])).toBeUndefined()
  })

  it('bounds the distance exactly: the same as editDistance within the limit, above it otherwise', () => {
    // Deterministic pseudo-random pairs over a small alphabet, so that near misses, swaps and
    // equal strings all occur (é and ü share one slot of the letter counts); plus the names of this file's cases.
    let seed = 20
    const next = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31)
    const word = () => Array.from({ length: next() % 12 }, () => 'AB_Céü'[next() % 6]).join('')
    const pairs: [string, string][] = [
      ['SCHEDUEL', 'SCHEDULE'],
      ['COMPRSION', 'COMPRESSION'],
      ['HOSTNAME', 'HEALTH_PORT'],
      ['', 'AB'],
    ]
    for (let n = 0; n < 3000; n++) pairs.push([word(), word()])
    let within = 0
    for (const [a, b] of pairs) {
      const full = editDistance(a, b)
      for (const limit of [0, 1, 2]) {
        const d = distanceWithin(a, b, limit)
        if (full <= limit) {
          expect(d, `${a} ~ ${b} within ${limit}`).toBe(full)
          within++
        } else expect(d, `${a} ~ ${b} within ${limit}`).toBeGreaterThan(limit)
      }
    }
    // The cases must include distances within the limit, not only misses.
    expect(within).toBeGreaterThan(500)
  })
})
