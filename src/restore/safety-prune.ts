/**
 * Expiry of the `pre-restore` safety backups. Normal retention never counts or removes them
 * (retention/safety.ts), so they need their own rule: kept SAFETY_KEEP_DAYS days from when they
 * were taken, then removed by the next `dbkeeper restore` (which holds the volume lock), across
 * the whole volume. Deletion order as in retention/apply.ts: the manifest first and durably (a
 * crash then leaves unlisted debris, never a listed backup without data), then data and `.sha256`.
 */
import { unlink } from 'node:fs/promises'
import { basename, dirname } from 'node:path'
import { listBackups, type CatalogEntry } from '../catalog/catalog.js'
import { CHECKSUM_SUFFIX, MANIFEST_SUFFIX } from '../catalog/naming.js'
import type { Logger } from '../runtime/logger.js'
import { fsyncDir } from '../storage/local/files.js'

const DAY_MS = 86_400_000

/** Pure: the safety backups older than `keepDays` at `now`. Damaged ones are left for an operator. */
export function expiredSafetyBackups(entries: readonly CatalogEntry[], keepDays: number, now: Date): CatalogEntry[] {
  const cutoff = now.getTime() - keepDays * DAY_MS
  return entries.filter((e) => {
    if (e.manifest.kind !== 'pre-restore' || e.problem !== undefined) return false
    const taken = Date.parse(e.manifest.startedAt)
    return Number.isFinite(taken) && taken < cutoff
  })
}

/** Removes the expired safety backups; returns the data files removed. Never throws for one file. */
export async function pruneSafetyBackups(backupDir: string, keepDays: number, now: Date, logger?: Logger): Promise<string[]> {
  const removed: string[] = []
  for (const entry of expiredSafetyBackups(await listBackups(backupDir), keepDays, now)) {
    try {
      await removeEntry(entry)
      removed.push(entry.dataPath)
      logger?.info({ backup: entry.manifest.id, file: entry.dataPath }, `removed safety backup older than SAFETY_KEEP_DAYS=${keepDays}`)
    } catch (error) {
      logger?.warn({ backup: entry.manifest.id, err: error }, `could not remove expired safety backup ${entry.dataPath}; the next restore tries again`)
    }
  }
  return removed
}

async function removeEntry(entry: CatalogEntry): Promise<void> {
  const dir = dirname(entry.dataPath)
  // The catalog derived both paths from the manifest; refuse anything that does not fit that shape.
  if (entry.manifestPath !== `${entry.dataPath}${MANIFEST_SUFFIX}` || basename(entry.dataPath) !== entry.manifest.file) {
    throw new Error(`paths of ${entry.manifestPath} do not match its manifest`)
  }
  await unlinkIfPresent(entry.manifestPath)
  await fsyncDir(dir)
  await unlinkIfPresent(entry.dataPath)
  await unlinkIfPresent(`${entry.dataPath}${CHECKSUM_SUFFIX}`)
  await fsyncDir(dir)
}

async function unlinkIfPresent(path: string): Promise<void> {
  await unlink(path).catch((error: NodeJS.ErrnoException) => {
    if (error.code !== 'ENOENT') throw error
  })
}
