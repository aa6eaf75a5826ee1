/**
 * The newest proven backup of each source/database, pure. Shared by status, health, metrics and
 * alerts so that all four agree on what "the last good backup" is.
 */
import type { CatalogEntry } from './catalog.js'

/** `source/database` — the key every per-database map in the daemon uses. */
export function databaseKey(source: string, database: string): string {
  return `${source}/${database}`
}

/**
 * A backup counts when its manifest is valid and its data file matches it (no `problem`). The
 * safety dump a restore takes first does not: it says nothing about scheduled backups succeeding.
 */
export function isProvenBackup(entry: CatalogEntry): boolean {
  return entry.problem === undefined && entry.manifest.kind !== 'pre-restore'
}

/** Newest proven backup per `source/database` key. `backups` may be in any order. */
export function latestProvenBackups(backups: readonly CatalogEntry[]): Map<string, CatalogEntry> {
  const out = new Map<string, CatalogEntry>()
  for (const entry of backups) {
    if (!isProvenBackup(entry)) continue
    const key = databaseKey(entry.manifest.source, entry.manifest.database)
    const seen = out.get(key)
    if (!seen || entry.manifest.finishedAt > seen.manifest.finishedAt) out.set(key, entry)
  }
  return out
}
