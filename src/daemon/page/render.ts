/**
 * The status page as one server-rendered HTML document: the state of every database, the run
 * history (filtered by the query string, so the filter works without JavaScript) and the place
 * for the charts, which charts.ts draws in the browser from /api/runs when JavaScript runs.
 */
import type { HistoryEntry } from '../run-history.js'
import type { DatabaseView, RunsQuery, StatusView } from './api.js'
import { CHART_ASSETS } from './assets.js'
import { ago, bytes, esc, frame, seconds, when } from './html.js'

export interface PageModel {
  view: StatusView
  runs: readonly HistoryEntry[]
  query: RunsQuery
  /** Every configured source's label, for the history filter. */
  sources: readonly string[]
  /** "Back up now" buttons: only when STATUS_AUTH protects the page. */
  canBackup: boolean
  /** One line shown above the table, e.g. after "back up now". */
  notice?: string
  now: Date
}

export function renderPage(m: PageModel): string {
  const v = m.view
  const body = [
    `<h1>dbkeeper status</h1>`,
    `<div class="banner ${v.healthy ? 'ok' : 'bad'}">${esc(v.reason)}</div>`,
    m.notice ? `<p class="banner ok" role="status">${esc(m.notice)}</p>` : '',
    `<p class="muted">Checked ${when(v.checkedAt)} · next scheduled run ${when(v.nextRun)}${
      v.nextRun ? ` (${esc(ago(v.nextRun, m.now))})` : ''
    } · HEALTH_MAX_AGE ${esc(seconds(v.maxAgeSeconds * 1000))}${
      v.lastDrill ? ` · last drill run ${when(v.lastDrill.finishedAt)} ${v.lastDrill.ok ? 'passed' : 'FAILED'}` : ''
    }</p>`,
    databasesTable(m),
    `<h2>Size and duration, last 90 days</h2>`,
    `<div id="charts" data-days="90"><noscript><p class="muted">The charts need JavaScript; the tables do not.</p></noscript>`,
    `<div class="chart" id="chart-size" aria-label="backup size per database"></div>`,
    `<div class="chart" id="chart-duration" aria-label="backup duration per database"></div></div>`,
    historySection(m),
    `<p class="muted">JSON: <a href="/api/status">/api/status</a> · <a href="/api/runs">/api/runs</a> · <a href="/healthz">/healthz</a> · <a href="/metrics">/metrics</a></p>`,
  ].join('\n')
  const head = `<link rel="stylesheet" href="${CHART_ASSETS.css}">
<script defer src="${CHART_ASSETS.uplot}"></script>
<script defer src="${CHART_ASSETS.charts}"></script>`
  return frame(`dbkeeper status — ${v.healthy ? 'healthy' : 'UNHEALTHY'}`, body, head)
}

function databasesTable(m: PageModel): string {
  const rows: string[] = []
  for (const s of m.view.sources) {
    const button = m.canBackup
      ? `<form class="inline" method="post" action="/api/backup?source=${encodeURIComponent(s.source)}"><button type="submit" name="source" value="${esc(s.source)}">Back up now</button></form>`
      : ''
    if (s.databases.length === 0)
      rows.push(
        `<tr><th scope="row">${esc(s.source)} <span class="muted">${esc(s.id)}</span><br>${button}</th><td colspan="7" class="stale">no database known yet (no run has listed them)</td></tr>`,
      )
    s.databases.forEach((d, i) => {
      const head =
        i === 0
          ? `<th scope="row" rowspan="${s.databases.length}">${esc(s.source)} <span class="muted">${esc(s.id)} · ${esc(s.engine)}</span><br>${button}</th>`
          : ''
      rows.push(`<tr>${head}${databaseCells(d, m)}</tr>`)
    })
  }
  return `<div class="wrap"><table id="databases">
<thead><tr><th>Source</th><th>Database</th><th>State</th><th>Last success</th><th>Last backup</th><th>Last failure</th><th>Off-site</th><th>Last drill</th><th>Point in time</th></tr></thead>
<tbody>
${rows.join('\n')}
</tbody></table></div>`
}

function databaseCells(d: DatabaseView, m: PageModel): string {
  const limit = m.view.maxAgeSeconds
  const success = d.lastSuccess
    ? `${when(d.lastSuccess.at)}<br><span class="${d.lastSuccess.ageSeconds > limit ? 'stale' : 'muted'}">${esc(
        ago(d.lastSuccess.at, m.now),
      )} (limit ${esc(seconds(limit * 1000))})</span>`
    : '<span class="stale">never</span>'
  const last = d.lastBackup ? `${esc(bytes(d.lastBackup.size))} in ${esc(seconds(d.lastBackup.durationMs))}` : '—'
  // A failure older than the last success is history: shown, but not as loud as a current one.
  const failure = d.lastFailure
    ? `${d.failing ? '' : '<span class="muted">'}${when(d.lastFailure.at)} <strong>${esc(d.lastFailure.code)}</strong>: ${esc(d.lastFailure.message)}${
        d.lastFailure.hint ? `<br><span class="hint">Next step: ${esc(d.lastFailure.hint)}</span>` : ''
      }${d.failing ? '' : '</span>'}`
    : '—'
  const offsite = d.offsite
    ? d.offsite.ok
      ? `<span class="ok">copied</span>${targetsOf(d.offsite)} ${when(d.offsite.at)}`
      : `<span class="failing">failed</span> ${when(d.offsite.at)}: ${esc(d.offsite.error ?? '')}${
          d.offsite.hint ? `<br><span class="hint">Next step: ${esc(d.offsite.hint)}</span>` : ''
        }`
    : '<span class="muted">not configured</span>'
  const drill = d.lastDrill
    ? `${d.lastDrill.ok ? '<span class="ok">passed</span>' : '<span class="failing">failed</span>'} ${when(d.lastDrill.at)}${
        d.lastDrill.ok ? '' : `: ${esc(d.lastDrill.code ?? '')} ${esc(d.lastDrill.message ?? '')}`
      }${d.lastDrill.hint ? `<br><span class="hint">Next step: ${esc(d.lastDrill.hint)}</span>` : ''}`
    : '<span class="muted">none</span>'
  return `<td>${esc(d.database)}</td><td class="${d.state}">${d.state}</td><td>${success}</td><td>${last}</td><td>${failure}</td><td>${offsite}</td><td>${drill}</td><td>${pitrCell(d)}</td>`
}

/** DBnn_PITR: the window a restore to a time can reach, and how far the archive is behind. */
function pitrCell(d: DatabaseView): string {
  const p = d.pitr
  if (!p) return '<span class="muted">off</span>'
  const lag = p.lagSeconds === null ? 'nothing archived yet' : `${p.lagSeconds} s behind (limit ${p.maxLagSeconds} s)`
  const window = p.window ? `${when(p.window.from)} → ${when(p.window.to)}` : 'no window yet'
  const gaps = p.ranges.length > 1 ? `<br><span class="stale">${p.ranges.length - 1} gap(s)</span>` : ''
  return `<span class="${p.healthy ? 'ok' : 'failing'}">${lag}</span><br>${window}${gaps}`
}

function historySection(m: PageModel): string {
  const q = m.query
  const option = (value: string, label: string, selected: boolean) =>
    `<option value="${esc(value)}"${selected ? ' selected' : ''}>${esc(label)}</option>`
  const sources = [option('', 'all sources', !q.source), ...m.sources.map((s) => option(s, s, q.source === s))]
  const outcomes = [
    option('', 'any outcome', !q.outcome),
    option('ok', 'ok', q.outcome === 'ok'),
    option('failed', 'failed', q.outcome === 'failed'),
  ]
  const rows = m.runs.map(
    (e) =>
      `<tr><td>${when(e.finishedAt)}</td><td>${esc(e.source)}</td><td>${esc(e.database)}</td><td>${esc(e.kind)} <span class="muted">${esc(e.trigger)}</span></td><td class="${e.outcome === 'ok' ? 'ok' : 'failing'}">${e.outcome}</td><td>${esc(seconds(e.durationMs))}</td><td>${esc(bytes(e.size))}</td><td>${
        e.error ? `<strong>${esc(e.error.code)}</strong>: ${esc(e.error.message)}` : ''
      }${e.offsite && !e.offsite.ok ? ` off-site failed: ${esc(e.offsite.error ?? '')}` : ''}</td></tr>`,
  )
  return `<h2 id="history">Run history</h2>
<form method="get" action="/" id="history-filter">
<label>Source <select name="source">${sources.join('')}</select></label>
<label>Outcome <select name="outcome">${outcomes.join('')}</select></label>
<input type="hidden" name="limit" value="${q.limit}">
<button type="submit">Filter</button>
</form>
<div class="wrap"><table id="runs">
<thead><tr><th>Finished</th><th>Source</th><th>Database</th><th>Kind</th><th>Outcome</th><th>Duration</th><th>Size</th><th>Cause</th></tr></thead>
<tbody>
${rows.length > 0 ? rows.join('\n') : '<tr><td colspan="8" class="muted">no run matches</td></tr>'}
</tbody></table></div>
<p class="muted">The newest ${q.limit} entries that match; more with <code>?limit=</code> (up to 20000).</p>`
}

/** ` to S3, S3_2` when there are several targets; nothing for one. */
function targetsOf(o: { targets?: { target: string }[] }): string {
  return o.targets && o.targets.length > 1 ? ` to ${esc(o.targets.map((t) => t.target).join(', '))}` : ''
}
