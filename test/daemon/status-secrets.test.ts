/**
 * Nothing secret reaches the status page or its API: with passwords, S3 keys, an SMTP password, a
 * webhook URL, a ping URL and the status token configured — and journal lines whose error texts
 * hold them (a line written before a secret was configured, a tool that echoed one) — no response
 * of the health server holds any of them.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { appendRun } from '../../src/catalog/journal.js'
import { parseConfig } from '../../src/config/index.js'
import { startObservability, type Observability } from '../../src/daemon/observability.js'
import { fakeRun, writeFakeBackup } from '../support/backups.js'
import { captureLogger } from '../support/logs.js'
import { freePort } from '../support/servers.js'

const SECRETS = {
  DB01_PASS: 'db-password-Zq81xv',
  DB02_PASS: 'another"quoted\\pass',
  AWS_SECRET_ACCESS_KEY: 'aws-secret-key-Yy73kLm0',
  SMTP_PASS: 'smtp-pass-Hn44',
  STATUS_AUTH: 'status-token-Ww9911aabbccdd',
}
const WEBHOOK = 'https://hooks.example.com/services/T000/B000/hooktokenXYZ123'
const PING = 'https://hc-ping.example.com/0f1e2d3c-pingcheck-uuid'
const FORBIDDEN = [
  ...Object.values(SECRETS),
  JSON.stringify(SECRETS.DB02_PASS).slice(1, -1),
  // As the HTML page would escape it.
  'another&quot;quoted',
  WEBHOOK,
  PING,
  'hooktokenXYZ123',
  '0f1e2d3c-pingcheck-uuid',
]

let dir: string
let obs: Observability

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'dbk-status-secrets-'))
  const config = parseConfig({
    BACKUP_DIR: dir,
    HEALTH_PORT: String(await freePort()),
    DB01_TYPE: 'mysql',
    DB01_HOST: 'shop',
    DB01_USER: 'backup',
    DB01_PASS: SECRETS.DB01_PASS,
    DB01_NAME: 'orders',
    DB02_TYPE: 'postgres',
    DB02_HOST: 'crm',
    DB02_USER: 'backup',
    DB02_PASS: SECRETS.DB02_PASS,
    DB02_NAME: 'crm',
    S3_BUCKET: 'backups',
    S3_ENDPOINT: 'http://127.0.0.1:9',
    AWS_ACCESS_KEY_ID: 'AKIAEXAMPLE',
    AWS_SECRET_ACCESS_KEY: SECRETS.AWS_SECRET_ACCESS_KEY,
    SMTP_HOST: 'smtp.example.com',
    SMTP_USER: 'alerts',
    SMTP_PASS: SECRETS.SMTP_PASS,
    MAIL_TO: 'ops@example.com',
    WEBHOOK_URL: WEBHOOK,
    PING_URL: PING,
    STATUS_AUTH: SECRETS.STATUS_AUTH,
  })
  const now = new Date()
  await writeFakeBackup(dir, 'shop', 'orders', new Date(now.getTime() - 60_000))
  await appendRun(
    dir,
    fakeRun(now, [
      {
        source: 'shop',
        database: 'orders',
        id: 'orders_1',
        size: 1234,
        offsite: { ok: false, error: `signature mismatch for ${SECRETS.AWS_SECRET_ACCESS_KEY}`, hint: `not ${PING}` },
      },
      {
        source: 'crm',
        database: 'crm',
        ok: false,
        error: {
          code: 'AUTH',
          message: `password authentication failed: "${SECRETS.DB02_PASS}" and ${SECRETS.DB01_PASS}`,
          hint: `alert went to ${WEBHOOK} with ${SECRETS.SMTP_PASS}; token ${SECRETS.STATUS_AUTH}`,
        },
      },
    ]),
  )
  obs = await startObservability(config, captureLogger().logger, {
    host: '127.0.0.1',
    backupNow: () => ({ started: true }),
  })
})

afterAll(async () => {
  await obs?.close()
  await rm(dir, { recursive: true, force: true })
})

describe('the status page and API with every kind of secret configured', () => {
  it('never answer with a secret, on any path, with or without the token', async () => {
    const base = `http://127.0.0.1:${obs.server!.port}`
    const auth = { authorization: `Bearer ${SECRETS.STATUS_AUTH}` }
    const requests: [string, RequestInit][] = [
      ...[
        '/',
        '/?outcome=failed',
        '/?source=crm',
        '/api/status',
        '/api/runs',
        '/api/runs?outcome=failed',
        '/api/runs?limit=x',
      ].map((p): [string, RequestInit] => [p, { headers: auth }]),
      ...['/', '/api/status', '/api/runs', '/healthz', '/metrics', '/assets/charts.js', '/nope'].map(
        (p): [string, RequestInit] => [p, {}],
      ),
      ['/api/backup?source=nope', { method: 'POST', headers: auth }],
      ['/api/backup?source=shop', { method: 'POST' }],
    ]
    let checked = 0
    for (const [path, init] of requests) {
      const res = await fetch(`${base}${path}`, init)
      const text = `${[...res.headers].map(([k, v]) => `${k}: ${v}`).join('\n')}\n${await res.text()}`
      for (const secret of FORBIDDEN) expect(text, `${path} (${res.status})`).not.toContain(secret)
      checked += 1
    }
    expect(checked).toBe(requests.length)
    // The texts are there, masked: the scrub worked rather than the texts never arriving.
    const runs = await (await fetch(`${base}/api/runs?source=crm`, { headers: auth })).text()
    expect(runs).toContain('password authentication failed')
    expect(runs).toContain('***')
    const page = await (await fetch(`${base}/`, { headers: auth })).text()
    expect(page).toContain('signature mismatch for ***')
  })
})
