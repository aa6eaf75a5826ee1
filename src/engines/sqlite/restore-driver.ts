/**
 * Restoring an SQLite snapshot: the file is written beside the target (`.<name>.dbk-restore`, same
 * directory, so the final rename is atomic), fsynced, checked with integrity_check, given the old
 * file's mode and owner, and put in the target's place (sqlite-replace.ts): renamed over it, so
 * that any reader sees the old database or the new one, or — when the target is a mount point of
 * its own, a single-file bind mount — copied into it. In place, only onto the file the backup was
 * taken from (path.ts), unless `--force-path`.
 *
 * The application must be stopped. A process that keeps the old file open keeps using the old
 * (now unlinked) inode and loses whatever it writes. The old `-wal`, `-shm` and `-journal` are
 * moved aside before the replacement and removed after it, because SQLite would otherwise replay
 * the old WAL's pages (or roll back the old journal) onto the new file, corrupting it. A crash in
 * between leaves them aside (`.<name>-wal.dbk-old`); the safety backup taken first holds the old
 * file's content including its WAL.
 *
 * A DBnn_PATH that is a symlink is restored onto the file it points at (real-target.ts), which is
 * where the application's data and its -wal are; a file with other hard links is refused.
 */
import { createWriteStream } from 'node:fs'
import { chmod, chown, rm, stat } from 'node:fs/promises'
import { dirname } from 'node:path'
import { pipeline } from 'node:stream/promises'
import { ensureDir, fsyncPath } from '../../runtime/durable.js'
import { DbkeeperError, toDbkeeperError } from '../../runtime/errors.js'
import {
  restoreTempPath,
  type BackupContent,
  type CountedTable,
  type DriverTarget,
  type RestoreDriver,
  type TargetState,
} from '../restore-driver.js'
import { childEnv, lastLines, runToolForOutput, shellWord } from '../subprocess.js'
import { childArgs } from './child.js'
import type { InspectResult } from './inspect-child.js'
import { checkSqlitePath } from './path.js'
import { realTarget, resolveLinks } from './real-target.js'
import { planReplace, replaceSqliteFile, SQLITE_SIDE_FILES } from './replace.js'

export type Inspection = Extract<InspectResult, { ok: true }>

export class SqliteDriver implements RestoreDriver {
  readonly exactCounts = true
  readonly label: string
  #inspected: Inspection | undefined

  constructor(private readonly t: DriverTarget) {
    this.label = `SQLite file ${t.target}`
  }

  async inspect(): Promise<TargetState> {
    const info = await stat(this.t.target).catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') return undefined
      throw toDbkeeperError(error, `reading ${this.t.target}`)
    })
    if (info && !info.isFile()) {
      throw new DbkeeperError('USAGE', `${this.t.target} is not a file`, {
        hint: `check ${this.t.source.id}_PATH: it must name the database file`,
      })
    }
    return { exists: info !== undefined, empty: info === undefined || info.size === 0 }
  }

  async prepare(): Promise<string[]> {
    const { real, line } = await realTarget(this.t.target, `${this.t.source.id}_PATH`)
    const from = this.t.backup.sqlitePath
    const realFrom = from === undefined ? undefined : await resolveLinks(from).catch(() => undefined)
    // In place (not a drill's scratch file): only onto the file the backup was taken from.
    const lines = this.t.replace
      ? checkSqlitePath(this.t.backup, this.t.source, this.t.forcePath === true, { from: realFrom, target: real })
      : []
    await planReplace(real)
    return line === undefined ? lines : [line, ...lines]
  }

  async load(content: BackupContent, state: TargetState, signal: AbortSignal): Promise<void> {
    // Again (after prepare): the file really written, never the symlink that names it.
    const target = (await realTarget(this.t.target, `${this.t.source.id}_PATH`)).real
    const dir = dirname(target)
    const tmp = restoreTempPath(target)
    await ensureDir(dir, 0o777)
    // Before anything is written (again after prepare).
    const plan = await planReplace(target)
    await rm(tmp, { force: true })
    try {
      await pipeline(content.stream, createWriteStream(tmp, { flags: 'wx', mode: 0o600 }), { signal })
      content.assertComplete()
      await fsyncPath(tmp)
      const inspected = await inspectSqliteFile(tmp, this.t.workDir, signal)
      // A backup in WAL mode gets an (empty) -wal and -shm from that read: they must not stay behind.
      for (const suffix of SQLITE_SIDE_FILES) await rm(`${tmp}${suffix}`, { force: true })
      if (inspected.integrity.length > 0) {
        throw new DbkeeperError(
          'RESTORE_FAILED',
          `the restored database fails integrity_check (${inspected.integrity.join('; ')}); ${target} was not changed`,
          {
            hint: 'restore an older backup (`dbkeeper list`) and run `dbkeeper verify --drill` on this one',
          },
        )
      }
      // The application opens the file as its own user: give the new file the old one's mode and
      // owner (or, for a new file, the directory's owner). chown needs root; without it, ours.
      const like = state.exists ? await stat(target) : undefined
      if (like) await chmod(tmp, like.mode & 0o7777)
      const owner = like ?? (await stat(dir))
      const notOwned = await chown(tmp, owner.uid, owner.gid).then(
        () => undefined,
        (error: NodeJS.ErrnoException) => ownerLost(target, owner, error),
      )
      await replaceSqliteFile(tmp, target, plan)
      this.#inspected = inspected
      // After the replacement, so that it is said only of a file that is really there.
      if (notOwned !== undefined) this.t.warn?.(notOwned)
    } catch (error) {
      for (const suffix of ['', ...SQLITE_SIDE_FILES]) await rm(`${tmp}${suffix}`, { force: true }).catch(() => {})
      const code = (error as NodeJS.ErrnoException).code
      if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS') {
        throw new DbkeeperError('IO', `cannot write in ${dir} (${code}), so ${target} was not replaced`, {
          hint: `mount the directory of ${this.t.source.id}_PATH read-write into this container, writable by the user dbkeeper runs as`,
          cause: error,
        })
      }
      // A raw system error comes from before the replacement (which throws its own, saying what it
      // changed): the target is untouched, and a full disk is the target's, not the backup volume's.
      throw toDbkeeperError(error, `writing the restored copy ${tmp} (${target} was not changed)`, dir)
    }
  }

  async count(signal: AbortSignal): Promise<{ tables: CountedTable[]; problems: string[] }> {
    // The file that was renamed into place is the one inspected before: no second full scan.
    const inspected = this.#inspected ?? (await inspectSqliteFile(this.t.target, this.t.workDir, signal))
    return {
      tables: inspected.tables.map((t) => ({ name: t.name, rows: t.rows })),
      problems: inspected.integrity.map((p) => `integrity_check: ${p}`),
    }
  }

  async discard(): Promise<void> {
    for (const suffix of ['', ...SQLITE_SIDE_FILES]) await rm(`${this.t.target}${suffix}`, { force: true })
  }
}

/**
 * The warning when the restored file could not be given `owner` (chown needs root): the
 * application, running as that owner, may be unable to write it. Undefined when the file is ours
 * anyway (the owner is the process's own user and group).
 */
function ownerLost(
  target: string,
  owner: { uid: number; gid: number },
  error: NodeJS.ErrnoException,
): string | undefined {
  const uid = process.getuid?.()
  const gid = process.getgid?.()
  if (owner.uid === uid && owner.gid === gid) return undefined
  return `${target} could not be given its owner ${owner.uid}:${owner.gid} (${error.code ?? String(error)}: dbkeeper runs as ${uid ?? '?'}:${gid ?? '?'}, not as root), so it is owned by ${uid ?? '?'}:${gid ?? '?'} now and the application may not be able to write it; give it back as root: chown ${owner.uid}:${owner.gid} ${shellWord(target)}`
}

/** integrity_check, exact row counts and content digests of an SQLite file, in a child process. */
export async function inspectSqliteFile(path: string, workDir: string, signal: AbortSignal): Promise<Inspection> {
  const r = await runToolForOutput(process.execPath, [...childArgs('inspect-child'), path], {
    env: childEnv({ SQLITE_TMPDIR: workDir }),
    signal,
    abortedMessage: `checking ${path} was stopped`,
    stderr: { keep: 'tail', bytes: 64 * 1024 },
  })
  let answer: InspectResult | undefined
  try {
    answer = JSON.parse(r.stdout.trim().split('\n').at(-1) ?? '') as InspectResult
  } catch {
    answer = undefined
  }
  if (answer === undefined || r.exitCode !== 0) {
    throw new DbkeeperError(
      'RESTORE_FAILED',
      `checking the SQLite file ${path} failed (exit ${r.exitCode ?? r.signal ?? '?'}): ${lastLines(r.stderr, 5)}`,
      {
        hint: 'see the log; a kill by SIGKILL usually means the container ran out of memory',
      },
    )
  }
  if (!answer.ok) {
    throw new DbkeeperError(
      'RESTORE_FAILED',
      `${path} is not a readable SQLite database: ${answer.code}: ${answer.message}`,
      {
        hint: 'the backup may be damaged: run `dbkeeper verify` on it, or restore an older one',
      },
    )
  }
  return answer
}
