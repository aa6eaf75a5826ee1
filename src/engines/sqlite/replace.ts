/**
 * Putting a restored, checked SQLite file in the place of the live one.
 *
 * Normally by rename: atomic, readers see the old file or the new one. A file that is a mount
 * point of its own — the compose pattern `./app.db:/data/app.db`, a single-file bind mount —
 * cannot be renamed over (EBUSY; EXDEV across file systems): then the restored bytes are copied
 * into the existing inode instead, which is also what the host sees.
 *
 * The old `-wal`, `-shm` and `-journal` must not meet the new content: SQLite would replay the old
 * WAL's pages (or roll back the old journal) onto it and corrupt it. They are moved aside
 * (`.<name>-wal.dbk-old`) before the file is replaced, moved back when it was not, and removed only
 * once it was: never deleted before the replacement is known to have succeeded.
 *
 * The copy in place grows the file first (the bytes past the old end, then fsync) and overwrites
 * the old bytes only after that: a full file system fails the growth, which is cut off again, and
 * the old content stays as it was. Only an I/O error while overwriting leaves a mixed file, and the
 * message says so.
 */
import { open, readFile, realpath, rename, rm, stat, type FileHandle } from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'
import { DbkeeperError } from '../../runtime/errors.js'
import { fsyncPath } from '../../runtime/durable.js'

export const SQLITE_SIDE_FILES = ['-wal', '-shm', '-journal'] as const

/** How the file will be replaced, decided before anything is written. */
export interface ReplacePlan {
  inPlace: boolean
}

/**
 * Looks at the target and its side files before anything is written. Refuses (nothing changed)
 * when a side file is a mount point of its own: it can be neither moved aside nor left in place.
 */
export async function planReplace(target: string): Promise<ReplacePlan> {
  const mounts = await mountPoints()
  for (const suffix of SQLITE_SIDE_FILES) {
    const side = `${target}${suffix}`
    if (await isMountPoint(side, mounts)) {
      throw new DbkeeperError(
        'RESTORE_FAILED',
        `${side} is a mount point of its own: it cannot be moved aside, and left in place SQLite would apply the old ${suffix} to the restored file; ${target} was not changed`,
        {
          hint: `mount the directory that holds the database (e.g. ./data:${dirname(target)}) rather than single files; or write the backup to a file with --to-file F and, with the application stopped and ${side} checkpointed, put it in place yourself`,
        },
      )
    }
  }
  return { inPlace: await isMountPoint(target, mounts) }
}

/**
 * Replaces `target` by the checked file `tmp` (same directory). Rejects with a DbkeeperError whose
 * message says whether `target` was changed. Returns how it was done.
 */
export async function replaceSqliteFile(
  tmp: string,
  target: string,
  plan: ReplacePlan,
): Promise<'renamed' | 'copied in place'> {
  const dir = dirname(target)
  const aside = await moveSideFilesAside(target)
  let how: 'renamed' | 'copied in place' = 'renamed'
  try {
    if (!plan.inPlace) {
      try {
        await rename(tmp, target)
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code
        if (code !== 'EBUSY' && code !== 'EXDEV')
          throw new Untouched(`renaming the restored file over it failed (${code ?? String(error)})`, error)
        how = 'copied in place'
      }
    } else how = 'copied in place'
    if (how === 'copied in place') await overwriteInPlace(tmp, target)
    await fsyncPath(dir).catch((error: unknown) => {
      throw new Changed(
        `syncing ${dir} failed (${(error as NodeJS.ErrnoException).code ?? String(error)})`,
        'holds the restored database, but a power loss may undo that',
        error,
      )
    })
  } catch (error) {
    throw await describeFailure(error, target, aside)
  }
  for (const { at } of aside) await rm(at, { force: true })
  if (how === 'copied in place') await rm(tmp, { force: true })
  return how
}

/** A failure that left the target exactly as it was. */
class Untouched extends Error {
  constructor(
    readonly step: string,
    override readonly cause: unknown,
  ) {
    super(step)
  }
}

/** A failure after the target's bytes had begun to change: `state` says how. */
class Changed extends Error {
  constructor(
    readonly step: string,
    readonly state: string,
    override readonly cause: unknown,
  ) {
    super(step)
  }
}

async function describeFailure(error: unknown, target: string, aside: Aside[]): Promise<DbkeeperError> {
  const code = (error as { cause?: NodeJS.ErrnoException }).cause?.code
  if (error instanceof Untouched) {
    const back = await moveBack(aside)
    return new DbkeeperError(
      code === 'ENOSPC' || code === 'EDQUOT' ? 'NO_SPACE' : 'RESTORE_FAILED',
      `${error.step}: ${target} was not changed${back}`,
      {
        hint: hintFor(code, target),
        cause: error.cause,
      },
    )
  }
  const kept =
    aside.length > 0
      ? `; its old ${aside.map((a) => a.suffix).join(', ')} are kept at ${aside.map((a) => a.at).join(', ')} (do not put them back onto a restored file)`
      : ''
  const state = error instanceof Changed ? error.state : `is in an unknown state`
  const step = error instanceof Changed ? error.step : String(error)
  return new DbkeeperError('RESTORE_FAILED', `${step}: ${target} ${state}${kept}`, {
    hint: `${hintFor(code, target)}; then restore again`,
    cause: error instanceof Changed ? error.cause : error,
  })
}

function hintFor(code: string | undefined, target: string): string {
  if (code === 'ENOSPC' || code === 'EDQUOT')
    return `free space on the file system that holds ${target} (behind a bind mount: on the host)`
  if (code === 'EROFS' || code === 'EACCES' || code === 'EPERM')
    return `make ${target} and its directory writable by the user dbkeeper runs as (a bind mount must be read-write)`
  return 'see the log for the system error'
}

interface Aside {
  suffix: string
  from: string
  at: string
}

/** Moves every existing side file to `.<name><suffix>.dbk-old`, durably; all or none. */
async function moveSideFilesAside(target: string): Promise<Aside[]> {
  const moved: Aside[] = []
  for (const suffix of SQLITE_SIDE_FILES) {
    const from = `${target}${suffix}`
    if (
      !(await stat(from).then(
        () => true,
        () => false,
      ))
    )
      continue
    const at = join(dirname(target), `.${basename(target)}${suffix}.dbk-old`)
    try {
      await rename(from, at)
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code
      const back = await moveBack(moved)
      throw new DbkeeperError(
        'RESTORE_FAILED',
        `cannot move ${from} aside (${code ?? String(error)}): ${target} was not changed${back}`,
        {
          hint:
            code === 'EBUSY' || code === 'EXDEV'
              ? `${from} is a mount point of its own: mount the directory that holds the database rather than single files`
              : hintFor(code, target),
          cause: error,
        },
      )
    }
    moved.push({ suffix, from, at })
  }
  if (moved.length > 0) await fsyncPath(dirname(target))
  return moved
}

/** Puts the side files back; returns what to add to the message when that failed. */
async function moveBack(aside: Aside[]): Promise<string> {
  const stuck: string[] = []
  for (const a of aside) await rename(a.at, a.from).catch(() => stuck.push(`${a.from} is at ${a.at}`))
  return stuck.length > 0 ? ` (but ${stuck.join(', ')}: move it back before starting the application)` : ''
}

/** Copies `tmp` into the existing inode of `target`: grow first, then overwrite, truncate, fsync. */
async function overwriteInPlace(tmp: string, target: string): Promise<void> {
  let dst: FileHandle
  try {
    dst = await open(target, 'r+')
  } catch (error) {
    throw new Untouched(
      `${target} is a mount point, so the restored file was to be copied into it, but opening it for writing failed (${(error as NodeJS.ErrnoException).code ?? String(error)})`,
      error,
    )
  }
  const src = await open(tmp, 'r')
  try {
    const oldSize = (await dst.stat()).size
    const newSize = (await src.stat()).size
    if (newSize > oldSize) {
      try {
        await copyRange(src, dst, oldSize, newSize)
        await dst.sync()
      } catch (error) {
        const step = `${target} is a mount point, so the restored file was copied into it; growing it from ${oldSize} to ${newSize} bytes failed (${(error as NodeJS.ErrnoException).code ?? String(error)})`
        try {
          await dst.truncate(oldSize)
          await dst.sync()
        } catch {
          throw new Changed(
            step,
            `keeps its old bytes, but bytes past its old end (${oldSize}) could not be cut off again`,
            error,
          )
        }
        throw new Untouched(step, error)
      }
    }
    try {
      await copyRange(src, dst, 0, Math.min(oldSize, newSize))
      await dst.truncate(newSize)
      await dst.sync()
    } catch (error) {
      throw new Changed(
        `copying the restored file into ${target} (a mount point) failed while overwriting it (${(error as NodeJS.ErrnoException).code ?? String(error)})`,
        'is PARTLY OVERWRITTEN and not a usable database',
        error,
      )
    }
  } finally {
    await src.close()
    await dst.close()
  }
}

const CHUNK = 1 << 20

async function copyRange(src: FileHandle, dst: FileHandle, from: number, to: number): Promise<void> {
  const buf = Buffer.allocUnsafe(CHUNK)
  for (let at = from; at < to;) {
    const { bytesRead } = await src.read(buf, 0, Math.min(CHUNK, to - at), at)
    if (bytesRead === 0) throw new Error(`the restored file ended at ${at} bytes, before ${to}`)
    for (let done = 0; done < bytesRead;) done += (await dst.write(buf, done, bytesRead - done, at + done)).bytesWritten
    at += bytesRead
  }
}

/** Mount points of this process's mount namespace (/proc/self/mountinfo), or undefined off Linux. */
async function mountPoints(): Promise<Set<string> | undefined> {
  const text = await readFile('/proc/self/mountinfo', 'utf8').catch(() => undefined)
  if (text === undefined) return undefined
  // Field 5 is the mount point, with space, tab, newline and backslash written as \ooo.
  const unescape = (s: string) => s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)))
  return new Set(
    text
      .split('\n')
      .filter(Boolean)
      .map((line) => unescape(line.split(' ')[4] ?? '')),
  )
}

/** A file bind-mounted over another keeps the directory's st_dev, so mountinfo is asked first. */
async function isMountPoint(path: string, mounts: Set<string> | undefined): Promise<boolean> {
  const real = await realpath(path).catch(() => undefined)
  if (real === undefined) return false
  if (mounts) return mounts.has(real)
  const [file, dir] = await Promise.all([stat(real), stat(dirname(real))])
  return file.dev !== dir.dev
}
