/**
 * The list of proven backups on the volume: every `*.manifest.json` under
 * `<dir>/<source>/<database>/` whose data file is present. Read-only.
 */
import { readdir, readFile, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { decodeManifest, type Manifest } from './manifest.js'
import { CHECKSUM_SUFFIX, MANIFEST_SUFFIX, STATE_DIR, encodeName } from './naming.js'
import { newestFirst } from './order.js'
import { backupDirError } from '../storage/local/files.js'

export interface CatalogEntry {
  manifest: Manifest
  /** Absolute path of the data file. */
  dataPath: string
  manifestPath: string
  /**
   * Set when the backup is damaged: the data file is missing or its size differs from the
   * manifest, or its `.sha256` file names another sha256 than the manifest.
   */
  problem?: string
}

export interface CatalogFilter {
  source?: string
  database?: string
  /** Told of each manifest that does not decode (its path, why): such a backup is not listed. */
  onDamaged?: (manifestPath: string, reason: string) => void
}

async function dirNames(dir: string): Promise<string[]> {
  try {
    const entries = await readdir(dir, { withFileTypes: true })
    return entries.filter((e) => e.isDirectory() && e.name !== STATE_DIR).map((e) => e.name).sort()
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return []
    throw error
  }
}

/** Every backup with a manifest, newest first (order.ts; stamps in the future sort first, as they read). */
export async function listBackups(backupDir: string, filter: CatalogFilter = {}): Promise<CatalogEntry[]> {
  const out: CatalogEntry[] = []
  const sources = filter.source ? [filter.source] : await dirNames(backupDir).catch((error: unknown) => {
    throw backupDirError(backupDir, error)
  })
  for (const source of sources) {
    const dbDirs = filter.database ? [encodeName(filter.database)] : await dirNames(join(backupDir, source))
    for (const dbDir of dbDirs) {
      out.push(...(await listDatabaseDir(join(backupDir, source, dbDir), filter.onDamaged)))
    }
  }
  return sortNewestFirst(out)
}

export function sortNewestFirst(entries: CatalogEntry[]): CatalogEntry[] {
  return entries.sort((a, b) => newestFirst(a.manifest, b.manifest))
}

/** The backups in one `<source>/<database>/` directory. Manifests that do not decode are skipped. */
export async function listDatabaseDir(dir: string, onDamaged?: CatalogFilter['onDamaged']): Promise<CatalogEntry[]> {
  let names: string[]
  try {
    names = await readdir(dir)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return []
    throw error
  }
  const out: CatalogEntry[] = []
  for (const name of names) {
    if (!name.endsWith(MANIFEST_SUFFIX) || name.startsWith('.')) continue
    const manifestPath = join(dir, name)
    const decoded = decodeManifest(await readFile(manifestPath, 'utf8').catch(() => ''))
    if ('error' in decoded) {
      onDamaged?.(manifestPath, decoded.error)
      continue
    }
    const { manifest } = decoded
    if (`${manifest.file}${MANIFEST_SUFFIX}` !== name) continue
    const dataPath = join(dir, manifest.file)
    const entry: CatalogEntry = { manifest, dataPath, manifestPath }
    const size = await stat(dataPath).then((s) => s.size, () => undefined)
    if (size === undefined) entry.problem = 'the data file is missing'
    else if (size !== manifest.compressed.size) entry.problem = `the data file has ${size} bytes, the manifest says ${manifest.compressed.size}`
    else {
      // Cheap, unlike reading the data: a manifest (or sidecar) edited or damaged since the commit.
      const sidecar = (await readFile(`${dataPath}${CHECKSUM_SUFFIX}`, 'utf8').catch(() => undefined))?.split(/\s+/)[0]
      if (sidecar !== undefined && sidecar !== manifest.compressed.sha256) entry.problem = `its ${manifest.file}${CHECKSUM_SUFFIX} names sha256 ${sidecar}, the manifest ${manifest.compressed.sha256}`
    }
    out.push(entry)
  }
  return sortNewestFirst(out)
}
