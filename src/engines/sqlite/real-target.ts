/**
 * The file a restore in place really writes. DBnn_PATH may be a symlink (`/data/app.db ->
 * ../real/app.db`): a rename over the link would replace the link by a regular file and leave the
 * real database — the one the application may open by its real path, and whose -wal SQLite keeps
 * beside it — with the old content. So the restore goes onto the end of the chain of links: the
 * temporary file beside it, its -wal/-shm moved aside, the rename over it.
 *
 * A file with other hard links cannot be replaced by a rename at all (the other names keep the old
 * inode): refused before anything is touched.
 */
import { lstat, readlink, realpath, stat } from 'node:fs/promises'
import { basename, dirname, join, resolve } from 'node:path'
import { DbkeeperError } from '../../runtime/errors.js'

/** Symlinks followed before giving up, as the kernel does (ELOOP). */
const MAX_LINKS = 40

/**
 * `path` with every symlink resolved, also when the last link points at a file that does not
 * exist yet (a first restore onto a dangling link creates the file the link names).
 */
export async function resolveLinks(path: string): Promise<string> {
  let at = resolve(path)
  for (let hops = 0; hops < MAX_LINKS; hops++) {
    try {
      return await realpath(at)
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error
    }
    const link = await readlink(at).catch(() => undefined)
    if (link === undefined) {
      // `at` itself does not exist: only its directory can still be reached through links.
      const dir = await realpath(dirname(at)).catch(() => dirname(at))
      return join(dir, basename(at))
    }
    at = resolve(dirname(at), link)
  }
  throw new DbkeeperError(
    'USAGE',
    `${path}: more than ${MAX_LINKS} symlinks in a chain (a loop?); nothing was changed`,
    {
      hint: `point the database path at the real file (readlink -f ${path})`,
    },
  )
}

export interface RealTarget {
  /** The file written: `path` with its symlinks resolved. */
  real: string
  /** For the operator when `real` is not the configured path; else undefined. */
  line: string | undefined
}

/**
 * Where a restore onto `path` (named by `setting`, e.g. DB01_PATH) goes; refuses a file with other
 * hard links. Reads only.
 */
export async function realTarget(path: string, setting: string): Promise<RealTarget> {
  const configured = resolve(path)
  const real = await resolveLinks(configured)
  const info = await stat(real).catch(() => undefined)
  if (info?.isFile() && info.nlink > 1) {
    throw new DbkeeperError(
      'USAGE',
      `${real} has ${info.nlink} hard links: renaming the restored file over it would leave the other ${info.nlink - 1} with the old content; nothing was changed`,
      {
        hint: `write the backup elsewhere with --to-file F, then, with the application stopped, copy it into the shared file (cp F ${real}, and remove ${real}-wal and ${real}-shm); or remove the other links (find / -xdev -samefile ${real}) and restore again`,
      },
    )
  }
  if (real === configured) return { real, line: undefined }
  const isLink = await lstat(configured).then(
    (st) => st.isSymbolicLink(),
    () => false,
  )
  return {
    real,
    line: `${setting} ${configured} ${isLink ? 'is a symlink to' : 'lies in a symlinked directory, really'} ${real}: restoring onto ${real}`,
  }
}
