/**
 * The JSON behind the status page (docs/OPERATIONS.md, "Status page and API"): `GET /api/status`,
 * the health status with what the page adds per database (state, off-site copy, last backup's size
 * and duration), and `GET /api/runs`, the run history one database per entry, newest first.
 * Pure over the in-memory history: no request reads the volume.
 */
import type { HistoryEntry } from '../run-history.js'
import type { DatabaseStatus, SourceStatus, Status } from '../status.js'

/** ok: proven and fresh; failing: the newest attempt failed; stale: no proven backup within HEALTH_MAX_AGE. */
export type DatabaseState = 'ok' | 'failing' | 'stale'

export interface DatabaseView extends DatabaseStatus {
  state: DatabaseState
  /** The newest backup attempt's off-site copies, every target's; null when none was tried (S3 not configured). */
  offsite: (NonNullable<HistoryEntry['offsite']> & { at: string }) | null
  /** The newest successful backup's size and duration, as the journal recorded them. */
  lastBackup: { at: string; size: number | null; durationMs: number } | null
}

export interface StatusView extends Omit<Status, 'sources'> {
  sources: (Omit<SourceStatus, 'databases'> & { databases: DatabaseView[] })[]
}

export function statusView(status: Status, entries: readonly HistoryEntry[]): StatusView {
  const lastTry = new Map<string, HistoryEntry>()
  const lastOk = new Map<string, HistoryEntry>()
  for (let i = entries.length - 1; i >= 0; i--) {
    const e = entries[i]!
    if (e.kind !== 'backup') continue
    const key = `${e.source}\u0000${e.database}`
    if (e.offsite && !lastTry.has(key)) lastTry.set(key, e)
    if (e.outcome === 'ok' && !lastOk.has(key)) lastOk.set(key, e)
  }
  return {
    ...status,
    sources: status.sources.map((s) => ({
      ...s,
      databases: s.databases.map((d): DatabaseView => {
        const key = `${s.source}\u0000${d.database}`
        const tried = lastTry.get(key)
        const ok = lastOk.get(key)
        return {
          ...d,
          state: d.failing ? 'failing' : d.healthy ? 'ok' : 'stale',
          offsite: tried?.offsite ? { ...tried.offsite, at: tried.finishedAt } : null,
          lastBackup: ok ? { at: ok.finishedAt, size: ok.size ?? null, durationMs: ok.durationMs } : null,
        }
      }),
    })),
  }
}

export const DEFAULT_RUNS_LIMIT = 200
export const MAX_RUNS_LIMIT = 20_000

export interface RunsQuery {
  source?: string
  database?: string
  outcome?: 'ok' | 'failed'
  kind?: 'backup' | 'drill'
  /** Entries that finished at or after this time. */
  since?: string
  limit: number
  /** Only these fields of each entry (the charts need five of them: a third of the bytes). */
  fields?: (keyof HistoryEntry)[]
}

const ENTRY_FIELDS: readonly (keyof HistoryEntry)[] = [
  'runId',
  'trigger',
  'kind',
  'source',
  'database',
  'outcome',
  'startedAt',
  'finishedAt',
  'durationMs',
  'backup',
  'size',
  'rawSize',
  'error',
  'offsite',
]

/** The query string of `/api/runs` (and of the page's history filter); a bad value is named with what is expected. */
export function parseRunsQuery(params: URLSearchParams): RunsQuery | { error: string } {
  const q: RunsQuery = { limit: DEFAULT_RUNS_LIMIT }
  const source = params.get('source')
  if (source) q.source = source
  const database = params.get('database')
  if (database) q.database = database
  const outcome = params.get('outcome')
  if (outcome) {
    if (outcome !== 'ok' && outcome !== 'failed') return { error: `outcome: expected ok or failed, got "${outcome}"` }
    q.outcome = outcome
  }
  const kind = params.get('kind')
  if (kind) {
    if (kind !== 'backup' && kind !== 'drill') return { error: `kind: expected backup or drill, got "${kind}"` }
    q.kind = kind
  }
  const since = params.get('since')
  if (since) {
    const t = Date.parse(since)
    if (Number.isNaN(t))
      return { error: `since: expected an ISO 8601 time such as 2026-01-31T00:00:00Z, got "${since}"` }
    q.since = new Date(t).toISOString()
  }
  const fields = params.get('fields')
  if (fields) {
    const names = fields.split(',').map((f) => f.trim())
    const bad = names.filter((f) => !(ENTRY_FIELDS as readonly string[]).includes(f))
    if (bad.length > 0)
      return { error: `fields: expected names among ${ENTRY_FIELDS.join(', ')}, got "${bad.join(',')}"` }
    q.fields = names as (keyof HistoryEntry)[]
  }
  const limit = params.get('limit')
  if (limit) {
    const n = Number(limit)
    if (!Number.isInteger(n) || n < 1 || n > MAX_RUNS_LIMIT)
      return { error: `limit: expected a whole number from 1 to ${MAX_RUNS_LIMIT}, got "${limit}"` }
    q.limit = n
  }
  return q
}

/** The entries matching `q`, newest first, at most `q.limit`, with `q.fields` only when given. */
export function selectRuns(entries: readonly HistoryEntry[], q: RunsQuery): Partial<HistoryEntry>[] {
  const out: Partial<HistoryEntry>[] = []
  for (let i = entries.length - 1; i >= 0 && out.length < q.limit; i--) {
    const e = entries[i]!
    if (q.source !== undefined && e.source !== q.source) continue
    if (q.database !== undefined && e.database !== q.database) continue
    if (q.outcome !== undefined && e.outcome !== q.outcome) continue
    if (q.kind !== undefined && e.kind !== q.kind) continue
    if (q.since !== undefined && e.finishedAt < q.since) continue
    out.push(q.fields ? pick(e, q.fields) : e)
  }
  return out
}

function pick(e: HistoryEntry, fields: readonly (keyof HistoryEntry)[]): Partial<HistoryEntry> {
  const out: Record<string, unknown> = {}
  for (const f of fields) if (e[f] !== undefined) out[f] = e[f]
  return out
}
