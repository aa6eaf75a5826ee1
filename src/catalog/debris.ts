/**
 * Removes what killed runs left behind, under the run lock (so no live run owns it): temporary
 * files (`.<name>.dbk-tmp`) in our database directories, data files of our naming whose manifest
 * never got written (killed between rename and manifest), and old per-run work directories.
 * Only names that dbkeeper writes are touched; anything else in the directories is left alone.
 */
import { readdir, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { failpoint } from '../runtime/failpoint.js'
import type { Logger } from '../runtime/logger.js'
import { CHECKSUM_SUFFIX, MANIFEST_SUFFIX, STATE_DIR, isTempName, parseDataFileName } from './naming.js'

async function entries(dir: string): Promise<{ name: string; isDir: boolean }[]> {
  try {
    return (await readdir(dir, { withFileTypes: true })).map((e) => ({ name: e.name, isDir: e.isDirectory() }))
  } catch {
    return []
  }
}

/** A name this directory's backups would have: `<dir name>_<stamp>.<ext>`; another job's files never match. */
function isOurDataFile(name: string, dirName: string): boolean {
  const parsed = parseDataFileName(name)
  return parsed !== undefined && parsed.id === `${dirName}_${parsed.stamp}`
}

export async function cleanDebris(backupDir: string, logger?: Logger): Promise<string[]> {
  const removed: string[] = []
  const remove = async (path: string, why: string) => {
    await rm(path, { force: true, recursive: true })
    removed.push(path)
    logger?.info({ path }, `removed debris of an interrupted run: ${why}`)
    failpoint('debris.removed')
  }
  for (const source of await entries(backupDir)) {
    if (!source.isDir || source.name === STATE_DIR) continue
    for (const db of await entries(join(backupDir, source.name))) {
      if (!db.isDir) continue
      const dir = join(backupDir, source.name, db.name)
      const files = await entries(dir)
      const names = new Set(files.map((f) => f.name))
      for (const f of files) {
        if (f.isDir) continue
        if (isTempName(f.name)) await remove(join(dir, f.name), 'temporary file')
        else if (isOurDataFile(f.name, db.name) && !names.has(`${f.name}${MANIFEST_SUFFIX}`)) {
          await remove(join(dir, f.name), 'data file without manifest (never committed)')
          if (names.has(`${f.name}${CHECKSUM_SUFFIX}`))
            await remove(join(dir, `${f.name}${CHECKSUM_SUFFIX}`), 'checksum of an uncommitted file')
        } else if (f.name.endsWith(CHECKSUM_SUFFIX)) {
          const data = f.name.slice(0, -CHECKSUM_SUFFIX.length)
          if (isOurDataFile(data, db.name) && !names.has(data))
            await remove(join(dir, f.name), 'checksum of a file that was never committed')
        }
      }
    }
  }
  for (const work of await entries(join(backupDir, STATE_DIR, 'tmp'))) {
    await remove(join(backupDir, STATE_DIR, 'tmp', work.name), 'work directory')
  }
  return removed
}
