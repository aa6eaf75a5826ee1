/**
 * "What to check next" for an alert, pure: one piece of advice per kind of failure, naming the
 * variables of the source that failed, then how to look closer and retry.
 */

/** Advice per error code; `V` stands for the source's variable prefix (`DB01`). */
const ADVICE: Record<string, string> = {
  CONNECT:
    'Is the database server up and reachable from the backup container? Check V_HOST / V_PORT and that both containers share a network.',
  AUTH: 'The server refused the credentials: check V_USER and V_PASS (or V_PASS_FILE) against the database user.',
  PRIVILEGE: 'The backup user lacks a privilege (the error names it): grant it on the server.',
  VERSION: 'The dump tool and the server versions do not fit: update the dbkeeper image or pin the server version.',
  TOOL_MISSING:
    'The dump tool is missing from the image: use the official dbkeeper image or install the client package.',
  NOT_FOUND: 'The database or file is gone or was renamed: check V_NAME / V_PATH.',
  DUMP_FAILED:
    'The dump tool failed or its output ended early: read its stderr above; a server restart or a killed connection during the dump is the usual cause.',
  VERIFY_FAILED:
    'A written backup did not read back as written: check the backup volume (disk errors in `dmesg`, free space).',
  NO_SPACE:
    'The backup volume is full: free space (`df -h` on BACKUP_DIR) or shorten the retention (KEEP_* / BACKUP_RETENTION_DAYS).',
  IO: 'Check that the backup volume is mounted and writable by the user dbkeeper runs as (BACKUP_DIR).',
  ABORTED: 'The run was interrupted (shutdown or timeout); the next scheduled run retries.',
}

const LOOK_CLOSER =
  'Run `dbkeeper status` in the backup container for the last success of every source, and read the daemon log (`docker logs`) for the full error.'

export function nextSteps(
  failures: readonly { source: string; code: string }[],
  sourceIds: ReadonlyMap<string, string>,
): string[] {
  const steps: string[] = []
  for (const f of failures) {
    const advice = ADVICE[f.code]
    if (advice === undefined) continue
    const prefix = sourceIds.get(f.source) ?? 'DBnn'
    const step = advice.replace(/\bV_/g, `${prefix}_`)
    if (!steps.includes(step)) steps.push(step)
  }
  const sources = [...new Set(failures.map((f) => f.source).filter((s) => s !== ''))]
  const command = ['dbkeeper backup', ...sources].join(' ')
  return [...steps, LOOK_CLOSER, `Retry by hand once fixed: \`${command}\` (exit code 0 means the backup is proven).`]
}

/** Advice for a failed restore drill, per error code; `V` as above. */
const DRILL_ADVICE: Record<string, string> = {
  RESTORE_FAILED:
    'The backup did not restore to what it holds (the error names the first differing line or the failing statement): take a new backup now (`dbkeeper backup`) and drill it; keep the older backups until a drill passes.',
  VERIFY_FAILED:
    'The backup does not read back as it was written: check the backup volume (disk errors in `dmesg`), take a new backup now, and do not count on this one.',
  PRIVILEGE:
    'The drill may not create, fill or drop its scratch database `dbkeeper_drill_…`: grant V_USER that (docs/RESTORE.md, Privileges).',
  AUTH: 'The server refused the credentials for the scratch database: check V_USER and V_PASS (or V_PASS_FILE).',
  CONNECT: 'The database server was not reachable for the scratch database: check V_HOST / V_PORT.',
  TOOL_MISSING:
    'A client tool the drill needs (mariadb, psql, pg_restore) is missing from the image: use the official dbkeeper image.',
  NO_SPACE: 'The drill ran out of space (the scratch database, or its temporary files on BACKUP_DIR): free space.',
  ABORTED: 'The drill was interrupted (shutdown); the next scheduled drill retries.',
}

/** "What to check next" for a failed restore drill: the backups were taken; whether they restore is the question. */
export function drillNextSteps(
  failures: readonly { source: string; code: string; drilled?: string }[],
  sourceIds: ReadonlyMap<string, string>,
): string[] {
  const steps: string[] = []
  for (const f of failures) {
    const advice = DRILL_ADVICE[f.code]
    if (advice === undefined) continue
    const step = advice.replace(/\bV_/g, `${sourceIds.get(f.source) ?? 'DBnn'}_`)
    if (!steps.includes(step)) steps.push(step)
  }
  const again = failures
    .filter((f) => f.source !== '' && f.drilled)
    .map((f) => `\`dbkeeper verify ${f.drilled} --source ${f.source} --drill\``)
  return [
    ...steps,
    again.length > 0
      ? `Repeat the drill by hand and read its full output: ${[...new Set(again)].join(', ')} (docs/RESTORE.md, section 11).`
      : 'Repeat the drill by hand and read its full output: `dbkeeper verify --drill` (docs/RESTORE.md, section 11).',
    'The backups themselves keep running; `dbkeeper status` shows the last drill of every database.',
  ]
}
