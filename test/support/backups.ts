/**
 * Proven backups and journal records written straight onto a test volume, for the status, health,
 * metrics and alert tests (which test reading them, not making them): a data file and a manifest
 * that `listBackups` accepts, exactly as the pipeline lays them out.
 */
import { createHash } from 'node:crypto'
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { volumeEntry, type CatalogEntry } from '../../src/catalog/catalog.js'
import type { DatabaseResult, RunRecord } from '../../src/catalog/journal.js'
import { encodeManifest, MANIFEST_FORMAT, type Manifest } from '../../src/catalog/manifest.js'
import { backupId, databaseDir, dataFileName, MANIFEST_SUFFIX } from '../../src/catalog/naming.js'

export function fakeManifest(source: string, database: string, finishedAt: Date, size = 1234): Manifest {
  const startedAt = new Date(finishedAt.getTime() - 2000)
  const digest = createHash('sha256').update(`${source}/${database}/${finishedAt.toISOString()}`).digest('hex')
  return {
    formatVersion: MANIFEST_FORMAT,
    id: backupId(database, startedAt),
    kind: 'backup',
    source,
    sourceId: 'DB01',
    engine: 'sqlite',
    database,
    file: dataFileName(database, startedAt, 'db', '.gz'),
    startedAt: startedAt.toISOString(),
    finishedAt: finishedAt.toISOString(),
    durationMs: 2000,
    host: 'test',
    server: { version: '3' },
    tool: { name: 'test', version: '1', options: [] },
    raw: { size: size * 3, sha256: digest },
    compressed: { size, sha256: digest },
    compression: { kind: 'gzip', level: 6 },
    tables: [],
    verification: { ok: true, at: finishedAt.toISOString(), method: 'test' },
    locations: {},
  }
}

/** An in-memory catalog entry (for the pure functions). */
export function fakeEntry(source: string, database: string, finishedAt: Date, size = 1234): CatalogEntry {
  const manifest = fakeManifest(source, database, finishedAt, size)
  return volumeEntry('/backups', manifest)
}

/** A backup on disk under `backupDir`, listed by `listBackups`. */
export async function writeFakeBackup(
  backupDir: string,
  source: string,
  database: string,
  finishedAt: Date,
  size = 1234,
): Promise<Manifest> {
  const manifest = fakeManifest(source, database, finishedAt, size)
  const dir = databaseDir(backupDir, source, database)
  await mkdir(dir, { recursive: true })
  await writeFile(join(dir, manifest.file), Buffer.alloc(size))
  await writeFile(join(dir, `${manifest.file}${MANIFEST_SUFFIX}`), encodeManifest(manifest))
  return manifest
}

let runCounter = 0

/** A journal record of a run that finished at `finishedAt` with the given per-database results. */
export function fakeRun(
  finishedAt: Date,
  results: Partial<DatabaseResult>[],
  extra: Partial<RunRecord> = {},
): RunRecord {
  runCounter += 1
  const full: DatabaseResult[] = results.map((r) => ({
    source: 'app',
    database: 'main',
    ok: true,
    durationMs: 1500,
    ...r,
  }))
  return {
    runId: `run-${runCounter}`,
    trigger: 'schedule',
    host: 'backup-host',
    pid: 4242,
    startedAt: new Date(finishedAt.getTime() - 12_000).toISOString(),
    finishedAt: finishedAt.toISOString(),
    ok: full.every((r) => r.ok),
    results: full,
    ...extra,
  }
}
