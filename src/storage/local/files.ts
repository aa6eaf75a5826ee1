/**
 * Durable file steps of the backup volume: write to a temporary name, fsync, rename, fsync the
 * directory. After a crash a file either has its old content, its new content, or does not exist
 * under its final name. The fsyncs, modes and directory creation are runtime/durable.ts's.
 */
import { open, rename, rm, chmod } from 'node:fs/promises'
import { dirname, join, basename } from 'node:path'
import { fsyncDir, fsyncPath, FILE_MODE } from '../../runtime/durable.js'
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

/**
 * Renames into place and makes the rename durable. Refuses to replace an existing file. `synced`:
 * an fsync of `tmp` the caller started earlier (PendingBackup.syncData), awaited instead of a new
 * one: the data is on disk before its name is, either way.
 */
export async function commitRename(tmp: string, final: string, synced?: Promise<void>): Promise<void> {
  await (synced ?? fsyncPath(tmp))
  await chmod(tmp, FILE_MODE)
  const { link, unlink } = await import('node:fs/promises')
  // link + unlink instead of rename: rename would silently replace a backup of the same name.
  await link(tmp, final)
  failpoint('commit.linked')
  await unlink(tmp)
  await fsyncDir(dirname(final))
}
