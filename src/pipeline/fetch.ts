/**
 * Bringing an off-site backup back, proven as a new backup would be: download to a temporary
 * name, check size and sha256 against the manifest object, decompress it to the end and check the
 * raw size and sha256, and only then link it into place (never over an existing file) and write
 * its manifest, last. A damaged or tampered object never reaches the volume under its name.
 */
import { createWriteStream } from 'node:fs'
import { rm, stat } from 'node:fs/promises'
import { basename, dirname, join, resolve } from 'node:path'
import { pipeline } from 'node:stream/promises'
import { encodeManifest, type Manifest } from '../catalog/manifest.js'
import { CHECKSUM_SUFFIX, MANIFEST_SUFFIX, databaseDir, tempName } from '../catalog/naming.js'
import { listRemoteBackups, type RemoteEntry } from '../catalog/remote.js'
import type { Config } from '../config/types.js'
import { DbkeeperError, toDbkeeperError } from '../runtime/errors.js'
import type { Logger } from '../runtime/logger.js'
import { commitRename, ensureDir, FILE_MODE, writeFileAtomic } from '../storage/local/files.js'
import { openS3Target } from '../storage/s3/index.js'
import type { Target } from '../storage/target.js'
import { compressionOf } from './compression.js'
import { Meter } from './meter.js'
import { verifyBackupFile } from './verify.js'

export interface FetchArgs {
  config: Config
  /** The source's label. */
  source: string
  /** A backup id (`shop_20261122T030405Z`) or `latest`: the newest proven off-site backup. */
  id: string
  /** Needed with `latest` when the source has several databases off-site. */
  database?: string
  /** Write the backup to this file instead of the volume; an existing file is refused. */
  to?: string
  logger: Logger
  signal: AbortSignal
  /** Defaults to the configured S3 target (with retries). */
  target?: Target
  /** The off-site backup, already chosen from `listRemoteBackups(target)` (restore, verify): `id` is not looked up again. */
  entry?: RemoteEntry
}

export interface FetchedBackup {
  manifest: Manifest
  /** Where the verified backup now is (on the volume, or `to`). */
  path: string
  /** The off-site object it came from. */
  url: string
  /** It was on the volume already (nothing was downloaded). */
  alreadyLocal: boolean
}

/**
 * Downloads and proves one off-site backup. The caller holds the volume lock when `to` is not
 * given (the file goes into a backup directory that a run's debris cleanup also visits).
 */
export async function fetchBackup(args: FetchArgs): Promise<FetchedBackup> {
  if (!args.config.s3 && !args.target) {
    throw new DbkeeperError('CONFIG', 'there is no off-site copy to fetch from: S3_BUCKET is not set', { hint: 'set S3_BUCKET (and the other S3_* variables, docs/CONFIGURATION.md)' })
  }
  const target = args.target ?? openS3Target(args.config.s3!, { logger: args.logger, signal: args.signal })
  const entry = args.entry ?? chooseEntry(await listRemoteBackups(target, { source: args.source, database: args.database }), args)
  const m = entry.manifest
  const url = target.url(entry.dataKey)
  const dest = args.to ? resolve(args.to) : join(databaseDir(args.config.backupDir, m.source, m.database), m.file)
  if (await stat(dest).then(() => true, () => false)) {
    if (!args.to && (await stat(`${dest}${MANIFEST_SUFFIX}`).then(() => true, () => false))) return { manifest: m, path: dest, url, alreadyLocal: true }
    throw new DbkeeperError('USAGE', `${dest} exists already; it is not replaced`, { hint: args.to ? 'choose another --to file or remove that one' : 'move the file away (it has no manifest: it is not a backup) and fetch again' })
  }
  await ensureDir(dirname(dest))
  const tmp = join(dirname(dest), tempName(basename(dest)))
  try {
    const compressed = new Meter(false)
    await pipeline(await target.get(entry.dataKey, args.signal), compressed, createWriteStream(tmp, { flags: 'wx', mode: FILE_MODE }), { signal: args.signal })
    const got = compressed.result()
    if (got.size !== m.compressed.size || got.sha256 !== m.compressed.sha256) {
      throw new DbkeeperError('VERIFY_FAILED', `the off-site copy ${url} does not match its manifest: ${got.size} bytes with sha256 ${got.sha256}, expected ${m.compressed.size} bytes with sha256 ${m.compressed.sha256}`, {
        hint: 'the object was changed or damaged in the bucket: do not restore from it; fetch an older backup (dbkeeper list shows them)',
      })
    }
    // The raw sha256 is the one measured when the dump was proven, so matching it also carries
    // over that run's end-of-dump check: these are the very bytes it checked.
    await verifyBackupFile(tmp, compressionOf(m), { raw: m.raw, compressed: m.compressed }, args.signal)
    if (!args.to) await writeFileAtomic(`${dest}${CHECKSUM_SUFFIX}`, `${m.compressed.sha256}  ${m.file}\n`)
    await commitRename(tmp, dest)
  } catch (error) {
    await rm(tmp, { force: true })
    throw toDbkeeperError(error, `fetching ${url}`)
  }
  const local: Manifest = { ...m, locations: { local: dest, s3: url } }
  if (!args.to) await writeFileAtomic(`${dest}${MANIFEST_SUFFIX}`, encodeManifest(local))
  args.logger.info({ url, path: dest }, 'fetched and verified an off-site backup')
  return { manifest: local, path: dest, url, alreadyLocal: false }
}

function chooseEntry(entries: RemoteEntry[], args: FetchArgs): RemoteEntry {
  const where = `${args.source}${args.database ? `/${args.database}` : ''}`
  const listHint = `dbkeeper list ${args.source}${args.database ? ` --database ${args.database}` : ''} shows what is there`
  if (args.id !== 'latest') {
    const hit = entries.find((e) => e.manifest.id === args.id)
    if (!hit) throw new DbkeeperError('NOT_FOUND', `no off-site backup ${args.id} of ${where}`, { hint: listHint })
    if (hit.problem) throw new DbkeeperError('VERIFY_FAILED', `the off-site backup ${args.id} is damaged: ${hit.problem}`, { hint: 'fetch an older backup; dbkeeper list shows them' })
    return hit
  }
  const proven = entries.filter((e) => e.problem === undefined && e.manifest.kind === 'backup')
  const databases = [...new Set(proven.map((e) => e.manifest.database))]
  if (databases.length > 1) {
    throw new DbkeeperError('USAGE', `source ${args.source} has off-site backups of ${databases.length} databases (${databases.join(', ')}): which one?`, { hint: 'add --database NAME' })
  }
  const newest = proven[0]
  if (!newest) throw new DbkeeperError('NOT_FOUND', `no proven off-site backup of ${where}`, { hint: listHint })
  return newest
}
