/**
 * Durable file steps of the backup volume: write to a temporary name, fsync, rename, fsync the
 * directory. After a crash a file either has its old content, its new content, or does not exist
 * under its final name. The fsyncs, modes and directory creation are runtime/durable.ts's.
 */
import { open, rename, rm, chmod } from 'node:fs/promises'
import { dirname, join, basename } from 'node:path'
import { fsyncDir, fsyncPath, FILE_MODE } from '../../runtime/durable.js'
import { DbkeeperError, toDbkeeperError } from '../../runtime/errors.js'
import { failpoint } from '../../runtime/failpoint.js'

/** Writes `content` to `path` atomically (temporary name in the same directory, fsync, rename, fsync dir). */
export async function writeFileAtomic(path: string, content: string | Buffer): Promise<void> {
  const tmp = join(dirname(path), `.${basename(path)}.dbk-tmp`)
  try {
    const handle = await open(tmp, 'w', FILE_MODE)
    try {
      await handle.writeFile(content)
      await handle.sync()
    } finally {
      await handle.close()
    }
    failpoint('atomic-write.synced')
    await rename(tmp, path)
  } catch (error) {
    // A full disk fails the write: the temporary file must not stay behind.
    await rm(tmp, { force: true })
    throw error
  }
  await fsyncDir(dirname(path))
}

/** Renames into place and makes the rename durable. Refuses to replace an existing file. */
export async function commitRename(tmp: string, final: string): Promise<void> {
  await fsyncPath(tmp)
  await chmod(tmp, FILE_MODE)
  const { link, unlink } = await import('node:fs/promises')
  // link + unlink instead of rename: rename would silently replace a backup of the same name.
  await link(tmp, final)
  failpoint('commit.linked')
  await unlink(tmp)
  await fsyncDir(dirname(final))
}

/**
 * BACKUP_DIR unusable, as the operator should read it: a path through a file (ENOTDIR, EEXIST)
 * or one the file system will not create (ENOENT under /proc) is a configuration error (exit 2);
 * anything else (permissions, a full disk) keeps its own code.
 */
export function backupDirError(dir: string, error: unknown): DbkeeperError {
  const code = (error as NodeJS.ErrnoException).code
  if (code === 'ENOTDIR' || code === 'EEXIST') {
    return new DbkeeperError(
      'CONFIG',
      `BACKUP_DIR ${dir} is not a directory (it or a part of its path is a file) (${code})`,
      {
        hint: 'set BACKUP_DIR to a directory on the backup volume (it is created when missing)',
        cause: error,
      },
    )
  }
  if (code === 'ENOENT') {
    return new DbkeeperError('CONFIG', `BACKUP_DIR ${dir} cannot be created there: the file system refused (ENOENT)`, {
      hint: 'set BACKUP_DIR to a directory on the backup volume, or create it yourself (mkdir -p) and check the mount',
      cause: error,
    })
  }
  const e = toDbkeeperError(error, `backup directory ${dir}`)
  return new DbkeeperError(
    e.code === 'NO_SPACE' ? 'NO_SPACE' : 'IO',
    `cannot write to the backup directory ${dir}: ${e.message}`,
    {
      hint: 'check BACKUP_DIR: it must exist or be creatable, and be writable by the user dbkeeper runs as',
      cause: error,
    },
  )
}
