/**
 * Durable file primitives for the backup volume: write to a temporary name, fsync, rename, fsync
 * the directory. After a crash a file either has its old content, its new content, or does not
 * exist under its final name.
 */
import { constants } from 'node:fs'
import { mkdir, open, rename, rm, chmod } from 'node:fs/promises'
import { dirname, join, basename } from 'node:path'
import { failpoint } from '../../runtime/failpoint.js'

export const FILE_MODE = 0o600
export const DIR_MODE = 0o700

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

/** Creates the directory chain with 0700 for the directories it creates. */
export async function ensureDir(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true, mode: DIR_MODE })
}

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
