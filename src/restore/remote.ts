/**
 * The S3 side of locating a backup (locate.ts, `RemoteBackups`): the off-site backups listed from
 * their manifest objects, and one brought onto the volume by `fetchBackup` (pipeline/fetch.ts) —
 * downloaded to a temporary name, size and sha256 checked, decompressed to the end, committed as a
 * run commits (catalog/repository.ts), which returns its entry. A tampered or damaged object never
 * reaches the volume under its name.
 */
import { listEntries, type CatalogEntry } from '../catalog/catalog.js'
import type { Config } from '../config/types.js'
import { fetchBackup } from '../pipeline/fetch.js'
import { DbkeeperError } from '../runtime/errors.js'
import type { Logger } from '../runtime/logger.js'
import { openS3Target } from '../storage/s3/index.js'
import type { Target } from '../storage/target.js'
import type { RemoteBackups } from './locate.js'

/** The configured S3 copy; undefined without S3_BUCKET. The bucket is contacted only when asked. */
export function s3Backups(config: Config, opts: { logger: Logger; signal: AbortSignal }): RemoteBackups | undefined {
  const s3 = config.s3
  if (!s3) return undefined
  let opened: Target | undefined
  const target = (): Target => (opened ??= openS3Target(s3, { logger: opts.logger, signal: opts.signal }))
  return {
    description: `s3://${s3.bucket}/${s3.prefix}`,
    list: (source, database) => listEntries(target(), { source, database }),
    url: (entry) => target().url(entry.dataKey),
    async fetch(entry) {
      const m = entry.manifest
      const got = await fetchBackup({
        config,
        source: m.source,
        id: m.id,
        database: m.database,
        entry,
        target: target(),
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
