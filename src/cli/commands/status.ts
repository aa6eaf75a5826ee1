/**
 * `dbkeeper status [--json] [--check]`: the last success and last failure of every database, the
 * next scheduled run, and whether backups are healthy. `--check` is the Docker HEALTHCHECK.
 */
import { printable } from '../../runtime/printable.js'
import { readStatus } from '../../daemon/current-status.js'
import type { Status } from '../../daemon/status.js'
import { formatDuration } from '../../runtime/duration.js'
import { DbkeeperError, EXIT_FAILED, EXIT_OK } from '../../runtime/errors.js'
import { syncReads } from '../../runtime/sync-reads.js'
import type { Command, CommandContext } from '../command.js'

const USAGE = `Usage: dbkeeper status [--json] [--check]

Shows, per source and database, the last proven backup and its age, the last failure and its
cause, the last restore drill (DRILL_SCHEDULE) and its outcome, and the next scheduled run
(SCHEDULE in TZ). Drills never count as backups: a failed drill is shown (and alerted) but does
not make the status unhealthy.

  --json    print the status as JSON (the same document GET /healthz returns):
            { healthy, reason, checkedAt, maxAgeSeconds, nextRun, lastRun,
              lastDrill: { runId, startedAt, finishedAt, ok, errors? } | null,
              sources: [{ source, id, engine, healthy,
                databases: [{ database, healthy, failing,
                  lastSuccess: { at, id, ageSeconds } | null,
                  lastFailure: { at, runId, code, message, hint? } | null,
                  lastDrill: { at, runId, backup, ok, code?, message?, hint? } | null,
                  pitr?: { healthy, lagSeconds, maxLagSeconds, window: { from, to } | null,
                           ranges: [{ from, to }] } }] }],
              clockSkew: [{ source, database, id, startedAt }] }
            clockSkew lists backups stamped more than 5 minutes in the future (a host
            clock that was ahead): never counted as a database's last success.
            times are ISO 8601 UTC; fields are only ever added, never renamed.
  --check   exit 1 when any database's last proven backup is older than HEALTH_MAX_AGE (or
            there is none), or the point-in-time archive of a DBnn_PITR source is further
            behind than PITR_MAX_LAG, 0 otherwise, printing one line why. For a Docker HEALTHCHECK:
              HEALTHCHECK --interval=5m --start-period=1h CMD dbkeeper status --check`

export const statusCommand: Command = {
  name: 'status',
  usage: USAGE,
  needsConfig: true,
  usesVolume: true,
  // The same synchronous reads as readStatus's (daemon/current-status.ts).
  volumeReads: syncReads,
  async run(ctx: CommandContext): Promise<number> {
    let json = false
    let check = false
    for (const arg of ctx.args) {
      if (arg === '--json') json = true
      else if (arg === '--check') check = true
      else
        throw new DbkeeperError('USAGE', `status: unknown argument ${JSON.stringify(arg)}`, {
          hint: 'dbkeeper status [--json] [--check]',
        })
    }
    const status = await readStatus(ctx.config)
    if (json) ctx.print(JSON.stringify(status, null, 2))
    else if (check) ctx.print(status.reason)
    else ctx.print(formatStatus(status, ctx.config.tz))
    return check && !status.healthy ? EXIT_FAILED : EXIT_OK
  },
}

/** The human form, times in TZ: a summary line, the schedule, one row per database, then the causes. */
export function formatStatus(s: Status, tz: string): string {
  const out = [s.reason]
  const next = s.nextRun
    ? `${localTime(s.nextRun, tz)} ${tz} (in ${formatDuration(Date.parse(s.nextRun) - Date.parse(s.checkedAt))})`
    : 'none (SCHEDULE never fires)'
  out.push(`Next scheduled run: ${next}`)
  out.push(
    s.lastRun
      ? `Last run: ${localTime(s.lastRun.finishedAt, tz)} (${s.lastRun.trigger}) ${s.lastRun.ok ? 'ok' : 'FAILED'}`
      : 'Last run: none recorded yet',
  )
  if (s.lastDrill) {
    const why = s.lastDrill.errors?.length
      ? `: ${s.lastDrill.errors.map((e) => `${e.code}: ${e.message}`).join('; ')}`
      : ''
    out.push(`Last restore drill: ${localTime(s.lastDrill.finishedAt, tz)} ${s.lastDrill.ok ? 'ok' : 'FAILED'}${why}`)
  }
  // The drill column only once there are drills: most installations have none.
  const drills = s.lastDrill !== null || s.sources.some((src) => src.databases.some((d) => d.lastDrill))
  const rows = [
    ['SOURCE', 'DATABASE', `LAST SUCCESS (${tz})`, 'AGE', 'LAST FAILURE', ...(drills ? ['LAST DRILL'] : []), 'STATE'],
  ]
  for (const src of s.sources) {
    if (src.databases.length === 0) rows.push([src.source, '-', '-', '-', '-', ...(drills ? ['-'] : []), 'UNHEALTHY'])
    for (const d of src.databases) {
      rows.push([
        src.source,
        d.database,
        d.lastSuccess ? localTime(d.lastSuccess.at, tz) : 'never',
        d.lastSuccess ? formatDuration(d.lastSuccess.ageSeconds * 1000) : '-',
        d.lastFailure ? `${localTime(d.lastFailure.at, tz)} ${d.lastFailure.code}` : '-',
        ...(drills
          ? [
              d.lastDrill
                ? `${localTime(d.lastDrill.at, tz)} ${d.lastDrill.ok ? 'ok' : `FAILED ${d.lastDrill.code ?? ''}`.trim()}`
                : 'never',
            ]
          : []),
        d.healthy ? (d.failing ? 'ok, last try FAILED' : 'ok') : 'UNHEALTHY',
      ])
    }
  }
  out.push('', ...table(rows))
  const archived = s.sources.flatMap((src) =>
    src.databases.flatMap((d) => (d.pitr ? [{ name: `${src.source}/${d.database}`, p: d.pitr }] : [])),
  )
  if (archived.length > 0) out.push('')
  for (const { name, p } of archived) {
    const window = p.window
      ? `restore to a time from ${localTime(p.window.from, tz)} to ${localTime(p.window.to, tz)} ${tz}`
      : p.lagSeconds === null
        ? 'nothing archived yet'
        : 'no time to restore to yet (no proven base backup lies inside the archive)'
    const gaps =
      p.ranges.length > 1
        ? ` (${p.ranges.length - 1} gap${p.ranges.length > 2 ? 's' : ''}: ${p.ranges.map((r) => `${localTime(r.from, tz)}–${localTime(r.to, tz)}`).join(', ')})`
        : ''
    const lag = p.lagSeconds === null ? '' : `, lag ${formatDuration(p.lagSeconds * 1000)}`
    out.push(
      `${name}: point-in-time: ${window}${gaps}${lag}${p.healthy ? '' : ` — UNHEALTHY (PITR_MAX_LAG ${formatDuration(p.maxLagSeconds * 1000)})`}`,
    )
  }
  const failing = s.sources.flatMap((src) =>
    src.databases.filter((d) => d.failing).map((d) => ({ name: `${src.source}/${d.database}`, f: d.lastFailure! })),
  )
  if (failing.length > 0) out.push('')
  for (const { name, f } of failing)
    out.push(`${name} failed at ${localTime(f.at, tz)}: ${f.code}: ${f.message}${f.hint ? ` — ${f.hint}` : ''}`)
  const drillFailed = s.sources.flatMap((src) =>
    src.databases
      .filter((d) => d.lastDrill && !d.lastDrill.ok)
      .map((d) => ({ name: `${src.source}/${d.database}`, f: d.lastDrill! })),
  )
  if (drillFailed.length > 0 && failing.length === 0) out.push('')
  for (const { name, f } of drillFailed) {
    out.push(
      `${name}: restore drill of ${f.backup ?? 'its latest backup'} FAILED at ${localTime(f.at, tz)}: ${f.code ?? 'INTERNAL'}: ${f.message ?? ''}${f.hint ? ` — ${f.hint}` : ''}`,
    )
  }
  return out.join('\n')
}

function table(raw: string[][]): string[] {
  const rows = raw.map((r) => r.map(printable))
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)))
  return rows.map((r) => r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  '))
}

/**
 * `2026-11-22 09:00:00` in `tz`: the schedule is read in TZ, so its times are shown in TZ. UTC
 * (the default) from the ISO string itself: the same text, without loading ICU's locale and zone
 * data (~⅓ of the CPU of a `dbkeeper status`).
 */
export function localTime(iso: string, tz: string): string {
  if (tz === 'UTC') return new Date(iso).toISOString().slice(0, 19).replace('T', ' ')
  return new Intl.DateTimeFormat('sv-SE', { timeZone: tz, dateStyle: 'short', timeStyle: 'medium' }).format(
    new Date(iso),
  )
}
