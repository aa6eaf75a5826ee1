/**
 * The run journal: one JSON line per run in `<BACKUP_DIR>/.dbkeeper/runs.jsonl`, appended at the
 * end of every run (manual or scheduled). `status`, health and metrics read it; it survives restarts
 * because it lives on the backup volume. It is bounded: rotated at 16 MiB into `runs.1.jsonl` …
 * `runs.4.jsonl`, and read from its end backwards (journal-files.ts).
 */
import { hostname } from 'node:os'
import { open } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { DEFAULT_ROTATION, journalFiles, linesBackward, rotateIfDue, type RotationLimits } from './journal-files.js'
import { STATE_DIR } from './naming.js'
import { DIR_MODE, ensureDir, FILE_MODE } from '../runtime/durable.js'
import type { FileReads } from '../runtime/file-reads.js'

/** `drill`: a restore drill (DRILL_SCHEDULE or `verify --drill`), not a backup run. */
/** `pitr-gap`: a fresh base backup after a point-in-time archive lost its position (daemon/pitr-watch.ts). */
export type RunTrigger = 'manual' | 'schedule' | 'start' | 'shutdown' | 'drill' | 'pitr-gap'

export interface DatabaseResult {
  source: string
  database: string
  ok: boolean
  /** Set when a backup was committed. */
  id?: string
  /** Drill records only: the backup that was restored and compared (not `id`: no backup was made). */
  drilled?: string
  path?: string
  /**
   * When this database's backup (or drill) finished: the manifest's `finishedAt`. A run backs up
   * its databases one after another, so the run's own `finishedAt` is later than all but the last.
   * Absent in records written before it was added.
   */
  finishedAt?: string
  size?: number
  rawSize?: number
  durationMs: number
  /** `output`: the last lines the dump tool printed on stderr, when it failed (secrets scrubbed). */
  error?: { code: string; message: string; hint?: string; output?: string }
  /**
   * The off-site (S3) copy, when S3 is configured and the local backup was committed. When it
   * failed, `ok` is false and `error` (code OFFSITE) says why, while `id`/`path` still name the
   * committed local backup: status, metrics and alerts then show the database as failing.
   */
  offsite?: OffsiteResult
  /** Every target's copy, in target order (`S3`, `S3_2`, …); `offsite` is the first of them. */
  offsites?: OffsiteResult[]
}

/** Every target's copy of a result, from records written before several targets (`offsite`) too. */
export function offsitesOf(r: Pick<DatabaseResult, 'offsite' | 'offsites'>): OffsiteResult[] {
  return r.offsites ?? (r.offsite ? [r.offsite] : [])
}

export interface OffsiteResult {
  ok: boolean
  /** The target's id (`S3`, `S3_2`, …); absent in records written before several targets. */
  target?: string
  /** `s3://bucket/prefix/<source>/<db>/<file>` of this run's backup, once confirmed. */
  key?: string
  error?: string
  /** What to check, when it failed. */
  hint?: string
  /** Backups of earlier runs uploaded by this one (they were missing off-site). */
  caughtUp?: string[]
  /** Off-site backups removed by the off-site retention. */
  removed?: string[]
  /** Why this run's backup was not sent to this target (its retention does not keep it). */
  skipped?: string
  /** S3_NO_DELETE: backups the target's retention would remove, left for the bucket's lifecycle rule. */
  wouldRemove?: string[]
}

export interface RunRecord {
  runId: string
  trigger: RunTrigger
  host: string
  pid: number
  startedAt: string
  finishedAt: string
  ok: boolean
  results: DatabaseResult[]
  /** Problems that are not one database's (a source's probe failing is recorded per database it would have dumped, or with database '*'). */
  errors?: { code: string; message: string }[]
}

/**
 * A failure found outside a backup run (the start-up check, an archive's gap, a drill that could
 * not run), as the record of a failed run with no backup: alerted, shown by `status` and the
 * metrics as one. Its host is this one, as a run's is.
 */
export function failureRecord(prefix: string, trigger: RunTrigger, errors: RunRecord['errors']): RunRecord {
  const now = new Date().toISOString()
  return {
    runId: `${prefix}-${now}`,
    trigger,
    host: hostname(),
    pid: process.pid,
    startedAt: now,
    finishedAt: now,
    ok: false,
    results: [],
    errors,
  }
}

/** A restore drill's record (DRILL_SCHEDULE), not a backup run's: status, metrics and alerts tell them apart. */
export function isDrill(run: Pick<RunRecord, 'trigger'>): boolean {
  return run.trigger === 'drill'
}

export function journalPath(backupDir: string): string {
  return join(backupDir, STATE_DIR, 'runs.jsonl')
}

/**
 * Appends one record (one write of one line: O_APPEND keeps concurrent lines whole), rotating the
 * journal first when it is due. A line torn by a crash mid-append (no newline at its end) is
 * closed first, so that it does not swallow this record too.
 */
export async function appendRun(
  backupDir: string,
  record: RunRecord,
  rotation: RotationLimits = DEFAULT_ROTATION,
): Promise<void> {
  const stateDir = join(backupDir, STATE_DIR)
  await ensureDir(stateDir, DIR_MODE, dirname(backupDir))
  await rotateIfDue(stateDir, rotation)
  const handle = await open(journalPath(backupDir), 'a+', FILE_MODE)
  try {
    const { size } = await handle.stat()
    const last = Buffer.alloc(1)
    if (size > 0) await handle.read(last, 0, 1, size - 1)
    const torn = size > 0 && last[0] !== 10
    await handle.appendFile(`${torn ? '\n' : ''}${JSON.stringify(record)}\n`)
    await handle.sync()
  } finally {
    await handle.close()
  }
}

/**
 * The last `limit` runs, oldest first, from the current journal file and then the rotated ones,
 * each read from its end: the cost depends on `limit`, not on the journal's size. Torn or
 * foreign lines are skipped (a crash mid-append must not make status unreadable). `reads`: how the
 * files are found and read (runtime/file-reads.ts; fs/promises when not given).
 */
export async function readRuns(backupDir: string, limit = 1000, reads?: FileReads): Promise<RunRecord[]> {
  const newestFirst: RunRecord[] = []
  for (const file of await journalFiles(join(backupDir, STATE_DIR), reads)) {
    for await (const line of linesBackward(file, reads)) {
      if (newestFirst.length >= limit) return newestFirst.reverse()
      const rec = parseRunRecord(line)
      if (rec) newestFirst.push(rec)
    }
  }
  return newestFirst.reverse()
}

/** One journal line as a record; undefined for a torn or foreign line. */
export function parseRunRecord(line: string): RunRecord | undefined {
  if (!line.trim()) return undefined
  try {
    const rec = JSON.parse(line) as RunRecord
    return rec !== null && typeof rec.runId === 'string' && Array.isArray(rec.results) ? rec : undefined
  } catch {
    return undefined // a torn line from a crash
  }
}
