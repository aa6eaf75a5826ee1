/**
 * The status page in a real browser (Debian's chromium, driven by playwright-core; one browser for
 * the file): on a year of history of 20 databases it names every source, draws the charts and
 * filters the history; STATUS_AUTH keeps it shut without the token; and on a running daemon "back
 * up now" starts a real backup with the token and is refused without it. It also takes the
 * screenshot shown in docs/OPERATIONS.md.
 */
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { chromium, type BrowserContext, type Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parseConfig } from '../../src/config/index.js'
import { startObservability, type Observability } from '../../src/daemon/observability.js'
import { ROOT } from '../support/cli.js'
import {
  FAR_AWAY,
  killDaemons,
  LOADED_MACHINE_TIMEOUT_MS,
  startDaemon,
  until,
  type DaemonProcess,
} from '../support/daemon.js'
import { writeRunHistory, YEAR_SOURCES, yearEnv } from '../support/history.js'
import { captureLogger } from '../support/logs.js'
import { freePort } from '../support/servers.js'
import { makeSqliteDb } from '../support/sqlite.js'

const TOKEN = 'browser-token-0123456789abcdef'
const AUTH = { authorization: `Bearer ${TOKEN}` }
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
]

let dir: string
let browser: BrowserContext
let year: Observability
let daemon: DaemonProcess
let daemonPort: number
const started: string[] = []
const yearUrl = (p: string) => `http://127.0.0.1:${year.server!.port}${p}`

/** A page that sends the token with every request (the browser's own login prompt cannot be scripted). */
async function authedPage(): Promise<Page> {
  const page = await browser.newPage()
  await page.setExtraHTTPHeaders(AUTH)
  return page
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'dbk-browser-'))
  // A fresh profile per run: nothing cached from another run, nothing fetched from outside.
  browser = await chromium.launchPersistentContext(join(dir, 'profile'), {
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: CHROMIUM_ARGS,
    viewport: { width: 1100, height: 900 },
  })
  await writeRunHistory(join(dir, 'year'), { databases: YEAR_SOURCES, days: 365 })
  const config = parseConfig({ ...yearEnv(join(dir, 'year'), await freePort()), STATUS_AUTH: TOKEN })
  year = await startObservability(config, captureLogger().logger, {
    host: '127.0.0.1',
    backupNow: (source) => (started.push(source), { started: true }),
  })

  makeSqliteDb(join(dir, 'notes.db'), 50)
  makeSqliteDb(join(dir, 'wiki.db'), 50)
  await writeFile(join(dir, 'status-auth'), TOKEN)
  daemonPort = await freePort()
  daemon = startDaemon({
    BACKUP_DIR: join(dir, 'backups'),
    DB01_TYPE: 'sqlite',
    DB01_PATH: join(dir, 'notes.db'),
    DB02_TYPE: 'sqlite',
    DB02_PATH: join(dir, 'wiki.db'),
    SCHEDULE: FAR_AWAY,
    BACKUP_ON_START: 'false',
    HEALTH_PORT: String(daemonPort),
    STATUS_AUTH_FILE: join(dir, 'status-auth'),
  })
}, 120_000)

afterAll(async () => {
  await browser?.close()
  await year?.close()
  await killDaemons()
  await rm(dir, { recursive: true, force: true })
})

describe('the status page in chromium', () => {
  it('names every source and database and draws the size and duration charts from /api/runs', async () => {
    const page = await authedPage()
    const t0 = performance.now()
    const res = await page.goto(yearUrl('/'))
    expect(res?.status()).toBe(200)
    await page.waitForSelector('#chart-duration canvas')
    console.log(`page with charts drawn, 20 databases, a year of history: ${(performance.now() - t0).toFixed(0)} ms`)
    const heads = await page.locator('#databases tbody th').allInnerTexts()
    expect(heads.map((h) => h.split(' ')[0])).toEqual(Object.keys(YEAR_SOURCES))
    expect(await page.locator('#databases tbody tr').count()).toBe(20)
    for (const id of ['#chart-size', '#chart-duration']) {
      const box = await page.locator(`${id} canvas`).first().boundingBox()
      expect(box?.width, id).toBeGreaterThan(200)
      expect(box?.height, id).toBeGreaterThan(100)
      // One legend entry per database: the chart holds every series.
      expect(await page.locator(`${id} .u-legend .u-series`).count(), id).toBe(21)
    }
    // Something was drawn: the canvas is not blank (a string: the tests are typed without the DOM).
    const inked = await page.evaluate<number>(`(() => {
      const c = document.querySelector('#chart-size canvas')
      const px = c.getContext('2d').getImageData(0, 0, c.width, c.height).data
      let n = 0
      for (let i = 3; i < px.length; i += 4) if (px[i] > 0) n++
      return n
    })()`)
    expect(inked).toBeGreaterThan(1000)
    await page.close()
  })

  it('filters the run history by source and outcome with the form', async () => {
    const page = await authedPage()
    await page.goto(yearUrl('/'))
    await page.selectOption('select[name="source"]', 'crm')
    await page.selectOption('select[name="outcome"]', 'failed')
    await Promise.all([page.waitForURL(/outcome=failed/), page.click('#history-filter button')])
    expect(page.url()).toContain('source=crm')
    const rows = await page.locator('#runs tbody tr').allInnerTexts()
    expect(rows.length).toBeGreaterThan(10)
    for (const row of rows) expect(row).toMatch(/\tcrm\t.*\tfailed\t/)
    await page.close()
  })

  it('is shut without the token: 401 for the page, the API and "back up now"', async () => {
    const page = await browser.newPage()
    // The page's 401 asks for basic auth, which ends in headless chromium's login prompt (that
    // cannot be answered): the page is asked for by the browser context's own client.
    const home = await page.request.get(yearUrl('/'))
    expect(home.status()).toBe(401)
    expect(await home.text()).toContain('<h1>Login required</h1>')
    // /healthz stays open; from there the page's scripts ask for the API and "back up now".
    expect((await page.goto(yearUrl('/healthz')))?.status()).toBe(200)
    const answers = await page.evaluate(async () => [
      (await fetch('/api/runs')).status,
      (await fetch('/api/backup?source=shop', { method: 'POST' })).status,
    ])
    expect(answers).toEqual([401, 401])
    expect(started).toEqual([])
    await page.close()
  })

  it('takes the screenshot for docs/OPERATIONS.md (written there with UPDATE_SCREENSHOTS=1)', async () => {
    const page = await authedPage()
    await page.goto(yearUrl('/?limit=8'))
    await page.waitForSelector('#chart-duration canvas')
    // A test run must not change a tracked file: the docs' copy is renewed on request only.
    const path = process.env.UPDATE_SCREENSHOTS
      ? join(ROOT, 'docs', 'images', 'status-page.png')
      : join(dir, 'status-page.png')
    await page.screenshot({ path, fullPage: true })
    expect((await stat(path)).size).toBeGreaterThan(50_000)
    await page.close()
  })

  it(
    'starts a real backup on the daemon with "back up now", under the token',
    async () => {
      await daemon.waitForLog((l) => l.msg.startsWith('health server listening'), 'the health server')
      const page = await authedPage()
      await page.goto(`http://127.0.0.1:${daemonPort}/`)
      expect(await page.locator('#databases tbody th').allInnerTexts()).toEqual([
        expect.stringMatching(/^notes /),
        expect.stringMatching(/^wiki /),
      ])
      await Promise.all([page.waitForURL(/started=wiki/), page.click('form[action="/api/backup?source=wiki"] button')])
      expect(await page.textContent('[role="status"]')).toContain('A backup of wiki was started')
      await until(
        async () => {
          await page.reload()
          const rows = await page.locator('#runs tbody tr').allInnerTexts()
          return rows.some((r) => /\twiki\t.*manual\tok\t/.test(r)) && rows
        },
        'the backup of wiki in the page history',
        { context: daemon.output },
      )
      // Only the source asked for.
      expect(await page.locator('#runs tbody tr', { hasText: 'notes' }).count()).toBe(0)
      await page.close()
    },
    LOADED_MACHINE_TIMEOUT_MS,
  )
})
