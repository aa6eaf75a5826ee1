/**
 * `restore --to-file F`: the decompressed content of a proven backup (an SQL dump, a custom-format
 * archive or an SQLite database) written to F, touching no database. Written like a backup: a
 * temporary name beside F, fsync, checked against the manifest's raw sha256, then linked into place
 * (never over an existing file), so F is either absent or complete.
 */
import { createWriteStream } from 'node:fs'
import { rm, stat } from 'node:fs/promises'
import { dirname, resolve } from 'node:path'
import { pipeline } from 'node:stream/promises'
import type { CatalogEntry } from '../catalog/catalog.js'
import type { DecryptionKeys } from '../config/types.js'
import { restoreTempPath } from '../engines/restore-driver.js'
import { DbkeeperError, toDbkeeperError } from '../runtime/errors.js'
import { FILE_MODE } from '../runtime/durable.js'
import { commitRename } from '../storage/local/files.js'
import { openContent } from './content.js'

export async function writeContentToFile(
  entry: CatalogEntry,
  file: string,
  signal: AbortSignal | undefined,
  keys: DecryptionKeys | undefined,
): Promise<{ path: string; size: number }> {
  const path = await checkToFilePath(file)
  const tmp = restoreTempPath(path)
  await rm(tmp, { force: true })
  const content = openContent(entry, keys)
  try {
    await pipeline(content.stream, createWriteStream(tmp, { flags: 'wx', mode: FILE_MODE }), signal ? { signal } : {})
    content.assertComplete()
    await commitRename(tmp, path)
  } catch (error) {
    await rm(tmp, { force: true })
    // F's own file system, not the backup volume: that is where space or permission is missing.
    const e = toDbkeeperError(error, `writing ${path}`, dirname(path))
    if (e.code === 'IO' && (error as NodeJS.ErrnoException).code === 'EEXIST') {
      throw new DbkeeperError(
        'USAGE',
        `${path} appeared while it was being written: --to-file never overwrites a file`,
        { hint: 'choose another name' },
      )
    }
    throw e
  }
  return { path, size: entry.manifest.raw.size }
}

/**
 * The absolute path `--to-file` may write: refused when it exists (never overwritten) or when its
 * directory is missing or not a directory, each with the next step. Nothing is written here.
 */
export async function checkToFilePath(file: string): Promise<string> {
  const path = resolve(file)
  if (
    await stat(path).then(
      () => true,
      () => false,
    )
  ) {
    throw new DbkeeperError('USAGE', `${path} already exists: --to-file never overwrites a file`, {
      hint: 'choose another name, or move the file away first',
    })
  }
  // Checked first: otherwise the error is a raw ENOENT naming our temporary file, not the directory.
  const dir = dirname(path)
  const isDir = await stat(dir).then(
    (st) => st.isDirectory(),
    () => undefined,
  )
  if (isDir !== true) {
    throw new DbkeeperError(
      'USAGE',
      `cannot write ${path}: the directory ${dir} ${isDir === false ? 'is not a directory' : 'does not exist'}`,
      {
        hint: `create it first (mkdir -p ${dir}) or choose another --to-file path; nothing was written`,
      },
    )
  }
  return path
}
