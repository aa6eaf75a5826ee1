/**
 * The status page's routes on the health server: `/api/status` and `/api/runs` (JSON). Every
 * answer comes from the in-memory history after one catch-up with the journal.
 */
import type { IncomingMessage } from 'node:http'
import type { Reply } from '../http.js'
import type { RunHistory } from '../run-history.js'
import { parseRunsQuery, selectRuns, statusView } from './api.js'

export interface PageOptions {
  history: RunHistory
}

const JSON_TYPE = 'application/json'

export function json(status: number, value: unknown): Reply {
  return { status, type: JSON_TYPE, body: `${JSON.stringify(value)}\n` }
}

export function pageRoutes(opts: PageOptions): (req: IncomingMessage, url: URL) => Promise<Reply | undefined> {
  return async (req, url) => {
    const path = url.pathname
    if (path !== '/api/status' && path !== '/api/runs') return undefined
    if (req.method !== 'GET' && req.method !== 'HEAD')
      return { ...json(405, { error: 'method not allowed: use GET' }), headers: { allow: 'GET, HEAD' } }
    await opts.history.refresh()
    if (path === '/api/status') return json(200, statusView(opts.history.status(), opts.history.entries))
    const q = parseRunsQuery(url.searchParams)
    if ('error' in q) return json(400, { error: `bad query: ${q.error}` })
    // Strings of entries only, each scrubbed when it entered the history (run-history.ts).
    return { ...json(200, { runs: selectRuns(opts.history.entries, q) }), scrubbed: true }
  }
}
