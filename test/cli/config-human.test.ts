/**
 * The human `dbkeeper config` shows everything `config --json` shows (issue 15, item 5): every
 * group, every value, secrets masked in both, engines as configured (`mariadb` is not `mysql`).
 */
import { describe, expect, it } from 'vitest'
import { runCli } from '../support/cli.js'

const SECRETS = {
  DB01_PASS: 'db-Pa55word-42',
  DB03_PASS: 'pg-Pa55word-43',
  SMTP_PASS: 'smtp-Pa55word-44',
  AWS_SECRET_ACCESS_KEY: 'aws-Secret-Key-45',
  AWS_ACCESS_KEY_ID: 'AKIAEXAMPLEKEY46',
  WEBHOOK_URL: 'https://hooks.example.com/T000/B000/webhookToken47',
}

/** Every optional block switched on, with a value in each that could leak or drift. */
const ENV = {
  BACKUP_DIR: '/srv/backups',
  DB01_TYPE: 'mariadb',
  DB01_HOST: 'maria.internal',
  DB01_NAME: 'shop,crm',
  DB01_USER: 'backup',
  DB01_KEEP_DAILY: '9',
  DB02_TYPE: 'sqlite3',
  DB02_PATH: '/data/notes.db',
  DB03_TYPE: 'postgresql',
  DB03_HOST: 'pg.internal',
  DB03_NAME: 'ALL',
  DB03_PG_FORMAT: 'custom',
  COMPRESSION: 'zstd',
  SCHEDULE: '15 3 * * *',
  HEALTH_MAX_AGE: '2d',
  KEEP_WITHIN: '30d',
  SMTP_HOST: 'smtp.example.com',
  SMTP_USER: 'mailer',
  MAIL_TO: 'ops@example.com',
  S3_BUCKET: 'offsite-bucket',
  S3_PREFIX: 'prod/',
  S3_ENDPOINT: 'https://s3.example.com',
  DRILL_SCHEDULE: '30 4 * * 0',
  ...SECRETS,
}

type Json = string | number | boolean | null | Json[] | { [key: string]: Json }

/** Every scalar of `value`, but a source's `engine` (the code's kind; the human text shows `type`). */
function leaves(value: Json): Json[] {
  if (Array.isArray(value)) return value.flatMap(leaves)
  if (value !== null && typeof value === 'object')
    return Object.entries(value).flatMap(([k, v]) => (k === 'engine' ? [] : leaves(v)))
  return [value]
}

describe('dbkeeper config, human and --json', () => {
  it('shows every top-level group and every text value of --json, secrets masked in both, engines as configured', async () => {
    const [json, human] = await Promise.all([runCli(['config', '--json'], ENV), runCli(['config'], ENV)])
    expect(json.exitCode, json.all).toBe(0)
    expect(human.exitCode, human.all).toBe(0)
    const view = JSON.parse(json.stdout) as { [key: string]: Json }

    expect(Object.keys(view)).toEqual(
      expect.arrayContaining(['backupDir', 'sources', 'daemon', 'notify', 'restore', 's3', 'retention', 'compression']),
    )
    for (const key of Object.keys(view))
      expect(human.stdout, `top-level key ${key}`).toMatch(new RegExp(`\\b${key}\\b`))
    for (const heading of [
      'sources (3)',
      'schedule and health',
      'retention',
      'compression',
      'alerts',
      'S3 off-site copy',
      'restore and drills',
    ])
      expect(human.stdout).toContain(heading)

    // Every text value (paths, hosts, schedules, the bucket, the webhook's display form, ***).
    const texts = leaves(view).filter((v): v is string => typeof v === 'string')
    for (const text of texts) expect(human.stdout, `value ${text}`).toContain(text)
    // Durations in words, not milliseconds.
    expect(human.stdout).toContain('health max age: 2d')

    // As configured: mariadb, sqlite3 and postgresql, in --json too (as `type`).
    const sources = view.sources as { id: string; type: string; engine: string }[]
    expect(sources.map((s) => [s.id, s.type, s.engine])).toEqual([
      ['DB01', 'mariadb', 'mysql'],
      ['DB02', 'sqlite3', 'sqlite'],
      ['DB03', 'postgresql', 'postgres'],
    ])
    expect(human.stdout).toContain('type: mariadb')
    expect(human.stdout).not.toMatch(/\bmysql\b/)

    for (const [name, secret] of Object.entries(SECRETS)) {
      expect(json.all, `${name} in --json`).not.toContain(secret)
      expect(human.all, `${name} in config`).not.toContain(secret)
    }
    expect(human.stdout).toContain('password: ***')
    expect(human.stdout).toContain('secret access key: ***')
  })

  it('says S3 is off when S3_BUCKET is not set, rather than leaving it out', async () => {
    const {
      S3_BUCKET: _b,
      S3_PREFIX: _p,
      S3_ENDPOINT: _e,
      AWS_ACCESS_KEY_ID: _a,
      AWS_SECRET_ACCESS_KEY: _s,
      ...noS3
    } = ENV
    const r = await runCli(['config'], noS3)
    expect(r.exitCode, r.all).toBe(0)
    expect(r.stdout).toContain('S3 off-site copy (s3): off (S3_BUCKET is not set)')
  })
})
