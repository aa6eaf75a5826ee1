/**
 * The pieces of the status page's HTML: escaping (every text from the journal, the config or the
 * query string goes through `esc`), times and sizes as people read them, and the page's frame with
 * its stylesheet. No framework: a few hundred bytes of CSS keep it readable on a phone.
 */
import { formatDuration } from '../../runtime/duration.js'
import { scrubSecrets } from '../../runtime/secrets.js'
import { binaryBytes } from '../../runtime/bytes.js'

const ENTITIES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }

/**
 * Scrubbed, then escaped: the answer's own scrub comes too late for a secret holding `"` or `&`,
 * which escaping has turned into `&quot;` or `&amp;` by then.
 */
export function esc(text: string | number): string {
  return scrubSecrets(String(text)).replace(/[&<>"']/g, (c) => ENTITIES[c]!)
}

/** `2026-12-05 06:00 UTC`: the page is read from anywhere; the journal's times are UTC. */
export function when(iso: string | null | undefined): string {
  if (!iso) return '—'
  return `<time datetime="${esc(iso)}">${esc(iso.slice(0, 16).replace('T', ' '))} UTC</time>`
}

/** `3h 5m ago` (or `in 2h` for a time ahead), whole minutes above an hour. */
export function ago(iso: string, now: Date): string {
  const ms = now.getTime() - Date.parse(iso)
  const rounded = Math.abs(ms) >= 3_600_000 ? Math.round(Math.abs(ms) / 60_000) * 60_000 : Math.abs(ms)
  const text = formatDuration(Math.max(1000, Math.round(rounded / 1000) * 1000))
  return ms >= 0 ? `${text} ago` : `in ${text}`
}

export function bytes(n: number | null | undefined): string {
  return n === null || n === undefined ? '—' : binaryBytes(n)
}

export function seconds(ms: number): string {
  return ms < 1000 ? `${ms} ms` : formatDuration(Math.round(ms / 1000) * 1000)
}

const CSS = `
body{font:15px/1.4 system-ui,sans-serif;margin:0 auto;padding:12px;max-width:1200px;color:#222}
h1{font-size:1.3em;margin:.2em 0}h2{font-size:1.1em;margin:1.2em 0 .4em}
.wrap{overflow-x:auto}table{border-collapse:collapse;width:100%}
th,td{text-align:left;padding:4px 6px;border-bottom:1px solid #ddd;vertical-align:top}
th{background:#f4f4f4;font-weight:600}
.ok{color:#176f2c;font-weight:600}.failing{color:#b00020;font-weight:600}.stale{color:#a15c00;font-weight:600}
.banner{padding:8px 10px;border-radius:4px;margin:.5em 0}.banner.ok{background:#e6f4ea}.banner.bad{background:#fde7e9}
.hint{color:#555;font-size:.9em}.muted{color:#777}form.inline{display:inline}
button{font:inherit;padding:3px 10px}select{font:inherit}
.chart{margin:.5em 0}
@media (max-width:700px){body{padding:6px;font-size:14px}th,td{padding:3px 4px}}
`

export function frame(title: string, body: string, head = ''): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(title)}</title>
<style>${CSS}</style>
${head}
</head>
<body>
${body}
</body>
</html>
`
}
