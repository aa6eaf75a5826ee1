/**
 * Issue 10, secrets: everything a dbkeeper installation shows or writes, searched for its
 * secrets. One volume with a MariaDB user and a PostgreSQL role whose passwords are full of
 * special characters, an SQLite file, S3 behind a fault-injecting proxy (with its own key pair),
 * SMTP with a password and a webhook whose URL carries a token. Then every command an operator
 * runs, good and bad: backups (S3 flaky, then down), wrong passwords, passwords pasted into the
 * wrong variables, verify, list, status, config, check, prune, restore, fetch, a dry run, and the
 * daemon. While all that runs, every process's command line on the machine is sampled (what `ps`
 * shows) and the environment of every tool dbkeeper starts is read.
 *
 * Each kind of evidence is one trial: CLI output, daemon log, alerts received, files on the
 * volume (manifests, journal, checksums, the dumps themselves), objects in the bucket, /proc.
 * (The other files of this suite check their own runs the same way.)
 */
import { randomBytes } from 'node:crypto'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { DUMMY_ACCOUNT } from 's3rver/lib/models/account.js'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import { runCli, type CliResult } from '../support/cli.js'
import { killDaemons, startDaemon, until } from '../support/daemon.js'
import { startMailServer, type MailServer } from '../support/mail.js'
import { BUCKET, startS3, type TestS3 } from '../support/s3.js'
import { freePort, mysqlAdmin, pgAdmin, uniqueName } from '../support/servers.js'
import { makeSqliteDb } from '../support/sqlite.js'
import { trial } from '../support/faults/trials.js'
import { Evidence } from '../support/faults/secrets-sampler.js'
import { startFaultProxy, type FaultProxy } from '../support/faults/s3-fault-proxy.js'
import { startHook, type Hook } from '../support/webhook-receiver.js'

const FAULT = 'secret leak check'
const tag = randomBytes(4).toString('hex')
const MARIA_PASS = `m "pw" 'x' $HOME \\n #;= ${tag} `
const PG_PASS = ` p:pw\\:'q' "r" $(id) ${tag}`
const WRONG_PASS = `wrong-${tag}-"pw"`
const S3_KEY_ID = `AKIASECRETS${tag.toUpperCase()}`
const S3_SECRET = `s3/Sec+ret=${tag}/Zq`
const SMTP_PASS = `smtp-${tag} "x" \\ y`
const HOOK_TOKEN = `hook-token-${tag}`
const SECRETS = [
  MARIA_PASS,
  MARIA_PASS.trim(),
  PG_PASS,
  PG_PASS.trim(),
  WRONG_PASS,
  S3_KEY_ID,
  S3_SECRET,
  SMTP_PASS,
  HOOK_TOKEN,
]
DUMMY_ACCOUNT.createKeyPair(S3_KEY_ID, S3_SECRET)

const db = uniqueName('sec')
const mUser = uniqueName('sec_m')
const pRole = uniqueName('sec_p')
let dir: string
let backupDir: string
let env: Record<string, string>
let s3: TestS3
let proxy: FaultProxy
let hook: Hook
let mail: MailServer

/** One Evidence per kind; /proc is sampled by `proc` during everything. */
const cli = new Evidence()
const daemonLog = new Evidence()
const alerts = new Evidence()
const volume = new Evidence()
const bucket = new Evidence()
const proc = new Evidence()

async function run(args: string[], extra: Record<string, string> = {}): Promise<CliResult> {
  const r = await runCli(args, { ...env, ...extra }, { timeoutMs: 180_000 })
  cli.add(`dbkeeper ${args.join(' ')}`, r.all)
  return r
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'dbk-faults-secrets-'))
  backupDir = join(dir, 'backups')
  const maria = await mysqlAdmin(inject('mariadb'))
  try {
    await maria.query(`CREATE DATABASE \`${db}\``)
    // Big enough (~4 MB of SQL) for the dump tools to live a few sampling intervals.
    await maria.query(
      `USE \`${db}\`; CREATE TABLE t (id INT PRIMARY KEY, s VARCHAR(80)); INSERT INTO t SELECT seq, CONCAT('row ', seq, ' ', MD5(seq)) FROM seq_1_to_50000`,
    )
    await maria.query("CREATE USER ?@'%' IDENTIFIED BY ?", [mUser, MARIA_PASS])
    await maria.query(`GRANT ALL PRIVILEGES ON \`${db}\`.* TO ?@'%'`, [mUser])
    // An in-place restore loads beside the database (docs/RESTORE.md, Privileges).
    await maria.query(`GRANT ALL PRIVILEGES ON \`${db.replace(/_/g, '\\_')}\\_dbk%\`.* TO ?@'%'`, [mUser])
    await maria.query("GRANT SELECT ON mysql.proc TO ?@'%'", [mUser])
  } finally {
    await maria.end()
  }
  const pg = await pgAdmin(inject('postgres'))
  try {
    await pg.query(`CREATE ROLE ${pRole} LOGIN CREATEDB PASSWORD '${PG_PASS.replace(/'/g, "''")}'`)
    await pg.query(`CREATE DATABASE ${pRole} OWNER ${pRole}`)
  } finally {
    await pg.end()
  }
  const own = await pgAdmin(inject('postgres'), pRole)
  try {
    await own.query(
      `SET ROLE ${pRole}; CREATE TABLE t (id INT PRIMARY KEY, s TEXT); INSERT INTO t SELECT g, md5(g::text) FROM generate_series(1, 50000) g`,
    )
  } finally {
    await own.end()
  }
  makeSqliteDb(join(dir, 'app.db'), 300)
  s3 = await startS3()
  proxy = await startFaultProxy(s3.port, BUCKET)
  hook = await startHook(`T0SEC/${HOOK_TOKEN}`)
  await hook.set('up')
  mail = await startMailServer({ user: 'alerts', password: SMTP_PASS })
  const passFile = join(dir, 'pg_pass')
  await writeFile(passFile, `${PG_PASS}\n`, { mode: 0o600 })
  const mi = inject('mariadb')
  const pi = inject('postgres')
  env = {
    BACKUP_DIR: backupDir,
    TZ: 'UTC',
    KEEP_LAST: '50',
    DB01_TYPE: 'mariadb',
    DB01_HOST: mi.host,
    DB01_PORT: String(mi.port),
    DB01_USER: mUser,
    DB01_PASS: MARIA_PASS,
    DB01_NAME: db,
    DB01_LABEL: 'maria',
    DB02_TYPE: 'postgres',
    DB02_HOST: pi.host,
    DB02_PORT: String(pi.port),
    DB02_USER: pRole,
    DB02_PASS_FILE: passFile,
    DB02_NAME: pRole,
    DB02_LABEL: 'pg',
    DB03_TYPE: 'sqlite',
    DB03_PATH: join(dir, 'app.db'),
    DB03_LABEL: 'app',
    S3_BUCKET: BUCKET,
    S3_ENDPOINT: proxy.endpoint,
    S3_PREFIX: 'secrets',
    AWS_ACCESS_KEY_ID: S3_KEY_ID,
    AWS_SECRET_ACCESS_KEY: S3_SECRET,
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    SMTP_HOST: '127.0.0.1',
    SMTP_PORT: String(mail.port),
    SMTP_SECURE: 'false',
    SMTP_USER: 'alerts',
    SMTP_PASS,
    MAIL_FROM: 'backup@example.com',
    MAIL_TO: 'ops@example.com',
    WEBHOOK_URL: hook.url,
  }
  proc.startSampling(50)
}, 180_000)

afterAll(async () => {
  proc.stopSampling()
  await killDaemons()
  await proxy?.stop()
  await hook?.close()
  await mail?.close()
  await s3?.destroy()
  const maria = await mysqlAdmin(inject('mariadb')).catch(() => undefined)
  await maria?.query(`DROP DATABASE IF EXISTS \`${db}\``).catch(() => undefined)
  await maria?.query("DROP USER IF EXISTS ?@'%'", [mUser]).catch(() => undefined)
  await maria?.end()
  const pg = await pgAdmin(inject('postgres')).catch(() => undefined)
  await pg?.query(`DROP DATABASE IF EXISTS ${pRole} WITH (FORCE)`).catch(() => undefined)
  await pg?.query(`DROP ROLE IF EXISTS ${pRole}`).catch(() => undefined)
  await pg?.end()
  if (dir) await rm(dir, { recursive: true, force: true })
})

describe('no secret anywhere (fault injection)', () => {
  it('runs every command, good and bad, with /proc sampled throughout', async () => {
    // S3 flaky (retried), then down (alerted), then back (caught up).
    proxy.setRule((q) =>
      q.attempt === 0 && q.method === 'PUT' ? { kind: 'status', status: 500, code: 'InternalError' } : { kind: 'pass' },
    )
    const first = await run(['backup', '--json'])
    expect(first.exitCode, first.all).toBe(0)
    proxy.setRule(() => ({ kind: 'status', status: 503, code: 'ServiceUnavailable' }))
    const down = await run(['backup', '--json'])
    expect(down.exitCode, down.all).toBe(1)
    proxy.setRule(() => ({ kind: 'pass' }))
    expect((await run(['backup', '--json'])).exitCode).toBe(0)
    // Wrong passwords: refused, alerted, and the wrong password is a secret too.
    const wrong = await run(['backup', '--json', 'maria', 'pg'], {
      DB01_PASS: WRONG_PASS,
      DB02_PASS_FILE: '',
      DB02_PASS: WRONG_PASS,
    })
    expect(wrong.exitCode, wrong.all).toBe(1)
    expect(wrong.all).toMatch(/AUTH/)
    // Passwords pasted into the wrong variables: refused without being shown.
    const misplaced: Record<string, string>[] = [
      { DB01_PORT: MARIA_PASS },
      { DB01_PASSWORD: MARIA_PASS },
      { DB02_PORT: PG_PASS },
      { HEALTH_PORT: S3_SECRET },
      { SMTP_PORT: SMTP_PASS },
      { COMPRESSION: hook.url },
      { DB03_EXTRA_OPTS: `--password=${MARIA_PASS}` },
    ]
    for (const extra of misplaced) {
      const r = await run(['backup'], extra)
      expect(r.exitCode, r.all).toBe(2)
    }
    for (const args of [
      ['list'],
      ['list', '--json', '--verify'],
      ['verify', '--json'],
      ['status'],
      ['status', '--json'],
      ['config'],
      ['config', '--json'],
      ['check'],
      ['check', '--json'],
      ['prune', '--dry-run'],
      ['backup', '--dry-run'],
    ]) {
      const r = await run(args)
      expect(r.exitCode, `${args.join(' ')}:\n${r.all}`).toBe(0)
    }
    expect((await run(['restore', 'latest', '--source', 'maria', '--yes'])).exitCode).toBe(0)
    expect((await run(['restore', 'latest', '--source', 'pg', '--yes'])).exitCode).toBe(0)
    expect((await run(['verify', '--drill', '--source', 'app'])).exitCode).toBe(0)
    expect((await run(['fetch', 'latest', '--source', 'maria', '--to', join(dir, 'fetched.sql')])).exitCode).toBe(0)

    // The daemon: a run at start and its alert (NOTIFY_ON=always), then SIGTERM.
    const daemon = startDaemon({
      ...env,
      SCHEDULE: '0 0 1 1 *',
      BACKUP_ON_START: 'true',
      HEALTH_PORT: String(await freePort()),
      NOTIFY_ON: 'always',
    })
    await until(() => daemon.logs().some((l) => l.msg.startsWith('alert sent: email')), "the daemon's first alert", {
      timeoutMs: 120_000,
      context: daemon.output,
    })
    daemon.signal('SIGTERM')
    expect(await daemon.exited, daemon.output().slice(-2000)).toEqual({ exitCode: 0, signal: undefined })
    daemonLog.add('daemon output', daemon.output())
    proc.stopSampling()

    for (const m of mail.messages) {
      alerts.add('mail (raw)', m.raw)
      alerts.add('mail (decoded)', `${m.subject}\n${m.headers}\n${m.text}`)
    }
    for (const body of hook.raw) alerts.add('webhook body', body)
    // The volume, and the dump fetched from S3 (not the test's own secret file beside them).
    await volume.addFiles(backupDir)
    volume.add('fetched dump', await readFile(join(dir, 'fetched.sql')))
    // Not s3rver's record of unfinished uploads: it keeps every request header, Authorization included.
    await bucket.addFiles(join(s3.dir, BUCKET), /^\._S3rver_uploads\//)
    expect(mail.messages.length).toBeGreaterThanOrEqual(3)
    expect(hook.raw.length).toBeGreaterThanOrEqual(3)
  }, 300_000)

  const kinds: [string, () => Evidence, () => void][] = [
    ['CLI output of every command (stdout and stderr)', () => cli, () => expect(cli.size).toBeGreaterThan(25)],
    ['daemon log', () => daemonLog, () => expect(daemonLog.size).toBe(1)],
    [
      'alerts received: mails (raw and decoded), webhook bodies',
      () => alerts,
      () => expect(alerts.size).toBeGreaterThan(5),
    ],
    [
      'files on the volume: manifests, journal, checksums, the dumps',
      () => volume,
      () => expect(volume.size).toBeGreaterThan(20),
    ],
    ['objects and metadata in the bucket', () => bucket, () => expect(bucket.size).toBeGreaterThan(10)],
    [
      '/proc command lines of every process, environments of the tools',
      () => proc,
      () => {
        expect(proc.samples).toBeGreaterThan(20)
        // The sampler did see the tools run (and read their environment).
        for (const tool of [/^(\S*\/)?(mysqldump|mariadb-dump|mariadb|mysql) /, /^(\S*\/)?(pg_dump|psql|pg_restore) /])
          expect(
            proc.ourCmdlines().some((c) => tool.test(c)),
            String(tool),
          ).toBe(true)
        expect(proc.toolEnvCount).toBeGreaterThan(0)
      },
    ],
  ]
  it.each(kinds)('%s: no secret', async (point, evidence, enough) => {
    await trial(FAULT, point, async () => {
      enough()
      expect(evidence().leaks(SECRETS)).toEqual([])
      return 0
    })
  })
})
