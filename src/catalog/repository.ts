/**
 * The volume's commit protocol, written once. Every backup that reaches the volume, taken by a run
 * (pipeline/backup.ts) or copied from another target (pipeline/fetch.ts), is placed by a
 * `PendingBackup`:
 *
 *   reserve  a name no backup of the database has (`reserveNewBackup`: the start time waits for the
 *            next second rather than share an id), or a given name (`reserveBackup`)
 *   write    the data stream to `.<name>.dbk-tmp` (0600, never over an existing file)
 *            — the caller proves the temporary file (read back, sizes, sha256) —
 *   commit   the `.sha256` sidecar (atomic, fsync) → the data linked into place, never over an
 *            existing file (fsync of the file and the directory) → the manifest last (atomic, fsync)
 *
 * THE RULE: a PendingBackup is committed in full or leaves nothing. On ANY failure (while writing,
 * while the caller proves the file, at any step of the commit) everything it placed is removed —
 * the manifest first, then the data file, the sidecar and every temporary file — before the error
 * reaches the caller. Callers hold it with `await using`: leaving the scope without a commit
 * discards it, whatever threw. The names removed are its own (reserved fresh, or refused when the
 * data file exists), never an earlier backup's.
 *
 * On an off-site Target (`commitOnTarget`) the same commit ends the same way, the `.sha256` object
 * and then the manifest object last, but the data object comes first there: it is streamed during
 * the dump (pipeline/offsite-copy.ts), long before its checksum is known, so it cannot wait for the
 * sidecar. There a failed put removes nothing: a put replaces its key and leaves nothing partial
 * (storage/target.ts), a data object without its manifest object is never listed, and the next
 * run's catch-up puts all three again over it.
 *
 * The failpoints keep the names of the steps of a run's commit (test/faults/kill.test.ts).
 */
import { createWriteStream } from 'node:fs'
import { readdir, rm } from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'
import { pipeline } from 'node:stream/promises'
import { DbkeeperError } from '../runtime/errors.js'
import { failpoint } from '../runtime/failpoint.js'
import { DIR_MODE, ensureDir, FILE_MODE, fsyncPath } from '../runtime/durable.js'
import { commitRename, writeFileAtomic } from '../storage/local/files.js'
import type { Target } from '../storage/target.js'
import { volumeEntry, type CatalogEntry } from './catalog.js'
import { encodeManifest, type Manifest } from './manifest.js'
import {
  CHECKSUM_SUFFIX,
  MANIFEST_SUFFIX,
  backupId,
  checksumLine,
  dataFileName,
  databaseDir,
  tempName,
} from './naming.js'

type Stage = NodeJS.ReadableStream | NodeJS.ReadWriteStream | NodeJS.WritableStream

export class PendingBackup implements AsyncDisposable {
  readonly dataPath: string
  readonly tempPath: string
  readonly sidecarPath: string
  readonly manifestPath: string
  /** What is being written now: the file a full disk failed (a write stream's error names none). */
  writing: string
  /** Placed under a final name, newest first: removed in this order when the backup is discarded. */
  private readonly placed: string[] = []
  private committed = false
  /** The data file's fsync, when started before the commit (syncData). */
  private synced: Promise<void> | undefined

  constructor(dataPath: string) {
    this.dataPath = dataPath
    this.tempPath = join(dirname(dataPath), tempName(basename(dataPath)))
    this.sidecarPath = `${dataPath}${CHECKSUM_SUFFIX}`
    this.manifestPath = `${dataPath}${MANIFEST_SUFFIX}`
    this.writing = this.tempPath
  }

  get file(): string {
    return basename(this.dataPath)
  }

  /**
   * Streams `stages` (a source, then transforms) into the temporary file. Returned, not awaited,
   * by a caller that also waits for the process producing the stream (backup.ts).
   */
  write(stages: readonly Stage[], signal?: AbortSignal): Promise<void> {
    const out = createWriteStream(this.tempPath, { flags: 'wx', mode: FILE_MODE })
    out.once('open', () => failpoint('backup.tmp-created'))
    return pipeline([...stages, out], signal ? { signal } : {})
  }

  /**
   * Starts the fsync of the complete temporary file (`write()` resolved), so that the disk works
   * while the caller still proves the file; the commit waits for it before the data is linked into
   * place, and fails, leaving nothing, if it failed. Without this call the commit fsyncs itself.
   */
  syncData(): void {
    this.synced ??= fsyncPath(this.tempPath)
    this.synced.catch(() => undefined)
  }

  /**
   * Commits the proven temporary file: sidecar, data, manifest last. `manifest` is built once the
   * data is in place (its `finishedAt`); it must name this file and the sidecar's sha256. Returns
   * the listed entry, as `listBackups` would show it. On failure nothing of it stays.
   */
  async commit(sha256: string, manifest: () => Manifest): Promise<CatalogEntry> {
    try {
      this.writing = this.sidecarPath
      this.placed.unshift(this.sidecarPath)
      const sidecar = checksumLine(sha256, this.file)
      await writeFileAtomic(this.sidecarPath, sidecar)
      failpoint('backup.sidecar-written')
      await this.placeData()
      failpoint('backup.renamed')
      const m = manifest()
      if (m.file !== this.file || m.compressed.sha256 !== sha256) {
        throw new DbkeeperError(
          'INTERNAL',
          `the manifest of ${this.dataPath} names ${m.file} with sha256 ${m.compressed.sha256}, the file committed has ${sha256}`,
          { hint: 'report this; nothing was kept' },
        )
      }
      this.writing = this.manifestPath
      this.placed.unshift(this.manifestPath)
      await writeFileAtomic(this.manifestPath, encodeManifest(m))
      this.committed = true
      failpoint('backup.committed')
      // <volume>/<source>/<enc(db)>/<file>: the volume is three levels up.
      return volumeEntry(dirname(dirname(dirname(this.dataPath))), m)
    } catch (error) {
      await this.discard()
      throw error
    }
  }

  /** Places the data file alone, without sidecar or manifest: a copy outside the backup volume (`fetch --to`). */
  async commitDataOnly(): Promise<void> {
    try {
      await this.placeData()
      this.committed = true
    } catch (error) {
      await this.discard()
      throw error
    }
  }

  /** Removes everything placed, the manifest first, and the temporary files. Idempotent; never throws. */
  async discard(): Promise<void> {
    const temps = [
      this.tempPath,
      ...[this.sidecarPath, this.manifestPath].map((p) => join(dirname(p), tempName(basename(p)))),
    ]
    for (const path of [...this.placed, ...temps]) await rm(path, { force: true }).catch(() => undefined)
    this.placed.length = 0
  }

  async [Symbol.asyncDispose](): Promise<void> {
    if (!this.committed) await this.discard()
  }

  private async placeData(): Promise<void> {
    this.writing = this.dataPath
    try {
      await commitRename(this.tempPath, this.dataPath, this.synced)
    } catch (error) {
      // Linked, then the unlink or an fsync failed: the data is in place and must go too. EEXIST
      // is another file of that name: never ours to remove.
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') this.placed.unshift(this.dataPath)
      throw error
    }
    this.placed.unshift(this.dataPath)
  }
}

/** A pending backup under a given name (a copy of a backup from elsewhere); its directory is created. */
export async function reserveBackup(dataPath: string): Promise<PendingBackup> {
  await ensureDir(dirname(dataPath))
  return new PendingBackup(dataPath)
}

/**
 * A pending new backup of `database`, named by its start time. Two backups of one database in
 * the same second (a manual run right after a scheduled one, or a plain and a custom-format dump)
 * would share an id, whatever their extensions: wait for the next second instead of overwriting,
 * renaming, or leaving two backups that `restore ID` cannot tell apart.
 */
export async function reserveNewBackup(
  backupDir: string,
  source: string,
  database: string,
  ext: { content: string; compression: string },
): Promise<{ pending: PendingBackup; startedAt: Date }> {
  const dir = databaseDir(backupDir, source, database)
  await ensureDir(dir, DIR_MODE, dirname(backupDir))
  for (;;) {
    const now = new Date()
    const id = backupId(database, now)
    const names = await readdir(dir).catch(() => [] as string[])
    if (!names.some((name) => name.startsWith(`${id}.`) || name.startsWith(`.${id}.`))) {
      return {
        pending: new PendingBackup(join(dir, dataFileName(database, now, ext.content, ext.compression))),
        startedAt: now,
      }
    }
    await new Promise((r) => setTimeout(r, 1000 - now.getMilliseconds() + 5))
  }
}

/**
 * The end of the commit on an off-site Target, once the data object `dataKey` is stored and
 * confirmed: the `.sha256` object, then the manifest object last (with `metadata`). Returns the
 * manifest as stored, with its `s3` location. See the file comment for why the data object comes
 * first there and why a failed put removes nothing.
 */
export async function commitOnTarget(
  target: Target,
  dataKey: string,
  m: Manifest,
  metadata: Record<string, string>,
  /** Object Lock: the retain-until date of the data object, given to both objects too. */
  retainUntil?: Date,
): Promise<Manifest> {
  const remote: Manifest = { ...m, locations: { ...m.locations, s3: target.url(dataKey) } }
  await target.put(`${dataKey}${CHECKSUM_SUFFIX}`, checksumLine(m.compressed.sha256, m.file), {
    contentType: 'text/plain',
    metadata: { sha256: m.compressed.sha256 },
    ...(retainUntil ? { retainUntil } : {}),
  })
  failpoint('offsite.before-manifest')
  await target.put(`${dataKey}${MANIFEST_SUFFIX}`, encodeManifest(remote), {
    contentType: 'application/json',
    metadata,
    ...(retainUntil ? { retainUntil } : {}),
  })
  failpoint('offsite.committed')
  return remote
}
