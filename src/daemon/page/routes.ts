/**
 * The status page's routes on the health server: `/` (the page), `/assets/*` (its scripts and
 * stylesheet), `/api/status` and `/api/runs` (JSON). Every answer comes from the in-memory history
 * after one catch-up with the journal.
 */
import type { IncomingMessage } from 'node:http'
import type { Reply } from '../http.js'
import type { RunHistory } from '../run-history.js'
import { parseRunsQuery, selectRuns, statusView } from './api.js'
import { assetReply } from './assets.js'
import { esc, frame } from './html.js'
import { renderPage } from './render.js'

export interface PageOptions {
  history: RunHistory
  /** Every configured source's label. */
  sources: readonly string[]
}

/** History rows on the page unless `?limit=` asks for more. */
const PAGE_ROWS = 100
const JSON_TYPE = 'application/json'
const HTML_TYPE = 'text/html; charset=utf-8'

export function json(status: number, value: unknown): Reply {
  return { status, type: JSON_TYPE, body: `${JSON.stringify(value)}\n` }
}

export function html(status: number, title: string, message: string): Reply {
  return { status, type: HTML_TYPE, body: frame(title, `<h1>${esc(title)}</h1><p>${esc(message)}</p>`) }
}

export function pageRoutes(opts: PageOptions): (req: IncomingMessage, url: URL) => Promise<Reply | undefined> {
  return async (req, url) => {
    const path = url.pathname
    if (path.startsWith('/assets/')) return assetReply(path)
    // Browsers ask for it on every page: an empty answer rather than a 404 in their console.
    if (path === '/favicon.ico') return { status: 204, type: 'image/x-icon', body: Buffer.alloc(0) }
    if (path !== '/' && path !== '/api/status' && path !== '/api/runs') return undefined
    if (req.method !== 'GET' && req.method !== 'HEAD')
      return { ...json(405, { error: 'method not allowed: use GET' }), headers: { allow: 'GET, HEAD' } }
    await opts.history.refresh()
    if (path === '/api/status') return json(200, statusView(opts.history.status(), opts.history.entries))
    const q = parseRunsQuery(url.searchParams)
    if (path === '/api/runs') {
      if ('error' in q) return json(400, { error: `bad query: ${q.error}` })
      // Strings of entries only, each scrubbed when it entered the history (run-history.ts).
      return { ...json(200, { runs: selectRuns(opts.history.entries, q) }), scrubbed: true }
    }
    if ('error' in q) return html(400, 'Bad filter', `${q.error}. Remove it from the address, or pick one in the form.`)
    if (!url.searchParams.has('limit')) q.limit = PAGE_ROWS
    const now = new Date()
    const body = renderPage({
      view: statusView(opts.history.status(now), opts.history.entries),
      runs: selectRuns(opts.history.entries, q),
      query: q,
      sources: opts.sources,
      canBackup: false,
      now,
    })
    return { status: 200, type: HTML_TYPE, body }
  }
}
