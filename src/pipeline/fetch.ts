/**
 * Bringing an off-site backup back: a copy from one target to another, then its proof. The object
 * is streamed into a pending backup on the volume (catalog/repository.ts: a temporary name), its
 * size and sha256 are checked against the manifest object, it is decompressed to the end and its
 * raw size and sha256 checked, and only then is it committed as a run commits a backup (sidecar,
 * link into place, manifest last). A damaged or tampered object never reaches the volume under its
 * name, and a fetch that fails at any step leaves nothing of it.
 */
import { stat } from 'node:fs/promises'
import { dirname, join, resolve } from 'node:path'
import { listDatabaseDir, listEntries, type BackupEntry, type CatalogEntry } from '../catalog/catalog.js'
import type { Manifest } from '../catalog/manifest.js'
import { MANIFEST_SUFFIX, databaseDir } from '../catalog/naming.js'
import { reserveBackup } from '../catalog/repository.js'
import type { Config } from '../config/types.js'
import { DbkeeperError, toDbkeeperError } from '../runtime/errors.js'
import type { Logger } from '../runtime/logger.js'
import type { Target } from '../storage/target.js'
import { compressionOf } from './compression.js'
import { decrypterOf, withoutKey } from './encryption.js'
import { Meter } from './meter.js'
import { verifyBackupFile } from './verify.js'
import { openRemoteTargets } from './remote-targets.js'

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
  /** One target to fetch from; default: every configured target, in order (remote-targets.ts). */
  target?: Target
  /** The off-site backup, already chosen from a listing (restore, verify): `id` is not looked up again. */
  entry?: BackupEntry
  /** The same backup on other targets, tried in order when fetching `entry` fails. */
  alternatives?: BackupEntry[]
}

export interface FetchedBackup {
  manifest: Manifest
  /** Where the verified backup now is (on the volume, or `to`). */
  path: string
  /** The off-site object it came from. */
  url: string
  /** It was on the volume already (nothing was downloaded). */
  alreadyLocal: boolean
  /** The backup as listed on the volume (undefined with `to`): the entry its commit returned, or the one already there. */
  entry?: CatalogEntry
}

/**
 * Downloads and proves one off-site backup. The caller holds the volume lock when `to` is not
 * given (the file goes into a backup directory that a run's debris cleanup also visits).
 */
export async function fetchBackup(args: FetchArgs): Promise<FetchedBackup> {
  const remote = args.target || args.entry ? undefined : openRemoteTargets(args.config, args)
  if (!remote && !args.target && !args.entry) {
    throw new DbkeeperError('CONFIG', 'there is no off-site copy to fetch from: S3_BUCKET is not set', {
      hint: 'set S3_BUCKET (and the other S3_* variables, docs/CONFIGURATION.md)',
    })
  }
  const filter = { source: args.source, ...(args.database !== undefined ? { database: args.database } : {}) }
  const entry =
    args.entry ??
    chooseEntry(remote ? await remote.list(args.source, args.database) : await listEntries(args.target!, filter), args)
  const m = entry.manifest
  const dest = args.to ? resolve(args.to) : join(databaseDir(args.config.backupDir, m.source, m.database), m.file)
  if (
    await stat(dest).then(
      () => true,
      () => false,
    )
  ) {
    const url = entry.target.url(entry.dataKey)
    if (
      !args.to &&
      (await stat(`${dest}${MANIFEST_SUFFIX}`).then(
        () => true,
        () => false,
      ))
    ) {
      // Nothing was written: the volume's listing is what says what is there.
      const there = (await listDatabaseDir(dirname(dest))).find((e) => e.dataPath === dest)
      return { manifest: m, path: dest, url, alreadyLocal: true, ...(there ? { entry: there } : {}) }
    }
    throw new DbkeeperError('USAGE', `${dest} exists already; it is not replaced`, {
      hint: args.to
        ? 'choose another --to file or remove that one'
        : 'move the file away (it has no manifest: it is not a backup) and fetch again',
    })
  }
  // The first target that holds the backup, then the others: a target that is down, or whose
  // copy is damaged, is skipped with a warning while another one holds the same backup.
  const candidates = [entry, ...(args.alternatives ?? remote?.alternatives(entry) ?? [])]
  // A copy in an archive tier has had its restore requested: said at the end if no target has a readable one.
  let archived: DbkeeperError | undefined
  for (const [i, candidate] of candidates.entries()) {
    try {
      return await download(candidate, dest, args)
    } catch (error) {
      const e = toDbkeeperError(error)
      if (e.code === 'ARCHIVED') archived ??= e
      const next = candidates[i + 1]
      if (e.code === 'ABORTED' || e.code === 'NO_SPACE' || e.code === 'USAGE') throw e
      if (!next) throw archived ?? e
      args.logger.warn(
        { code: e.code },
        `could not fetch ${candidate.target.url(candidate.dataKey)} (${e.message}); trying ${next.target.url(next.dataKey)}`,
      )
    }
  }
  throw new DbkeeperError('INTERNAL', 'no off-site copy to fetch from')
}

async function download(entry: BackupEntry, dest: string, args: FetchArgs): Promise<FetchedBackup> {
  const m = entry.manifest
  const url = entry.target.url(entry.dataKey)
  // Leaving this function without a commit removes whatever the copy placed (repository.ts).
  await using copy = await reserveBackup(dest)
  try {
    const compressed = new Meter(false)
    await copy.write([await readableObject(entry, args), compressed], args.signal)
    await proveCopy(copy.tempPath, m, compressed, url, args.config, args.signal)
    if (args.to) {
      await copy.commitDataOnly()
      args.logger.info({ url, path: dest }, 'fetched and verified an off-site backup')
      return { manifest: m, path: dest, url, alreadyLocal: false }
    }
    const local = await copy.commit(m.compressed.sha256, () => ({ ...m, locations: { local: dest, s3: url } }))
    args.logger.info({ url, path: dest }, 'fetched and verified an off-site backup')
    return { manifest: local.manifest, path: dest, url, alreadyLocal: false, entry: local }
  } catch (error) {
    throw toDbkeeperError(error, `fetching ${url}`)
  }
}

/** How long the usual (Standard) retrieval of each archive tier takes, as AWS documents it. */
const TIER_TIMES: Record<string, string> = {
  GLACIER: '3–5 hours',
  DEEP_ARCHIVE: 'up to 12 hours',
}
/** Days a restored copy stays readable: long enough for a fetch the next morning. */
export const RESTORE_DAYS = 7

/**
 * The data object's bytes; for one in an archive tier that is not readable yet, its restore is
 * requested and ARCHIVED thrown (exit 4) saying how long the tier usually takes: the same
 * command run again later finds it readable.
 */
async function readableObject(entry: BackupEntry, args: FetchArgs) {
  const url = entry.target.url(entry.dataKey)
  try {
    return await entry.target.get(entry.dataKey, args.signal)
  } catch (error) {
    const e = toDbkeeperError(error)
    if (e.code !== 'ARCHIVED' || !entry.target.restore) throw e
    const head = await entry.target.head(entry.dataKey).catch(() => undefined)
    const tier = head?.storageClass ?? 'an archive storage class'
    const state = await entry.target.restore(entry.dataKey, RESTORE_DAYS)
    const takes = TIER_TIMES[tier] ? ` ${tier} usually takes ${TIER_TIMES[tier]}.` : ''
    args.logger.warn({ url, tier, restore: state }, `off-site backup in ${tier}: restore ${state}`)
    throw new DbkeeperError(
      'ARCHIVED',
      `the off-site backup ${url} is in ${tier} and cannot be read at once: its restore ${state === 'started' ? 'was requested now' : 'is in progress (requested before)'}, for ${RESTORE_DAYS} days.${takes}`,
      {
        hint: `run the same command again once the restore is done (exit code 4 means "come back later"); nothing was written`,
        cause: error,
      },
    )
  }
}

/**
 * The copy is the backup its manifest describes: size and sha256 as downloaded, then decompressed
 * to the end. The raw sha256 is the one measured when the dump was proven, so matching it also
 * carries over that run's end-of-dump check: these are the very bytes it checked.
 */
async function proveCopy(
  path: string,
  m: Manifest,
  compressed: Meter,
  url: string,
  config: Config,
  signal: AbortSignal,
): Promise<void> {
  const got = compressed.result()
  if (got.size !== m.compressed.size || got.sha256 !== m.compressed.sha256) {
    throw new DbkeeperError(
      'VERIFY_FAILED',
      `the off-site copy ${url} does not match its manifest: ${got.size} bytes with sha256 ${got.sha256}, expected ${m.compressed.size} bytes with sha256 ${m.compressed.sha256}`,
      {
        hint: 'the object was changed or damaged in the bucket: do not restore from it; fetch an older backup (dbkeeper list shows them)',
      },
    )
  }
  // Encrypted and no key here: the ciphertext's sha256 above is the proof (the backup's own run
  // decrypted and decompressed these very bytes); the restore that uses it decrypts in full.
  if (withoutKey(m, config.decryption)) return
  await verifyBackupFile(
    path,
    compressionOf(m),
    { raw: m.raw, compressed: m.compressed, ...(m.encryption ? { plaintext: m.encryption.plaintext } : {}) },
    signal,
    decrypterOf(m, config.decryption),
  )
}

function chooseEntry(entries: BackupEntry[], args: FetchArgs): BackupEntry {
  const where = `${args.source}${args.database ? `/${args.database}` : ''}`
  const listHint = `dbkeeper list ${args.source}${args.database ? ` --database ${args.database}` : ''} shows what is there`
  if (args.id !== 'latest') {
    const hit = entries.find((e) => e.manifest.id === args.id)
    if (!hit) throw new DbkeeperError('NOT_FOUND', `no off-site backup ${args.id} of ${where}`, { hint: listHint })
    if (hit.problem)
      throw new DbkeeperError('VERIFY_FAILED', `the off-site backup ${args.id} is damaged: ${hit.problem}`, {
        hint: 'fetch an older backup; dbkeeper list shows them',
      })
    return hit
  }
  const proven = entries.filter((e) => e.problem === undefined && e.manifest.kind === 'backup')
  const databases = [...new Set(proven.map((e) => e.manifest.database))]
  if (databases.length > 1) {
    throw new DbkeeperError(
      'USAGE',
      `source ${args.source} has off-site backups of ${databases.length} databases (${databases.join(', ')}): which one?`,
      { hint: 'add --database NAME' },
    )
  }
  const newest = proven[0]
  if (!newest) throw new DbkeeperError('NOT_FOUND', `no proven off-site backup of ${where}`, { hint: listHint })
  return newest
}
