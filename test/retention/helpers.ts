/**
 * Backups laid out on a real temporary volume exactly as the pipeline writes them (data file,
 * `.sha256` sidecar, manifest last), so retention is tested against the real catalog and file
 * system. The data is filler bytes; only the sizes have to agree with the manifest.
 */
import { createHash } from 'node:crypto'
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, relative } from 'node:path'
import { volumeEntry, type CatalogEntry } from '../../src/catalog/catalog.js'
import { encodeManifest, MANIFEST_FORMAT, type Manifest } from '../../src/catalog/manifest.js'
import { backupId, databaseDir, dataFileName, MANIFEST_SUFFIX } from '../../src/catalog/naming.js'

export interface FakeBackupOptions {
  kind?: Manifest['kind']
  size?: number
  /** Write the `<data>.sha256` sidecar (default true). */
  checksum?: boolean
  /** Leave the data file out: the catalog lists the backup as damaged. */
  withoutData?: boolean
  /** Record these in the manifest instead of the directory's own (a manifest copied by hand). */
  manifestSource?: string
  manifestDatabase?: string
  /** A MySQL PITR base's binlog coordinates (manifest.binlog). */
  binlog?: { file: string; position: number }
}

export function fakeManifest(
  source: string,
  database: string,
  startedAt: Date,
  opts: FakeBackupOptions = {},
): Manifest {
  const size = opts.size ?? 64
  const digest = createHash('sha256').update(`${source}/${database}/${startedAt.toISOString()}`).digest('hex')
  const finishedAt = new Date(startedAt.getTime() + 1500).toISOString()
  return {
    formatVersion: MANIFEST_FORMAT,
    id: backupId(database, startedAt),
    kind: opts.kind ?? 'backup',
    source: opts.manifestSource ?? source,
    sourceId: 'DB01',
    engine: 'sqlite',
    database: opts.manifestDatabase ?? database,
    file: dataFileName(database, startedAt, 'db', '.gz'),
    startedAt: startedAt.toISOString(),
    finishedAt,
    durationMs: 1500,
    host: 'test',
    server: { version: '3.45' },
    tool: { name: 'better-sqlite3', version: '12', options: [] },
    raw: { size: size * 2, sha256: digest },
    compressed: { size, sha256: digest },
    compression: { kind: 'gzip', level: 6 },
    tables: [],
    verification: { ok: true, at: finishedAt, method: 'gunzip' },
    locations: {},
    ...(opts.binlog ? { binlog: opts.binlog } : {}),
  }
}

/** An in-memory catalog entry for the pure safety layer. */
export function fakeEntry(
  source: string,
  database: string,
  startedAt: Date,
  opts: FakeBackupOptions & { problem?: string } = {},
): CatalogEntry {
  const manifest = fakeManifest(source, database, startedAt, opts)
  const entry: CatalogEntry = volumeEntry('/backups', manifest)
  if (opts.problem !== undefined) entry.problem = opts.problem
  return entry
}

/** Writes one backup under `backupDir/source/<database>/`; returns its manifest. */
export async function writeBackup(
  backupDir: string,
  source: string,
  database: string,
  startedAt: Date,
  opts: FakeBackupOptions = {},
): Promise<Manifest> {
  const manifest = fakeManifest(source, database, startedAt, opts)
  const dir = databaseDir(backupDir, source, database)
  await mkdir(dir, { recursive: true })
  const dataPath = join(dir, manifest.file)
  if (!opts.withoutData) await writeFile(dataPath, Buffer.alloc(manifest.compressed.size, 0x61))
  if (opts.checksum ?? true) await writeFile(`${dataPath}.sha256`, `${manifest.compressed.sha256}  ${manifest.file}\n`)
  await writeFile(`${dataPath}${MANIFEST_SUFFIX}`, encodeManifest(manifest))
  return manifest
}

/** Every file under `root` with a hash of its content: compare before and after to see what changed. */
export async function snapshotTree(root: string): Promise<Map<string, string>> {
  const out = new Map<string, string>()
  async function walk(dir: string): Promise<void> {
    for (const e of await readdir(dir, { withFileTypes: true })) {
      const path = join(dir, e.name)
      if (e.isDirectory()) {
        out.set(`${relative(root, path)}/`, 'dir')
        await walk(path)
      } else {
        out.set(
          relative(root, path),
          createHash('sha256')
            .update(await readFile(path))
            .digest('hex'),
        )
      }
    }
  }
  await walk(root)
  return out
}

export async function makeTempDir(): Promise<{ path: string; remove(): Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), 'dbkeeper-retention-'))
  return { path, remove: () => rm(path, { recursive: true, force: true }) }
}

export async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  )
}

/** `count` times, `stepHours` apart, oldest first, ending at `last`. */
export function timesEvery(stepHours: number, count: number, last: Date): Date[] {
  return Array.from({ length: count }, (_, i) => new Date(last.getTime() - (count - 1 - i) * stepHours * 3_600_000))
}
