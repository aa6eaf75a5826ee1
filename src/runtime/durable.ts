/**
 * File durability, nothing more: the modes dbkeeper creates files and directories with, fsync of a
 * file or a directory, and a directory chain created one level at a time. Below every layer that
 * writes files — the volume (storage/local/), the catalog, and the SQLite restore driver, which
 * puts a database file back and must not import storage/.
 */
import { constants } from 'node:fs'
import { mkdir, open, stat } from 'node:fs/promises'
import { dirname, sep } from 'node:path'

export const FILE_MODE = 0o600
export const DIR_MODE = 0o700

/** fsync of a file or a directory (opened read-only: a directory cannot be opened to write). */
export async function fsyncPath(path: string): Promise<void> {
  const handle = await open(path, constants.O_RDONLY)
  try {
    await handle.sync()
  } finally {
    await handle.close()
  }
}

/** Makes a rename or unlink in `dir` durable. */
export async function fsyncDir(dir: string): Promise<void> {
  await fsyncPath(dir)
}

/**
 * Creates the directory chain with `mode` for the directories it creates, one level at a time.
 * Not `mkdir({ recursive: true })`: Node's loops forever at 100% CPU, deaf to SIGTERM, where
 * mkdir answers ENOENT under an existing parent (`/proc/x`). Fails with ENOTDIR when a part of the
 * path is a file.
 *
 * `within`: a directory that must already exist; it and its ancestors are never created (ENOENT
 * instead). Under BACKUP_DIR it is BACKUP_DIR's parent: a volume that vanished mid-run (unmounted)
 * is not re-created on the disk beneath it by the run's next write.
 */
export async function ensureDir(dir: string, mode = DIR_MODE, within?: string): Promise<void> {
  try {
    await mkdir(dir, { mode })
    return
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    if (code === 'EEXIST') {
      if ((await stat(dir)).isDirectory()) return
      throw Object.assign(new Error(`ENOTDIR: not a directory, mkdir '${dir}'`), { code: 'ENOTDIR', path: dir })
    }
    const parent = dirname(dir)
    if (code !== 'ENOENT' || parent === dir) throw error
    if (within !== undefined && (parent === within || !isInside(parent, within)))
      throw Object.assign(new Error(`ENOENT: ${parent} does not exist (not created: it must exist), mkdir '${dir}'`), {
        code: 'ENOENT',
        path: parent,
      })
    await ensureDir(parent, mode, within)
  }
  // The parent exists now: a second ENOENT is the file system's answer (e.g. /proc), not a race.
  await mkdir(dir, { mode }).catch(async (error: NodeJS.ErrnoException) => {
    if (error.code !== 'EEXIST' || !(await stat(dir)).isDirectory()) throw error
  })
}

function isInside(path: string, dir: string): boolean {
  return path.startsWith(dir.endsWith(sep) ? dir : `${dir}${sep}`)
}
