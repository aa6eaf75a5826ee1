/**
 * The list of proven backups on any Target — the volume (a LocalTarget) or an off-site bucket —
 * by one rule: a backup exists only through its manifest `<source>/<enc(db)>/<file>.manifest.json`,
 * written last, that names this very directory (its source and database) and this data file.
 * Anything else — a README, another tool's files, an unfinished upload, a manifest of another
 * source dropped into the directory — is never listed, so never counted, restored or deleted.
 * Read-only.
 */
import { basename, dirname, join } from 'node:path'
import { LocalTarget } from '../storage/local/target.js'
import { backupDirError } from '../config/backup-dir.js'
import { StorageError, type Target } from '../storage/target.js'
import { asyncReads, type FileReads } from '../runtime/file-reads.js'
import { decodeManifest, type Manifest } from './manifest.js'
import { CHECKSUM_SUFFIX, MANIFEST_SUFFIX, checksumLine } from './naming.js'
import { newestFirst } from './order.js'
import { readSmallObject, remoteDataKey, remoteDir, MAX_MANIFEST_BYTES } from './remote.js'

/** A listed backup, wherever it lives: its manifest, its three keys on `target`, what is wrong with it. */
export interface BackupEntry {
  manifest: Manifest
  /** The target it lives on; the keys are relative to it. */
  target: Target
  dataKey: string
  manifestKey: string
  checksumKey: string
  /** Size of the data object as listed; undefined when it is missing. */
  size: number | undefined
  /** Size of the `.sha256` object as listed; undefined when it is missing (or not listed). */
  checksumSize?: number | undefined
  /**
   * Set when the backup is damaged: the data object is missing or its size differs from the
   * manifest, or (when sidecars are read) its `.sha256` names another sha256 than the manifest.
   */
  problem?: string
}

/** A backup on the volume: the same entry, with the paths of its files for readers that open them. */
export interface CatalogEntry extends BackupEntry {
  target: LocalTarget
  /** Absolute (or BACKUP_DIR-relative, as configured) path of the data file: `target.path(dataKey)`. */
  dataPath: string
  manifestPath: string
}

export interface CatalogFilter {
  source?: string
  database?: string
  /** Told of each manifest that does not decode (its address, why): such a backup is not listed. */
  onDamaged?: (manifestPath: string, reason: string) => void
}

export interface ListOptions extends CatalogFilter {
  /**
   * Compare each `.sha256` with its manifest. Cheap on the volume (a small local read); off-site
   * it costs one GET per backup, so listings of a bucket leave it to the fetch's verification.
   */
  sidecars?: boolean
  /** One directory `<source>/<enc(db)>/` as it is named (instead of `source` and `database`). */
  dir?: string
}

/** Manifests read at once. */
const READ_CONCURRENCY = 8

/**
 * Every backup with a manifest on `target` (under `<source>/`, or `<source>/<enc(db)>/`), newest
 * first by the one rule (order.ts).
 */
export async function listEntries(target: Target, opts: ListOptions = {}): Promise<BackupEntry[]> {
  const prefix =
    opts.dir ?? (opts.source ? (opts.database ? remoteDir(opts.source, opts.database) : `${opts.source}/`) : '')
  const sizes = new Map<string, number>()
  for await (const o of target.list(prefix)) sizes.set(o.key, o.size)

  const candidates = [...sizes.keys()].filter((key) => {
    const parts = key.split('/')
    const name = parts[2]
    return parts.length === 3 && name !== undefined && name.endsWith(MANIFEST_SUFFIX) && !name.startsWith('.')
  })
  const found: (BackupEntry | undefined)[] = new Array<BackupEntry | undefined>(candidates.length)
  let next = 0
  const worker = async () => {
    while (next < candidates.length) {
      const i = next++
      found[i] = await readEntry(target, candidates[i]!, sizes, opts)
    }
  }
  await Promise.all(Array.from({ length: READ_CONCURRENCY }, worker))
  // Candidates are in key order and the sort is stable: ties (one id in two places) stay in key order.
  return found.filter((e): e is BackupEntry => e !== undefined).sort((a, b) => newestFirst(a.manifest, b.manifest))
}

async function readEntry(
  target: Target,
  manifestKey: string,
  sizes: ReadonlyMap<string, number>,
  opts: ListOptions,
): Promise<BackupEntry | undefined> {
  const damaged = (reason: string) => {
    opts.onDamaged?.(target.url(manifestKey), reason)
    return undefined
  }
  if ((sizes.get(manifestKey) ?? 0) > MAX_MANIFEST_BYTES)
    return damaged(`larger than ${MAX_MANIFEST_BYTES} bytes: not a manifest`)
  let text: string
  try {
    text = await readSmallObject(target, manifestKey)
  } catch (error) {
    // Deleted between listing and reading (a concurrent prune): it is gone, not broken.
    if ((error as { code?: string }).code === 'NOT_FOUND') return undefined
    // A file the volume will not let us read is a damaged backup, not a failed listing.
    if (error instanceof StorageError && error.code === 'IO' && !error.retryable && target instanceof LocalTarget)
      return damaged(error.message)
    throw error
  }
  const decoded = decodeManifest(text)
  if ('error' in decoded) return damaged(decoded.error)
  const { manifest } = decoded
  const dataKey = remoteDataKey(manifest)
  if (`${dataKey}${MANIFEST_SUFFIX}` !== manifestKey) return undefined
  const noun = target instanceof LocalTarget ? 'file' : 'object'
  const size = sizes.get(dataKey)
  const checksumKey = `${dataKey}${CHECKSUM_SUFFIX}`
  const entry: BackupEntry = {
    manifest,
    target,
    dataKey,
    manifestKey,
    checksumKey,
    size,
    checksumSize: sizes.get(checksumKey),
  }
  if (size === undefined) entry.problem = `the data ${noun} is missing`
  else if (size !== manifest.compressed.size)
    entry.problem = `the data ${noun} has ${size} bytes, the manifest says ${manifest.compressed.size}`
  else if (opts.sidecars && sizes.has(checksumKey)) {
    // Cheap, unlike reading the data: a manifest (or sidecar) edited or damaged since the commit.
    const sidecar = (await readSmallObject(target, checksumKey).catch(() => undefined))?.split(/\s+/)[0]
    if (sidecar !== undefined && sidecar !== manifest.compressed.sha256)
      entry.problem = `its ${manifest.file}${CHECKSUM_SUFFIX} names sha256 ${sidecar}, the manifest ${manifest.compressed.sha256}`
  }
  return entry
}

/** A volume entry: the target's entry with the paths of its files. */
function onVolume(e: BackupEntry, target: LocalTarget): CatalogEntry {
  return { ...e, target, dataPath: target.path(e.dataKey), manifestPath: target.path(e.manifestKey) }
}

/**
 * The entry `listEntries` gives for `manifest` on `target` when its objects are as it says (a
 * caller that just wrote them, the `.sha256` sidecar with them): a retention in the same run that
 * removes it reports every key it removed.
 */
export function writtenEntry(target: Target, manifest: Manifest): BackupEntry {
  const dataKey = remoteDataKey(manifest)
  return {
    manifest,
    target,
    dataKey,
    manifestKey: `${dataKey}${MANIFEST_SUFFIX}`,
    checksumKey: `${dataKey}${CHECKSUM_SUFFIX}`,
    size: manifest.compressed.size,
    checksumSize: Buffer.byteLength(checksumLine(manifest.compressed.sha256, manifest.file)),
  }
}

/** The entry `listBackups` gives for `manifest` under `backupDir` when its files are as it says (tests, callers that just wrote one). */
export function volumeEntry(backupDir: string, manifest: Manifest): CatalogEntry {
  const target = new LocalTarget(backupDir)
  return onVolume(writtenEntry(target, manifest), target)
}

/**
 * Every backup on the volume, newest first (order.ts; stamps in the future sort first, as they
 * read). `reads`: how the volume is read (runtime/file-reads.ts; fs/promises when not given), for
 * the entries' target too.
 */
export async function listBackups(
  backupDir: string,
  filter: CatalogFilter = {},
  reads: FileReads = asyncReads,
): Promise<CatalogEntry[]> {
  if (!filter.source) {
    // BACKUP_DIR unusable is the operator's to fix, said as such; missing is an empty volume.
    await reads.readdir(backupDir).catch((error: unknown) => {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw backupDirError(backupDir, error)
    })
  }
  const target = new LocalTarget(backupDir, reads)
  return (await listEntries(target, { ...filter, sidecars: true })).map((e) => onVolume(e, target))
}

export function sortNewestFirst<T extends Pick<BackupEntry, 'manifest'>>(entries: T[]): T[] {
  return entries.sort((a, b) => newestFirst(a.manifest, b.manifest))
}

/** The backups in one `<backupDir>/<source>/<enc(database)>/` directory, newest first. */
export async function listDatabaseDir(dir: string, onDamaged?: CatalogFilter['onDamaged']): Promise<CatalogEntry[]> {
  const path = join(dir)
  const target = new LocalTarget(dirname(dirname(path)))
  const entries = await listEntries(target, {
    dir: `${basename(dirname(path))}/${basename(path)}/`,
    sidecars: true,
    ...(onDamaged ? { onDamaged } : {}),
  })
  return entries.map((e) => onVolume(e, target))
}
