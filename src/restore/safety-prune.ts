/**
 * Expiry of the `pre-restore` safety backups. Normal retention never counts or removes them
 * (retention/safety.ts), so they need their own rule: kept SAFETY_KEEP_DAYS days from when they
 * were taken, then removed by the next `dbkeeper restore` (which holds the volume lock), across
 * the whole volume. Deleted as retention deletes (retention/apply.ts removeBackup): the manifest
 * first and durably (a crash then leaves unlisted debris, never a listed backup without data),
 * then data and `.sha256`.
 */
import { listBackups, type CatalogEntry } from '../catalog/catalog.js'
import { removeBackup } from '../retention/apply.js'
import type { Logger } from '../runtime/logger.js'

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
export async function pruneSafetyBackups(
  backupDir: string,
  keepDays: number,
  now: Date,
  logger?: Logger,
): Promise<string[]> {
  const removed: string[] = []
  for (const entry of expiredSafetyBackups(await listBackups(backupDir), keepDays, now)) {
    try {
      await removeBackup(entry)
      removed.push(entry.dataPath)
      logger?.info(
        { backup: entry.manifest.id, file: entry.dataPath },
        `removed safety backup older than SAFETY_KEEP_DAYS=${keepDays}`,
      )
    } catch (error) {
      logger?.warn(
        { backup: entry.manifest.id, err: error },
        `could not remove expired safety backup ${entry.dataPath}; the next restore tries again`,
      )
    }
  }
  return removed
}
