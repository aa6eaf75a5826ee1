/**
 * The status page's routes on the health server: `/` (the page), `/assets/*` (its scripts and
 * stylesheet), `/api/status` and `/api/runs` (JSON). Every answer comes from the in-memory history
 * after one catch-up with the journal.
 */
import type { IncomingMessage } from 'node:http'
import type { StatusAuth } from '../../config/daemon.js'
import type { Reply } from '../http.js'
import type { HistoryEntry, RunHistory } from '../run-history.js'
import { parseRunsQuery, selectRuns, statusView } from './api.js'
import { assetReply } from './assets.js'
import { API_CHALLENGE, authorized, CHALLENGE, sameOrigin } from './auth.js'
import { esc, frame } from './html.js'
import { renderPage } from './render.js'
import type { PitrReading } from '../pitr-status.js'

export type BackupNowResult = { started: true } | { started: false; reason: string }

export interface PageOptions {
  history: RunHistory
  /** Every configured source's label. */
  sources: readonly string[]
  /** STATUS_AUTH: undefined leaves the page open and read-only. */
  auth?: StatusAuth
  /** Starts a run of one source under the volume lock, like a scheduled one (the daemon's). */
  backupNow?: (source: string) => BackupNowResult
  /** The DBnn_PITR archives' state as of now (pitr-status.ts); none without a PITR source. */
  pitr?: (now: Date) => Promise<readonly PitrReading[]>
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
    if (path !== '/' && path !== '/api/status' && path !== '/api/runs' && path !== '/api/backup') return undefined
    if (opts.auth && !authorized(req, opts.auth)) {
      const reply =
        path === '/'
          ? html(401, 'Login required', 'This status page is protected by STATUS_AUTH: log in with its token or user.')
          : json(401, {
              error: 'unauthorized: send the STATUS_AUTH token (Authorization: Bearer …) or its user:password',
            })
      return { ...reply, headers: { 'www-authenticate': path === '/' ? CHALLENGE : API_CHALLENGE } }
    }
    if (path === '/api/backup') return backupNow(req, url, opts)
    if (req.method !== 'GET' && req.method !== 'HEAD')
      return { ...json(405, { error: 'method not allowed: use GET' }), headers: { allow: 'GET, HEAD' } }
    await opts.history.refresh()
    const q = parseRunsQuery(url.searchParams)
    if (path === '/api/runs') {
      if ('error' in q) return json(400, { error: `bad query: ${q.error}` })
      // Strings of entries only, each scrubbed when it entered the history (run-history.ts).
      return { ...json(200, { runs: selectRuns(opts.history.entries, q) }), scrubbed: true }
    }
    // The archives are read from the volume: only for the answers that show them, not per /api/runs.
    const now = new Date()
    const status = opts.history.status(now, (await opts.pitr?.(now)) ?? [])
    if (path === '/api/status') return json(200, statusView(status, opts.history.entries))
    if ('error' in q) return html(400, 'Bad filter', `${q.error}. Remove it from the address, or pick one in the form.`)
    if (!url.searchParams.has('limit')) q.limit = PAGE_ROWS
    const body = renderPage({
      view: statusView(status, opts.history.entries),
      runs: selectRuns(opts.history.entries, { ...q, fields: undefined }) as HistoryEntry[],
      query: q,
      sources: opts.sources,
      canBackup: opts.auth !== undefined && opts.backupNow !== undefined,
      ...(url.searchParams.get('started')
        ? {
            notice: `A backup of ${url.searchParams.get('started')} was started: reload in a moment to see it in the history.`,
          }
        : {}),
      now,
    })
    return { status: 200, type: HTML_TYPE, body }
  }
}

/** `POST /api/backup?source=<label>`: only with STATUS_AUTH set (checked above), from this page's origin. */
function backupNow(req: IncomingMessage, url: URL, opts: PageOptions): Reply {
  const browser = (req.headers.accept ?? '').includes('text/html')
  const answer = (status: number, message: string, extra: Record<string, unknown> = {}): Reply =>
    browser
      ? html(status, status < 300 ? 'Backup started' : 'Backup not started', message)
      : json(status, status < 300 ? { ...extra, message } : { error: message })
  if (req.method !== 'POST') return { ...answer(405, 'method not allowed: use POST'), headers: { allow: 'POST' } }
  if (!opts.auth || !opts.backupNow)
    return answer(403, 'the status page is read-only: set STATUS_AUTH_FILE to allow "back up now"')
  if (!sameOrigin(req)) return answer(403, 'refused: the request came from another site')
  const source = url.searchParams.get('source') ?? ''
  if (!opts.sources.includes(source))
    return answer(404, `unknown source "${source}": configured sources are ${opts.sources.join(', ')}`)
  const result = opts.backupNow(source)
  if (!result.started) return answer(409, result.reason)
  if (browser)
    return {
      status: 303,
      type: 'text/plain; charset=utf-8',
      body: '',
      headers: { location: `/?started=${encodeURIComponent(source)}` },
    }
  return answer(202, `a backup of ${source} was started`, { source })
}
