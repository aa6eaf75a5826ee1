/**
 * The newest proven backup of each source/database, pure. Shared by status, health, metrics,
 * alerts and `latest` so that all of them agree on what "the last good backup" is; the order
 * itself (which time, what a clock that jumped means) is order.ts's.
 */
import type { CatalogEntry } from './catalog.js'
import { isFromTheFuture, isNewer } from './order.js'

/** `source/database` — the key every per-database map in the daemon uses. */
export function databaseKey(source: string, database: string): string {
  return `${source}/${database}`
}

/**
 * A backup counts when its manifest is valid and its data file matches it (no `problem`). The
 * safety dump a restore takes first does not: it says nothing about scheduled backups succeeding.
 */
export function isProvenBackup(entry: Pick<CatalogEntry, 'manifest' | 'problem'>): boolean {
  return entry.problem === undefined && entry.manifest.kind !== 'pre-restore'
}

/**
 * Newest proven backup per `source/database` key. `backups` may be in any order. Backups stamped
 * in the future of `now` (order.ts) are never the newest: see `futureBackups`.
 */
export function latestProvenBackups(backups: readonly CatalogEntry[], now: Date): Map<string, CatalogEntry> {
  const out = new Map<string, CatalogEntry>()
  for (const entry of backups) {
    if (!mayBeNewest(entry, now)) continue
    const key = databaseKey(entry.manifest.source, entry.manifest.database)
    const seen = out.get(key)
    if (!seen || isNewer(entry.manifest, seen.manifest)) out.set(key, entry)
  }
  return out
}

/** A proven backup that is not stamped in the future: one that may be called the newest. */
export function mayBeNewest(entry: Pick<CatalogEntry, 'manifest' | 'problem'>, now: Date): boolean {
  return isProvenBackup(entry) && !isFromTheFuture(entry.manifest, now)
}

/** The newest of `entries` that is proven and not from the future; undefined when there is none. */
export function newestProven<T extends Pick<CatalogEntry, 'manifest' | 'problem'>>(
  entries: readonly T[],
  now: Date,
): T | undefined {
  let best: T | undefined
  for (const e of entries) {
    if (!mayBeNewest(e, now)) continue
    if (!best || isNewer(e.manifest, best.manifest)) best = e
  }
  return best
}

/** The entries stamped in the future of `now` (any kind, damaged or not): to be reported. */
export function futureBackups<T extends Pick<CatalogEntry, 'manifest'>>(entries: readonly T[], now: Date): T[] {
  return entries.filter((e) => isFromTheFuture(e.manifest, now))
}
