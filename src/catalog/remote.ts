/**
 * The proven backups on an off-site Target: the same rule as on the volume, a backup exists only
 * through its manifest object `<source>/<enc(db)>/<file>.manifest.json`, uploaded last. Keys mirror
 * the volume. Objects without a manifest of ours (a README, another tool's files, an upload that
 * was never finished) are never listed, so nothing ever counts or deletes them.
 */
import type { Readable } from 'node:stream'
import type { Target } from '../storage/target.js'
import type { CatalogEntry, CatalogFilter } from './catalog.js'
import { decodeManifest, type Manifest } from './manifest.js'
import { CHECKSUM_SUFFIX, MANIFEST_SUFFIX, encodeName } from './naming.js'
import { newestFirst } from './order.js'

export interface RemoteEntry {
  manifest: Manifest
  dataKey: string
  manifestKey: string
  checksumKey: string
  /** Size of the data object as listed; undefined when it is missing. */
  size: number | undefined
  /** Set when the data object is missing or its size differs from the manifest. */
  problem?: string
}

/** A manifest is a few KB; anything much larger under that name is not one of ours. */
const MAX_MANIFEST_BYTES = 1024 * 1024
/** Manifests read at once when listing. */
const READ_CONCURRENCY = 8

export function remoteDir(source: string, database: string): string {
  return `${source}/${encodeName(database)}/`
}

export function remoteDataKey(m: Pick<Manifest, 'source' | 'database' | 'file'>): string {
  return `${remoteDir(m.source, m.database)}${m.file}`
}

export async function readSmallObject(target: Target, key: string, limit = MAX_MANIFEST_BYTES): Promise<string> {
  const body: Readable = await target.get(key)
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of body as AsyncIterable<Buffer>) {
    size += chunk.length
    if (size > limit) {
      body.destroy()
      throw new Error(`${key} is larger than ${limit} bytes`)
    }
    chunks.push(chunk)
  }
  return Buffer.concat(chunks).toString('utf8')
}

/**
 * Every backup with a manifest object under `<source>/` (or the whole target), newest first. A
 * manifest that does not decode, names another file, or another source or database than its
 * directory, is not ours: skipped.
 */
export async function listRemoteBackups(target: Target, filter: CatalogFilter = {}): Promise<RemoteEntry[]> {
  const prefix = filter.source ? (filter.database ? remoteDir(filter.source, filter.database) : `${filter.source}/`) : ''
  const sizes = new Map<string, number>()
  for await (const o of target.list(prefix)) sizes.set(o.key, o.size)

  const candidates = [...sizes.keys()].filter((key) => {
    const parts = key.split('/')
    const name = parts[2]
    return parts.length === 3 && name !== undefined && name.endsWith(MANIFEST_SUFFIX) && !name.startsWith('.') && (sizes.get(key) ?? 0) <= MAX_MANIFEST_BYTES
  })
  const entries: RemoteEntry[] = []
  let next = 0
  const worker = async () => {
    while (next < candidates.length) {
      const key = candidates[next++]!
      const entry = await readEntry(target, key, sizes)
      if (entry) entries.push(entry)
    }
  }
  await Promise.all(Array.from({ length: READ_CONCURRENCY }, worker))
  return entries.sort((a, b) => newestFirst(a.manifest, b.manifest))
}

async function readEntry(target: Target, manifestKey: string, sizes: ReadonlyMap<string, number>): Promise<RemoteEntry | undefined> {
  let text: string
  try {
    text = await readSmallObject(target, manifestKey)
  } catch (error) {
    // Deleted between listing and reading (a concurrent prune): it is gone, not broken.
    if ((error as { code?: string }).code === 'NOT_FOUND') return undefined
    throw error
  }
  const decoded = decodeManifest(text)
  if ('error' in decoded) return undefined
  const { manifest } = decoded
  const dataKey = remoteDataKey(manifest)
  if (`${dataKey}${MANIFEST_SUFFIX}` !== manifestKey) return undefined
  const size = sizes.get(dataKey)
  const entry: RemoteEntry = { manifest, dataKey, manifestKey, checksumKey: `${dataKey}${CHECKSUM_SUFFIX}`, size }
  if (size === undefined) entry.problem = 'the data object is missing'
  else if (size !== manifest.compressed.size) entry.problem = `the data object has ${size} bytes, the manifest says ${manifest.compressed.size}`
  return entry
}

/** The shape retention's safety rules work on (safety.ts reads only the manifest and `problem`). */
export function asCatalogEntry(e: RemoteEntry): CatalogEntry {
  return { manifest: e.manifest, dataPath: e.dataKey, manifestPath: e.manifestKey, ...(e.problem ? { problem: e.problem } : {}) }
}
