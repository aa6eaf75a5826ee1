/** SCHEDULE, health, shutdown and alert settings: defaults, accepted forms, and every refusal. */
import { Cron } from 'croner'
import { describe, expect, it } from 'vitest'
import { readDaemonConfig, readNotifyConfig } from '../../src/config/daemon.js'
import { EnvReader, type Env } from '../../src/config/reader.js'
import { isTimeZone, nextRuns, scheduleProblem } from '../../src/config/schedule.js'
import { scrubSecrets } from '../../src/runtime/secrets.js'
import { configError, expectProblems, MYSQL, noFiles, parse, SQLITE } from './support.js'

const H = 3_600_000
/** A Wednesday noon (UTC), so weekday schedules see a weekend within their sample. */
const WEDNESDAY = new Date('2026-11-18T12:00:00Z')

function daemon(env: Env, now = WEDNESDAY) {
  const r = new EnvReader(env, noFiles)
  return { config: readDaemonConfig(r, now), problems: r.problems }
}

const SMTP: Env = { SMTP_HOST: 'smtp.example.com', MAIL_TO: 'ops@example.com' }

describe('daemon defaults', () => {
  it('backs up every 6 hours and at start, waits 60 s on shutdown, serves health on 8080 with a 13 h limit', () => {
    const config = parse(SQLITE)
    expect(config.daemon).toEqual({
      schedule: '0 */6 * * *',
      backupOnStart: true,
      backupOnShutdown: false,
      shutdownTimeoutMs: 60_000,
      healthPort: 8080,
      healthMaxAgeMs: 13 * H,
    })
    expect(Object.isFrozen(config.daemon)).toBe(true)
  })

  it('derives HEALTH_MAX_AGE from the schedule: twice the interval plus an hour', () => {
    expect(daemon({ SCHEDULE: '30 2 * * *' }).config.healthMaxAgeMs).toBe(49 * H)
    expect(daemon({ SCHEDULE: '*/15 * * * *' }).config.healthMaxAgeMs).toBe(H + 30 * 60_000)
    expect(daemon({ SCHEDULE: '@hourly' }).config.healthMaxAgeMs).toBe(3 * H)
    // Six fields: seconds (the daemon tests run every second).
    expect(daemon({ SCHEDULE: '* * * * * *' }).config.healthMaxAgeMs).toBe(H + 2000)
  })

  it('measures the longest gap, so a weekday schedule is not unhealthy every Monday', () => {
    // Friday 02:00 → Monday 02:00 is 72 h.
    expect(daemon({ SCHEDULE: '0 2 * * 1-5' }).config.healthMaxAgeMs).toBe(145 * H)
  })

  it('reads the schedule in TZ (a daylight-saving day does not shrink the limit below the interval)', () => {
    const { config, problems } = daemon(
      { SCHEDULE: '0 3 * * *', TZ: 'Europe/Berlin' },
      new Date('2026-10-20T12:00:00Z'),
    )
    expect(problems).toEqual([])
    // The night the clocks go back is 25 h long.
    expect(config.healthMaxAgeMs).toBe(51 * H)
  })
})

describe('daemon settings', () => {
  it('accepts durations as seconds, 60s, 5m, 13h and 1d12h', () => {
    expect(daemon({ SHUTDOWN_TIMEOUT: '60' }).config.shutdownTimeoutMs).toBe(60_000)
    expect(daemon({ SHUTDOWN_TIMEOUT: '90s' }).config.shutdownTimeoutMs).toBe(90_000)
    expect(daemon({ SHUTDOWN_TIMEOUT: '5m' }).config.shutdownTimeoutMs).toBe(300_000)
    expect(daemon({ HEALTH_MAX_AGE: '13h' }).config.healthMaxAgeMs).toBe(13 * H)
    expect(daemon({ HEALTH_MAX_AGE: '1d12h' }).config.healthMaxAgeMs).toBe(36 * H)
    expect(daemon({ HEALTH_MAX_AGE: '900m' }).config.healthMaxAgeMs).toBe(15 * H)
  })

  it('takes the booleans and HEALTH_PORT=0 (no server)', () => {
    const { config } = daemon({ BACKUP_ON_START: 'false', BACKUP_ON_SHUTDOWN: 'yes', HEALTH_PORT: '0' })
    expect(config).toMatchObject({ backupOnStart: false, backupOnShutdown: true, healthPort: 0 })
  })

  it('refuses a bad schedule, durations, port and booleans, all at once', () => {
    expectProblems(
      {
        ...SQLITE,
        SCHEDULE: '0 */6 * *',
        SHUTDOWN_TIMEOUT: '1 minute',
        HEALTH_MAX_AGE: '0',
        HEALTH_PORT: '70000',
        BACKUP_ON_START: 'sometimes',
      },
      [
        { variable: 'SCHEDULE', value: '0 */6 * *', expected: 'a cron pattern' },
        { variable: 'SHUTDOWN_TIMEOUT', value: '1 minute', expected: 'a duration such as 60 (seconds)' },
        { variable: 'HEALTH_MAX_AGE', value: '0', expected: 'a duration' },
        { variable: 'HEALTH_PORT', value: '70000', expected: '0 for no health server' },
        { variable: 'BACKUP_ON_START', value: 'sometimes', expected: 'true or false' },
      ],
    )
  })

  it('refuses a schedule that never fires and one with a bad field', () => {
    expectProblems({ ...SQLITE, SCHEDULE: '0 0 30 2 *' }, [{ variable: 'SCHEDULE', expected: 'never fires' }])
    expectProblems({ ...SQLITE, SCHEDULE: '0 25 * * *' }, [{ variable: 'SCHEDULE', expected: 'a cron pattern' }])
  })

  it('refuses HEALTH_MAX_AGE shorter than the schedule interval (unhealthy between any two runs)', () => {
    expectProblems({ ...SQLITE, HEALTH_MAX_AGE: '5h' }, [
      { variable: 'HEALTH_MAX_AGE', value: '5h', expected: "longer than the schedule's interval (6h)" },
    ])
  })

  it('reports only the TZ problem for an invalid TZ, and still computes the limit', () => {
    const error = configError({ ...SQLITE, TZ: 'Mars/Olympus' })
    expect(error.problems.map((p) => p.variable)).toEqual(['TZ'])
    expect(daemon({ TZ: 'Mars/Olympus' }).config.healthMaxAgeMs).toBe(13 * H)
  })
})

describe('alert settings', () => {
  it('sends nothing by default, and NOTIFY_ON defaults to failure', () => {
    expect(parse(SQLITE).notify).toEqual({ on: 'failure', email: undefined, webhook: undefined })
  })

  it('reads SMTP with port 587, STARTTLS, MAIL_FROM from the host name and a comma list of recipients', () => {
    const r = new EnvReader({ ...SMTP, MAIL_TO: 'ops@example.com, Dba Team <dba@example.com>,root@localhost' }, noFiles)
    const notify = readNotifyConfig(r, 'backup-7f3a')
    expect(r.problems).toEqual([])
    expect(notify.email).toEqual({
      host: 'smtp.example.com',
      port: 587,
      secure: false,
      user: undefined,
      password: undefined,
      from: 'dbkeeper@backup-7f3a',
      to: ['ops@example.com', 'Dba Team <dba@example.com>', 'root@localhost'],
    })
    expect(Object.isFrozen(notify.email)).toBe(true)
  })

  it('uses TLS by default on port 465, and SMTP_SECURE overrides', () => {
    expect(parse({ ...SQLITE, ...SMTP, SMTP_PORT: '465' }).notify.email?.secure).toBe(true)
    expect(parse({ ...SQLITE, ...SMTP, SMTP_PORT: '465', SMTP_SECURE: 'false' }).notify.email?.secure).toBe(false)
    expect(parse({ ...SQLITE, ...SMTP, SMTP_SECURE: 'true' }).notify.email?.secure).toBe(true)
  })

  it('keeps SMTP_PASS a secret, also from SMTP_PASS_FILE', () => {
    const email = parse(
      { ...SQLITE, ...SMTP, SMTP_USER: 'alerts', SMTP_PASS_FILE: '/run/secrets/smtp' },
      () => 'smtp-file-pass\n',
    ).notify.email!
    expect(email.password?.reveal()).toBe('smtp-file-pass')
    expect(JSON.stringify(email)).not.toContain('smtp-file-pass')
    expect(scrubSecrets('AUTH failed for smtp-file-pass')).toBe('AUTH failed for ***')
  })

  it('requires MAIL_TO with SMTP_HOST, SMTP_HOST with MAIL_TO, and user and password together', () => {
    expectProblems({ ...SQLITE, SMTP_HOST: 'smtp.example.com' }, [
      { variable: 'MAIL_TO', expected: 'SMTP_HOST is set' },
    ])
    expectProblems({ ...SQLITE, MAIL_TO: 'ops@example.com' }, [
      { variable: 'SMTP_HOST', value: undefined, expected: 'MAIL_TO' },
    ])
    expectProblems({ ...SQLITE, ...SMTP, SMTP_USER: 'alerts' }, [{ variable: 'SMTP_PASS', expected: 'SMTP_USER' }])
    expectProblems({ ...SQLITE, ...SMTP, SMTP_PASS: 'x-secret' }, [{ variable: 'SMTP_USER', expected: 'SMTP_PASS' }])
  })

  it('refuses addresses that are not addresses, a bad port and NOTIFY_ON', () => {
    expectProblems(
      {
        ...SQLITE,
        ...SMTP,
        MAIL_TO: 'ops@example.com,ops.example.com',
        MAIL_FROM: 'backup',
        SMTP_PORT: 'smtp',
        NOTIFY_ON: 'sometimes',
      },
      [
        { variable: 'MAIL_TO', value: 'ops@example.com,ops.example.com', expected: 'not an address: ops.example.com' },
        { variable: 'MAIL_FROM', value: 'backup', expected: 'an email address' },
        { variable: 'SMTP_PORT', value: 'smtp', expected: 'a port number' },
        { variable: 'NOTIFY_ON', value: 'sometimes', expected: 'one of failure, always' },
      ],
    )
  })

  it('refuses NOTIFY_ON without anywhere to send to', () => {
    expectProblems({ ...SQLITE, NOTIFY_ON: 'always' }, [{ variable: 'NOTIFY_ON', expected: 'nowhere to send alerts' }])
  })

  it('treats WEBHOOK_URL as a secret and shows scheme and host only', () => {
    const url = 'https://hooks.slack.com/services/T000/B000/sekrit-token-xyz'
    const config = parse({ ...MYSQL, WEBHOOK_URL: url, NOTIFY_ON: 'always' })
    expect(config.notify.webhook?.display).toBe('https://hooks.slack.com/…')
    expect(config.notify.webhook?.url.reveal()).toBe(url)
    expect(JSON.stringify(config)).not.toContain('sekrit')
    expect(scrubSecrets(`POST ${url} failed`)).toBe('POST *** failed')
  })

  it('refuses a WEBHOOK_URL that is not http(s), without printing it', () => {
    const error = expectProblems({ ...SQLITE, WEBHOOK_URL: 'ftp://files.example.com/secret-token-abc' }, [
      { variable: 'WEBHOOK_URL', value: '***', expected: 'an http:// or https:// URL' },
    ])
    expect(error.message).not.toContain('secret-token-abc')
  })
})

describe('schedule in UTC', () => {
  it('computes the same runs as croner in the named zone UTC, and knows UTC without Intl', () => {
    for (const pattern of ['0 */6 * * *', '30 2 * * 1-5', '15 0 29 2 *', '0 0 1 * *', '*/7 * * * *']) {
      const fast = nextRuns(pattern, 'UTC', WEDNESDAY, 30).map((d) => d.toISOString())
      const named = new Cron(pattern, { timezone: 'UTC' }).nextRuns(30, WEDNESDAY).map((d) => d.toISOString())
      expect(fast).toEqual(named)
      expect(fast).toHaveLength(30)
    }
    expect(scheduleProblem('0 0 31 2 *', 'UTC', WEDNESDAY)).toBe('never fires')
    expect(isTimeZone('UTC')).toBe(true)
    expect(isTimeZone('Europe/Berlin')).toBe(true)
    expect(isTimeZone('Mars/Olympus')).toBe(false)
  })
})

describe('the schedule computed once', () => {
  it("answers a later next-run question from the configuration's sample, as croner would", () => {
    for (const [pattern, tz] of [
      ['0 */6 * * *', 'UTC'],
      ['30 2 * * 1-5', 'Europe/Berlin'],
      ['*/7 * * * *', 'UTC'],
      ['0 0 1 * *', 'America/New_York'],
    ] as const) {
      readDaemonConfig(new EnvReader({ SCHEDULE: pattern, TZ: tz }, noFiles), WEDNESDAY)
      const cron = new Cron(pattern, { timezone: tz })
      // Before, at and just around every sampled run, and past the sample's end.
      const runs = cron.nextRuns(26, WEDNESDAY).map((d) => d.getTime())
      const instants = [WEDNESDAY.getTime(), ...runs.flatMap((t) => [t - 1000, t - 1, t, t + 1, t + 999])]
      for (const t of instants) {
        const expected = cron.nextRun(new Date(t))?.toISOString()
        expect(nextRuns(pattern, tz, new Date(t), 1)[0]?.toISOString(), `${pattern} ${tz} ${t}`).toBe(expected)
      }
    }
  })
})
