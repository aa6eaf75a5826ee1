/**
 * The S3 side of locating a backup (locate.ts, `RemoteBackups`): the off-site backups listed from
 * their manifest objects, and one brought onto the volume by `fetchBackup` (pipeline/fetch.ts) —
 * downloaded to a temporary name, size and sha256 checked, decompressed to the end, committed as a
 * run commits (catalog/repository.ts), which returns its entry. A tampered or damaged object never
 * reaches the volume under its name.
 */
import type { CatalogEntry } from '../catalog/catalog.js'
import type { Config } from '../config/types.js'
import { fetchBackup } from '../pipeline/fetch.js'
import { DbkeeperError } from '../runtime/errors.js'
import type { Logger } from '../runtime/logger.js'
import { openRemoteTargets } from '../pipeline/remote-targets.js'
import type { RemoteBackups } from './locate.js'

/**
 * The configured targets, in order (pipeline/remote-targets.ts: one that is down is skipped with a
 * warning); undefined without S3_BUCKET. The buckets are contacted only when asked.
 */
export function s3Backups(config: Config, opts: { logger: Logger; signal: AbortSignal }): RemoteBackups | undefined {
  const remote = openRemoteTargets(config, opts)
  if (!remote) return undefined
  return {
    description: remote.description,
    list: (source, database) => remote.list(source, database),
    url: (entry) => entry.target.url(entry.dataKey),
    async fetch(entry) {
      const m = entry.manifest
      const got = await fetchBackup({
        config,
        source: m.source,
        id: m.id,
        database: m.database,
        entry,
        alternatives: remote.alternatives(entry),
        logger: opts.logger,
        signal: opts.signal,
      })
      // The entry its commit returned (or the one on the volume already): the directory is not listed again.
      const local: CatalogEntry | undefined = got.entry
      if (!local)
        throw new DbkeeperError('INTERNAL', `${got.path} was fetched but is not listed on the volume`, {
          hint: 'run `dbkeeper list` and report this',
        })
      return local
    },
  }
}
