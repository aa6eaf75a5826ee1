/**
 * The status API over real HTTP on a year of history: six-hourly runs of 20 databases (~29 000
 * entries) in a rotated journal, answered from memory and followed incrementally.
 */
import { appendFile, mkdtemp, rm, stat, unlink } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { appendRun } from '../../src/catalog/journal.js'
import { STATE_DIR } from '../../src/catalog/naming.js'
import { parseConfig } from '../../src/config/index.js'
import { startObservability, type Observability } from '../../src/daemon/observability.js'
import type { StatusView } from '../../src/daemon/page/api.js'
import type { HistoryEntry } from '../../src/daemon/run-history.js'
import { fakeRun } from '../support/backups.js'
import { writeRunHistory, YEAR_SOURCES as SOURCES, yearEnv } from '../support/history.js'
import { captureLogger } from '../support/logs.js'
import { freePort } from '../support/servers.js'

/** Generous: the bound holds on a loaded 2-core runner; the figures printed are the measure. */
const BOUND_MS = 200

let dir: string
let obs: Observability
let entries = 0
const base = () => `http://127.0.0.1:${obs.server!.port}`

async function timed<T>(what: string, f: () => Promise<T>): Promise<{ value: T; ms: number }> {
  const t0 = performance.now()
  const value = await f()
  const ms = performance.now() - t0
  console.log(`${what}: ${ms.toFixed(1)} ms`)
  return { value, ms }
}

/** The best of three requests (the answer, not the test's JSON parsing): other tests share the CPU. */
async function get<T>(path: string): Promise<{ value: T; ms: number }> {
  let best = Infinity
  let text = ''
  for (let i = 0; i < 3; i++) {
    const t0 = performance.now()
    text = await (await fetch(`${base()}${path}`)).text()
    best = Math.min(best, performance.now() - t0)
  }
  console.log(
    `GET ${path.replace(/since=[^&]+/, 'since=<90 days ago>')}: ${best.toFixed(1)} ms (best of 3), ${text.length} bytes`,
  )
  return { value: JSON.parse(text) as T, ms: best }
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'dbk-status-api-'))
  ;({ entries } = await writeRunHistory(dir, { databases: SOURCES, days: 365 }))
  const config = parseConfig(yearEnv(dir, await freePort()))
  obs = (
    await timed('start (the journal read once, from its end)', () =>
      startObservability(config, captureLogger().logger, { host: '127.0.0.1' }),
    )
  ).value
}, 60_000)

afterAll(async () => {
  await obs?.close()
  await rm(dir, { recursive: true, force: true })
})

describe('GET /api/status and /api/runs on a year of six-hourly runs of 20 databases', () => {
  it('holds the whole history in memory', () => {
    expect(entries).toBeGreaterThan(29_000)
    expect(obs.history.entries).toHaveLength(entries)
  })

  it(`answers each in under ${BOUND_MS} ms`, async () => {
    await fetch(`${base()}/api/status`) // the first request of a process warms the JIT
    const status = await get<StatusView>('/api/status')
    expect(status.value.sources.map((s) => s.source)).toEqual(['shop', 'crm', 'wiki', 'erp'])
    const orders = status.value.sources[0]!.databases[0]!
    expect(orders.state).toBe('ok')
    expect(orders.lastSuccess).not.toBeNull()
    expect(orders.lastBackup?.size).toBeGreaterThan(1_000_000)
    expect(orders.offsite).toBeNull()
    // What the charts ask for: 90 days of successful backups of every database.
    const since = new Date(Date.now() - 90 * 86_400_000).toISOString()
    const runs = await get<{ runs: HistoryEntry[] }>(
      `/api/runs?outcome=ok&kind=backup&limit=20000&fields=runId,source,database,startedAt,size,durationMs&since=${since}`,
    )
    expect(runs.value.runs.length).toBeGreaterThan(7000)
    const failed = await get<{ runs: HistoryEntry[] }>('/api/runs?source=crm&outcome=failed&limit=1000')
    expect(failed.value.runs.length).toBeGreaterThan(10)
    expect(
      failed.value.runs.every((r) => r.source === 'crm' && r.outcome === 'failed' && r.error?.code === 'CONNECT'),
    ).toBe(true)
    for (const t of [status, runs, failed]) expect(t.ms).toBeLessThan(BOUND_MS)
  })

  it('returns entries newest first, limited, and refuses a bad query naming what it expects', async () => {
    const body = (await (await fetch(`${base()}/api/runs?source=shop&limit=3`)).json()) as { runs: HistoryEntry[] }
    expect(body.runs).toHaveLength(3)
    expect(body.runs[0]!.finishedAt >= body.runs[1]!.finishedAt).toBe(true)
    const bad = await fetch(`${base()}/api/runs?outcome=maybe`)
    expect(bad.status).toBe(400)
    expect(await bad.json()).toEqual({ error: 'bad query: outcome: expected ok or failed, got "maybe"' })
    expect((await fetch(`${base()}/api/runs?limit=0`)).status).toBe(400)
    const fields = await fetch(`${base()}/api/runs?fields=size,password`)
    expect(fields.status).toBe(400)
    expect(((await fields.json()) as { error: string }).error).toMatch(
      /^bad query: fields: expected names among runId, .*got "password"$/,
    )
    const picked = (await (await fetch(`${base()}/api/runs?limit=1&outcome=ok&fields=source,size`)).json()) as {
      runs: object[]
    }
    expect(Object.keys(picked.runs[0]!)).toEqual(['source', 'size'])
  })

  it('answers from memory and follows the journal: new runs appear, rotated-away history stays', async () => {
    // Had a request re-read the journal, the history of runs.1.jsonl would vanish from the answers.
    await unlink(join(dir, STATE_DIR, 'runs.1.jsonl'))
    const run = fakeRun(new Date(), [
      {
        source: 'wiki',
        database: 'w3',
        ok: false,
        error: { code: 'AUTH', message: 'Access denied', hint: 'check DB03_USER' },
      },
    ])
    await appendRun(dir, run)
    const body = (await (await fetch(`${base()}/api/runs?source=wiki&outcome=failed&limit=20000`)).json()) as {
      runs: HistoryEntry[]
    }
    expect(body.runs[0]).toMatchObject({
      runId: run.runId,
      database: 'w3',
      error: { code: 'AUTH', hint: 'check DB03_USER' },
    })
    expect(body.runs.filter((r) => r.runId === run.runId)).toHaveLength(1)
    expect(obs.history.entries).toHaveLength(entries + 1)
    const status = (await (await fetch(`${base()}/api/status`)).json()) as StatusView
    const w3 = status.sources.find((s) => s.source === 'wiki')!.databases.find((d) => d.database === 'w3')!
    expect(w3.state).toBe('failing')
    expect(w3.lastFailure).toMatchObject({ code: 'AUTH', hint: 'check DB03_USER' })
    // The API found the run first: /metrics counts it all the same.
    const metrics = await (await fetch(`${base()}/metrics`)).text()
    expect(metrics).toMatch(/^dbkeeper_backups_total\{source="wiki",database="w3",outcome="failed"\} [1-9]/m)
  })

  it('reads a line written in two parts once it is whole, and follows the journal through a rotation', async () => {
    const run = fakeRun(new Date(), [{ source: 'erp', database: 'e1', size: 77 }])
    const line = `${JSON.stringify(run)}\n`
    const journal = join(dir, STATE_DIR, 'runs.jsonl')
    await appendFile(journal, line.slice(0, 40))
    expect(await obs.history.refresh()).toEqual([])
    await appendFile(journal, line.slice(40))
    expect((await obs.history.refresh()).map((r) => r.runId)).toEqual([run.runId])
    // Rotation: the current file moves to runs.1.jsonl; one more run lands there first, one after in the new file.
    const before = fakeRun(new Date(), [{ source: 'erp', database: 'e2' }])
    const after = fakeRun(new Date(), [{ source: 'erp', database: 'e3' }])
    await appendRun(dir, before)
    const { size } = await stat(journal)
    await appendRun(dir, after, { maxBytes: size, keepFiles: 4, keepDays: 400 })
    expect((await stat(join(dir, STATE_DIR, 'runs.1.jsonl'))).size).toBeGreaterThanOrEqual(size)
    expect((await obs.history.refresh()).map((r) => r.runId)).toEqual([before.runId, after.runId])
    expect(await obs.history.refresh()).toEqual([])
  })
})

describe('the page at / on the same history', () => {
  it(`renders every source and database, the history and the chart assets in under ${BOUND_MS} ms`, async () => {
    await fetch(`${base()}/`)
    let best = Infinity
    let page = ''
    for (let i = 0; i < 3; i++) {
      const t0 = performance.now()
      const res = await fetch(`${base()}/`)
      page = await res.text()
      best = Math.min(best, performance.now() - t0)
      expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8')
    }
    console.log(`GET /: ${best.toFixed(1)} ms (best of 3), ${page.length} bytes`)
    expect(best).toBeLessThan(BOUND_MS)
    expect(page).toContain('<meta name="viewport" content="width=device-width, initial-scale=1">')
    for (const [source, dbs] of Object.entries(SOURCES)) {
      expect(page).toContain(`<th scope="row" rowspan="5">${source} `)
      for (const db of dbs) expect(page).toContain(`<td>${db}</td>`)
    }
    expect(page.match(/<tr><td><time/g)).toHaveLength(100)
    // No CDN: every script and stylesheet is the daemon's own, and each is served.
    const assets = [...page.matchAll(/(?:src|href)="(\/assets\/[^"]+)"/g)].map((m) => m[1]!)
    expect(assets.sort()).toEqual(['/assets/charts.js', '/assets/uPlot.iife.min.js', '/assets/uPlot.min.css'])
    expect(page).not.toMatch(/(?:src|href)="https?:/)
    for (const a of assets) {
      const res = await fetch(`${base()}${a}`)
      expect(res.status).toBe(200)
      expect((await res.text()).length).toBeGreaterThan(500)
    }
  })

  it('filters the history by the query string (no JavaScript needed) and names a bad filter', async () => {
    const page = await (await fetch(`${base()}/?source=crm&outcome=failed`)).text()
    const rows = [...page.matchAll(/<tr><td><time[^]*?<\/tr>/g)].map((m) => m[0])
    expect(rows.length).toBeGreaterThan(10)
    for (const row of rows) expect(row).toMatch(/<td>crm<\/td>.*<td class="failing">failed<\/td>/)
    expect(page).toContain('<option value="crm" selected>crm</option>')
    const bad = await fetch(`${base()}/?outcome=maybe`)
    expect(bad.status).toBe(400)
    expect(await bad.text()).toContain('outcome: expected ok or failed, got &quot;maybe&quot;')
  })
})
