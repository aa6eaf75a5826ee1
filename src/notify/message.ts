/**
 * The alert for one run, pure: built from the run's journal record and the catalog, so an operator
 * reading it at 3 a.m. sees what failed, why, how old the last good backup is, and what to do.
 * The same facts go to email (`text`) and webhooks (JSON, with `text` for Slack-style receivers).
 *
 * A restore drill's record (trigger `drill`) gets its own wording — "restore drill FAILED", the
 * backup that was drilled, drill advice — so that a failed drill never reads as a failed backup.
 */
import type { CatalogEntry } from '../catalog/catalog.js'
import { isDrill, type RunRecord } from '../catalog/journal.js'
import { databaseKey, latestProvenBackups } from '../catalog/latest.js'
import { formatDuration } from '../runtime/duration.js'
import { scrubOutput, scrubSecrets } from '../runtime/secrets.js'
import { drillNextSteps, nextSteps } from './next-steps.js'
import { binaryBytes } from '../runtime/bytes.js'

export interface LastGoodBackup {
  database: string
  id: string
  at: string
  ageSeconds: number
}

export interface AlertFailure {
  source: string
  /** `*` when the whole source failed before any database (e.g. its server was unreachable). */
  database: string
  code: string
  message: string
  hint?: string
  /** The last lines the dump tool printed on stderr, when a tool failed. */
  output?: string
  /** The newest proven backup of the database (of each database of the source for `*`); empty when none. */
  lastGood: LastGoodBackup[]
  /** Drills only: the backup that was restored and compared. */
  drilled?: string
}

/** The webhook body minus `text`; documented in docs/OPERATIONS.md — receivers depend on it. */
export interface AlertFacts {
  host: string
  runId: string
  trigger: string
  /**
   * `backup`, `drill` (a restore drill, DRILL_SCHEDULE: nothing was backed up) or `test`
   * (`dbkeeper alert --test`: nothing happened, the channel is being tried).
   */
  kind: 'backup' | 'drill' | 'test'
  ok: boolean
  startedAt: string
  finishedAt: string
  failures: AlertFailure[]
  succeeded: { source: string; database: string; id?: string; size?: number; drilled?: string }[]
  runErrors: { code: string; message: string }[]
  nextSteps: string[]
}

export interface Alert {
  subject: string
  text: string
  facts: AlertFacts
}

/** `sourceIds` maps a source's label to its variable prefix (`app` → `DB01`) for the advice. */
export function buildAlert(
  record: RunRecord,
  backups: readonly CatalogEntry[],
  now: Date,
  sourceIds: ReadonlyMap<string, string> = new Map(),
): Alert {
  const latest = latestProvenBackups(backups, now)
  const lastGoodOf = (source: string, database: string): LastGoodBackup[] => {
    const keys =
      database === '*' ? [...latest.keys()].filter((k) => k.startsWith(`${source}/`)) : [databaseKey(source, database)]
    return keys.flatMap((k) => {
      const e = latest.get(k)
      if (!e) return []
      const at = e.manifest.finishedAt
      return [
        {
          database: e.manifest.database,
          id: e.manifest.id,
          at,
          ageSeconds: Math.max(0, Math.round((now.getTime() - Date.parse(at)) / 1000)),
        },
      ]
    })
  }
  const failures: AlertFailure[] = record.results
    .filter((r) => !r.ok)
    .map((r) => ({
      source: r.source,
      database: r.database,
      code: r.error?.code ?? 'INTERNAL',
      message: r.error?.message ?? 'failed without an error message',
      ...(r.error?.hint ? { hint: r.error.hint } : {}),
      ...(r.error?.output ? { output: r.error.output } : {}),
      lastGood: lastGoodOf(r.source, r.database),
      ...(r.drilled ? { drilled: r.drilled } : {}),
    }))
  const succeeded = record.results
    .filter((r) => r.ok)
    .map((r) => ({
      source: r.source,
      database: r.database,
      id: r.id,
      size: r.size,
      ...(r.drilled ? { drilled: r.drilled } : {}),
    }))
  const runErrors = record.errors ?? []
  const drill = isDrill(record)
  const steps = drill ? drillNextSteps : nextSteps
  const facts: AlertFacts = {
    host: record.host,
    runId: record.runId,
    trigger: record.trigger,
    kind: drill ? 'drill' : 'backup',
    ok: record.ok,
    startedAt: record.startedAt,
    finishedAt: record.finishedAt,
    failures,
    succeeded,
    runErrors,
    nextSteps: record.ok ? [] : steps([...failures, ...runErrors.map((e) => ({ ...e, source: '' }))], sourceIds),
  }
  return drill
    ? { subject: drillSubjectOf(facts), text: drillTextOf(facts), facts }
    : { subject: subjectOf(facts), text: textOf(facts), facts }
}

function drillSubjectOf(f: AlertFacts): string {
  const total = f.failures.length + f.succeeded.length
  if (f.ok)
    return `[dbkeeper] restore drill OK on ${f.host}: ${total} backup${total === 1 ? '' : 's'} restored and compared`
  const names = f.failures.map((x) => `${x.source}/${x.database}`)
  const named = names.length > 4 ? `${names.slice(0, 4).join(', ')} and ${names.length - 4} more` : names.join(', ')
  return `[dbkeeper] restore drill FAILED on ${f.host}: ${named || f.runErrors.map((e) => e.code).join(', ') || 'drill failed'}`
}

function drillTextOf(f: AlertFacts): string {
  const lines: string[] = []
  const duration = formatDuration(Date.parse(f.finishedAt) - Date.parse(f.startedAt))
  const total = f.failures.length + f.succeeded.length
  if (f.ok)
    lines.push(
      `dbkeeper on ${f.host}: the restore drill passed — all ${total} latest backups restored into a scratch database and matched.`,
    )
  else if (total === 0) lines.push(`dbkeeper on ${f.host}: the restore drill FAILED before drilling any backup.`)
  else
    lines.push(
      `dbkeeper on ${f.host}: the restore drill FAILED — ${f.failures.length} of ${total} latest backups did not restore to what they hold.`,
    )
  lines.push('This is a restore drill (DRILL_SCHEDULE), not a backup run: no backup was taken or changed.')
  lines.push(`Drill ${f.runId}, started ${f.startedAt}, took ${duration}.`, '')
  for (const x of f.failures) {
    lines.push(
      `DRILL FAILED  ${x.source}/${x.database}${x.drilled ? `  backup ${x.drilled}` : ''}`,
      ...errorLines(x),
      '',
    )
  }
  for (const e of f.runErrors) lines.push(`DRILL ERROR  ${e.code}: ${indent(e.message)}`, '')
  for (const s of f.succeeded)
    lines.push(`DRILL OK      ${s.source}/${s.database}${s.drilled ? `  backup ${s.drilled}` : ''}`)
  if (f.succeeded.length > 0) lines.push('')
  lines.push(...closingLines(f))
  return `${lines.join('\n')}\n`
}

function subjectOf(f: AlertFacts): string {
  const total = f.failures.length + f.succeeded.length
  if (f.ok) return `[dbkeeper] backup OK on ${f.host}: ${total} database${total === 1 ? '' : 's'} backed up`
  const sources = [...new Set(f.failures.map((x) => x.source))]
  const named =
    sources.length > 4 ? `${sources.slice(0, 4).join(', ')} and ${sources.length - 4} more` : sources.join(', ')
  return `[dbkeeper] backup FAILED on ${f.host}: ${named || f.runErrors.map((e) => e.code).join(', ') || 'run failed'}`
}

function textOf(f: AlertFacts): string {
  const lines: string[] = []
  const duration = formatDuration(Date.parse(f.finishedAt) - Date.parse(f.startedAt))
  const total = f.failures.length + f.succeeded.length
  lines.push(
    f.ok
      ? `dbkeeper on ${f.host}: all ${total} database backups of this run succeeded.`
      : `dbkeeper on ${f.host}: the backup run FAILED — ${f.failures.length} of ${total} database backups failed.`,
  )
  lines.push(`Run ${f.runId} (${f.trigger}), started ${f.startedAt}, took ${duration}.`, '')
  for (const x of f.failures) {
    lines.push(`FAILED  ${x.source}/${x.database}`, ...errorLines(x))
    if (x.lastGood.length === 0) lines.push('  last good backup: NONE — there is no proven backup of this database')
    for (const g of x.lastGood) {
      lines.push(
        `  last good backup${x.database === '*' ? ` of ${g.database}` : ''}: ${formatDuration(g.ageSeconds * 1000)} old (${g.id}, finished ${g.at})`,
      )
    }
    lines.push('')
  }
  for (const e of f.runErrors) lines.push(`RUN ERROR  ${e.code}: ${indent(e.message)}`, '')
  for (const s of f.succeeded)
    lines.push(
      `OK      ${s.source}/${s.database}${s.id ? `  ${s.id}` : ''}${s.size === undefined ? '' : `  (${binaryBytes(s.size)})`}`,
    )
  if (f.succeeded.length > 0) lines.push('')
  lines.push(...closingLines(f))
  return `${lines.join('\n')}\n`
}

/** One failure's error: code and message, the hint, and the tool's last lines on stderr. */
function errorLines(x: AlertFailure): string[] {
  return [
    `  error: ${x.code}: ${indent(x.message)}`,
    ...(x.hint ? [`  hint:  ${x.hint}`] : []),
    ...(x.output ? ["  the tool's last lines on stderr:", ...x.output.split('\n').map((l) => `    | ${l}`)] : []),
  ]
}

/** The end of every alert: what to check next (when anything failed), then the signature. */
function closingLines(f: AlertFacts): string[] {
  const steps = f.nextSteps.length > 0 ? ['What to check next:', ...f.nextSteps.map((step) => `  - ${step}`), ''] : []
  return [...steps, '-- ', `dbkeeper on ${f.host}`]
}

/** Continuation lines of a multi-line message (a tool's stderr tail) line up under the first. */
function indent(text: string): string {
  return text.replace(/\r?\n/g, '\n         ')
}

/**
 * The last guard before an alert leaves the process: every known secret (passwords of the
 * configuration, registered at parse time) is masked in the subject, the text and every fact,
 * in case one slipped into an error message on the way.
 */
export function scrubAlert(alert: Alert): Alert {
  return {
    subject: scrubSecrets(alert.subject),
    text: scrubSecrets(alert.text),
    facts: JSON.parse(scrubOutput(JSON.stringify(alert.facts))) as AlertFacts,
  }
}
