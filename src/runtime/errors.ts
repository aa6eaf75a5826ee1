/**
 * One error type for everything the operator may see. `code` decides the exit code (in one place,
 * `exitCodeFor`), `hint` names the next step, `cause` keeps the original error.
 */
export type ErrorCode =
  | 'CONFIG' // the configuration is invalid (exit 2)
  | 'USAGE' // bad command line (exit 2)
  | 'LOCKED' // another run holds the lock (exit 3)
  | 'CONNECT' // the database server cannot be reached
  | 'AUTH' // credentials refused
  | 'PRIVILEGE' // connected, but the user lacks a privilege
  | 'VERSION' // dump tool and server versions do not fit
  | 'TOOL_MISSING' // dump tool not installed
  | 'NOT_FOUND' // database, file or backup not found
  | 'DUMP_FAILED' // the dump tool failed or its output is incomplete
  | 'VERIFY_FAILED' // a backup file does not read back as written
  | 'NO_SPACE' // the disk is full
  | 'IO' // any other file system problem
  | 'RETENTION' // a retention plan was refused
  | 'RESTORE_FAILED'
  | 'ARCHIVED' // an off-site object is in an archive tier (GLACIER, DEEP_ARCHIVE): its restore was requested (exit 4)
  | 'ABORTED'
  | 'INTERNAL'

export class DbkeeperError extends Error {
  override readonly name = 'DbkeeperError'
  readonly code: ErrorCode
  readonly hint: string | undefined
  /** The last lines a failed tool printed on stderr (secrets scrubbed), for the alert and the journal. */
  readonly output: string | undefined

  constructor(code: ErrorCode, message: string, options: { hint?: string; cause?: unknown; output?: string } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause })
    this.code = code
    this.hint = options.hint
    this.output = options.output
  }
}

export const EXIT_OK = 0
export const EXIT_FAILED = 1
export const EXIT_USAGE = 2
export const EXIT_LOCKED = 3
/** `fetch`/`restore` asked an archive tier for a backup: nothing is wrong, run the same command again later. */
export const EXIT_ARCHIVED = 4

/** The single mapping from error kinds to process exit codes. */
export function exitCodeFor(error: unknown): number {
  if (error instanceof DbkeeperError) {
    if (error.code === 'CONFIG' || error.code === 'USAGE') return EXIT_USAGE
    if (error.code === 'LOCKED') return EXIT_LOCKED
    if (error.code === 'ARCHIVED') return EXIT_ARCHIVED
  }
  return EXIT_FAILED
}

/**
 * Wraps any thrown value as a DbkeeperError, translating the common Node file-system codes.
 * `writing`: the directory of the file being written when it is not on the backup volume (a
 * restore's target, `--to-file F`): a full disk or a refused write is then that file system's,
 * and sending the operator to free the backup volume would have them delete backups for nothing.
 */
export function toDbkeeperError(error: unknown, context?: string, writing?: string): DbkeeperError {
  if (error instanceof DbkeeperError) return error
  const err = error instanceof Error ? error : new Error(String(error))
  const sysCode = (err as NodeJS.ErrnoException).code
  const where = context ? `${context}: ` : ''
  const path = (err as NodeJS.ErrnoException).path
  if (sysCode === 'ENOSPC' || sysCode === 'EDQUOT' || sysCode === 'EFBIG') {
    const what =
      sysCode === 'EFBIG'
        ? 'file too large for a file size limit of the process or the file system'
        : 'no space left on device'
    return new DbkeeperError('NO_SPACE', `${where}${what}${path ? ` (${path})` : ''} (${sysCode})`, {
      hint:
        writing === undefined
          ? 'free space on the backup volume (BACKUP_DIR; `df -h` shows it) or keep fewer backups (KEEP_*, BACKUP_RETENTION_DAYS)'
          : `free space on the file system that holds ${writing} (\`df -h ${writing}\`; behind a bind mount: on the host), then run it again; the backup itself is fine`,
      cause: err,
    })
  }
  if (sysCode === 'EACCES' || sysCode === 'EPERM' || sysCode === 'EROFS') {
    return new DbkeeperError('IO', `${where}permission denied${path ? ` on ${path}` : ''} (${sysCode})`, {
      hint:
        writing === undefined
          ? 'make the backup volume writable by the user dbkeeper runs as (check BACKUP_DIR and its owner)'
          : `make ${writing} writable by the user dbkeeper runs as (a bind mount must be read-write)`,
      cause: err,
    })
  }
  if (err.name === 'AbortError') return new DbkeeperError('ABORTED', `${where}aborted`, { cause: err })
  return new DbkeeperError('IO', `${where}${err.message}`, { cause: err })
}

/** "message — hint" for one line of human output. */
export function describeError(error: unknown): string {
  const e = toDbkeeperError(error)
  return e.hint ? `${e.message} — ${e.hint}` : e.message
}
