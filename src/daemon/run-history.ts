/**
 * The daemon's memory of the runs: the journal read once at start and then followed (journal-tail.ts),
 * the catalog listed at start and again only after a new run appeared in the journal (or after
 * CATALOG_MAX_AGE_MS, for a `prune` that writes no journal line). The page, the API, /healthz and
 * /metrics all answer from here, so no request re-reads the journal or every manifest.
 */
import { join } from 'node:path'
import { listBackups, type CatalogEntry } from '../catalog/catalog.js'
import { offsitesOf, isDrill, type DatabaseResult, type OffsiteResult, type RunRecord } from '../catalog/journal.js'
import { STATE_DIR } from '../catalog/naming.js'
import { scrubSecrets } from '../runtime/secrets.js'
import { statusOf, type StatusConfig } from './current-status.js'
import { JournalTail } from './journal-tail.js'
import type { PitrReading } from './pitr-status.js'
import type { Status } from './status.js'

/** A catalog older than this is listed again even without a new run (a manual prune). */
export const CATALOG_MAX_AGE_MS = 60_000
/** Runs kept in memory: a year of hourly runs; the journal on disk may hold more. */
export const MAX_RUNS = 10_000

/** One database of one run: a line of the history table and a point of the charts. */
export interface HistoryEntry {
  runId: string
  trigger: string
  kind: 'backup' | 'drill'
  source: string
  database: string
  outcome: 'ok' | 'failed'
  startedAt: string
  finishedAt: string
  durationMs: number
  /** The backup made (backups) or restored (drills). */
  backup?: string
  /** Compressed size on the volume, bytes. */
  size?: number
  rawSize?: number
  error?: { code: string; message: string; hint?: string }
  /**
   * Whether the off-site copies of this backup were confirmed on every target; absent when S3 is
   * not configured. `targets` names each target and its outcome (`S3`, `S3_2`, …).
   */
  offsite?: { ok: boolean; error?: string; hint?: string; targets?: { target: string; ok: boolean }[] }
}

export class RunHistory {
  private allRuns: RunRecord[] = []
  private allEntries: HistoryEntry[] = []
  private readonly seen = new Set<string>()
  private catalog: CatalogEntry[] = []
  private catalogAt = 0
  private catalogStale = true
  private pending: Promise<RunRecord[]> | undefined
  private readonly tail: JournalTail
  /** Told of every run a catch-up finds, whoever asked for it (the metrics count them). */
  onNewRuns: ((runs: readonly RunRecord[]) => void) | undefined

  private constructor(private readonly config: StatusConfig) {
    this.tail = new JournalTail(join(config.backupDir, STATE_DIR))
  }

  /** Reads the journal's whole history and the catalog once. */
  static async open(config: StatusConfig): Promise<RunHistory> {
    const h = new RunHistory(config)
    h.add(await h.tail.start(MAX_RUNS))
    await h.relist()
    return h
  }

  get runs(): readonly RunRecord[] {
    return this.allRuns
  }

  /** Oldest first. */
  get entries(): readonly HistoryEntry[] {
    return this.allEntries
  }

  get backups(): readonly CatalogEntry[] {
    return this.catalog
  }

  /**
   * Catches up with runs appended since the last call (by this or any other process) and returns
   * them; concurrent callers share one catch-up.
   */
  refresh(): Promise<RunRecord[]> {
    this.pending ??= this.catchUp().finally(() => (this.pending = undefined))
    return this.pending
  }

  /**
   * The status from memory: call `refresh()` first to include runs of other processes. `pitr`: the
   * DBnn_PITR archives as read just now (pitr-status.ts), judged against PITR_MAX_LAG.
   */
  status(now = new Date(), pitr: readonly PitrReading[] = []): Status {
    return statusOf(this.config, this.allRuns, this.catalog, pitr, now)
  }

  private async catchUp(): Promise<RunRecord[]> {
    const fresh = this.add(await this.tail.poll())
    if (fresh.length > 0) {
      this.catalogStale = true
      this.onNewRuns?.(fresh)
    }
    if (this.catalogStale || Date.now() - this.catalogAt > CATALOG_MAX_AGE_MS) await this.relist()
    return fresh
  }

  private async relist(): Promise<void> {
    this.catalog = await listBackups(this.config.backupDir)
    this.catalogAt = Date.now()
    this.catalogStale = false
  }

  private add(records: readonly RunRecord[]): RunRecord[] {
    const fresh = records.filter((r) => !this.seen.has(r.runId))
    for (const r of fresh) {
      this.seen.add(r.runId)
      this.allRuns.push(r)
      this.allEntries.push(...entriesOf(r))
    }
    if (this.allRuns.length > MAX_RUNS) {
      const dropped = this.allRuns.splice(0, this.allRuns.length - MAX_RUNS)
      for (const r of dropped) this.seen.delete(r.runId)
      const oldest = new Set(dropped.map((r) => r.runId))
      this.allEntries = this.allEntries.filter((e) => !oldest.has(e.runId))
    }
    return fresh
  }
}

/**
 * The entries of one run, their free texts scrubbed once here (the journal holds scrubbed texts
 * already; this also covers a secret configured after the line was written), so that `/api/runs`
 * can send thousands of them without scrubbing every answer again.
 */
export function entriesOf(run: RunRecord): HistoryEntry[] {
  return run.results.map((r) => ({
    runId: run.runId,
    trigger: run.trigger,
    kind: isDrill(run) ? 'drill' : 'backup',
    source: r.source,
    database: r.database,
    outcome: r.ok ? 'ok' : 'failed',
    startedAt: r.finishedAt ? new Date(Date.parse(r.finishedAt) - r.durationMs).toISOString() : run.startedAt,
    finishedAt: r.finishedAt ?? run.finishedAt,
    durationMs: r.durationMs,
    ...((r.id ?? r.drilled) ? { backup: r.id ?? r.drilled } : {}),
    ...(r.size !== undefined ? { size: r.size } : {}),
    ...(r.rawSize !== undefined ? { rawSize: r.rawSize } : {}),
    ...(r.error
      ? {
          error: {
            code: scrubSecrets(r.error.code),
            message: scrubSecrets(r.error.message),
            ...(r.error.hint ? { hint: scrubSecrets(r.error.hint) } : {}),
          },
        }
      : {}),
    ...offsiteOf(r),
  }))
}

/** Every target's outcome as one: ok only when each target confirmed its copy; failures named by target. */
function offsiteOf(r: DatabaseResult): Pick<HistoryEntry, 'offsite'> {
  const all = offsitesOf(r)
  if (all.length === 0) return {}
  const failed = all.filter((o) => !o.ok)
  const named = (o: OffsiteResult, text: string) => (all.length > 1 ? `${o.target ?? 'S3'}: ${text}` : text)
  const error = failed.flatMap((o) => (o.error ? [named(o, scrubSecrets(o.error))] : [])).join('; ')
  const hint = [...new Set(failed.flatMap((o) => (o.hint ? [scrubSecrets(o.hint)] : [])))].join(' ')
  return {
    offsite: {
      ok: failed.length === 0,
      ...(error ? { error } : {}),
      ...(hint ? { hint } : {}),
      targets: all.map((o) => ({ target: o.target ?? 'S3', ok: o.ok })),
    },
  }
}
