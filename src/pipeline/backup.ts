import { hostname } from 'node:os'
import { resolve } from 'node:path'
import type { Transform } from 'node:stream'
import type { CatalogEntry } from '../catalog/catalog.js'
import { MANIFEST_FORMAT, type Manifest } from '../catalog/manifest.js'
import { backupId } from '../catalog/naming.js'
import { reserveNewBackup } from '../catalog/repository.js'
import type { SourceConfig } from '../config/types.js'
import type { Engine, ProbeResult, RestoreNeeds } from '../engines/engine.js'
import { DbkeeperError, toDbkeeperError } from '../runtime/errors.js'
import { failpoint } from '../runtime/failpoint.js'
import type { Compression } from './compression.js'
import type { Encryption } from './encryption.js'
import { AgeDecryptStream } from './age.js'
import { Meter } from './meter.js'
import { startProgress } from './progress.js'
import { followBackupFile, type FollowingVerification } from './verify.js'

export interface BackupJob {
  backupDir: string
  source: SourceConfig
  engine: Engine
  probe: ProbeResult
  database: string
  compression: Compression
  /** ENCRYPTION=age: the stage after the compression; undefined when backups are not encrypted. */
  encryption?: Encryption | undefined
  kind?: Manifest['kind']
  signal: AbortSignal
  /** Show a progress line on a terminal. */
  progress?: boolean
  /**
   * A pass-through for the compressed bytes, made once the file name is known: the off-site copy
   * streamed during the dump (offsite-copy.ts). It must never fail or end the local backup.
   */
  tee?: (file: string) => Transform
}

/** A committed backup: its entry as the catalog lists it (catalog/repository.ts). */
export type CommittedBackup = CatalogEntry

/**
 * Takes one proven backup: dump → sha256(raw) → compress → [sha256 → encrypt] → sha256(file) →
 * temporary file; then the
 * tool's exit status and the end-of-dump marker are checked, the file is read back, decrypted and
 * decompressed to the end (read back as it is written, finished once it is complete),
 * and only then is it committed (catalog/repository.ts: sidecar, link into
 * place, manifest last). On any failure nothing of it stays, and nothing is listed.
 */
export async function backupDatabase(job: BackupJob): Promise<CommittedBackup> {
  const { source, engine, database, compression, encryption } = job
  const { pending, startedAt } = await reserveNewBackup(job.backupDir, source.label, database, {
    content: engine.contentExt,
    compression: `${compression.ext}${encryption?.ext ?? ''}`,
  })

  // One controller for the dump and the stream: a failing write (disk full) kills the dump tool,
  // and a failing dump tool tears down the stream.
  const abort = new AbortController()
  const onOuterAbort = () => abort.abort(job.signal.reason)
  job.signal.addEventListener('abort', onOuterAbort, { once: true })
  const raw = new Meter(true, engine.measuresStatements === true)
  const compressed = new Meter(false)
  // Encrypted: the compressed stream is measured before encryption too; `compressed` is the file.
  const plaintext = encryption ? new Meter(false) : undefined
  const expected = job.probe.databases.find((d) => d.name === database)?.tables.reduce((n, t) => n + (t.bytes ?? 0), 0)
  const progress = job.progress
    ? startProgress(`${source.label}/${database}`, () => raw.size, expected || undefined)
    : undefined
  let following: FollowingVerification | undefined
  try {
    // Leaving this block without a commit removes whatever the backup placed (repository.ts).
    await using backup = pending
    // The file key and the ephemeral identity of this file: in memory for this backup only.
    const ageFile = await encryption?.begin()
    const encrypt = ageFile ? [plaintext!, ageFile.encrypt()] : []
    const dump = engine.dump(database, abort.signal)
    const tee = job.tee ? [job.tee(backup.file)] : []
    // One gzip member per section of the dump (MySQL): the restore loads the tables in parallel.
    // Not under encryption (the restore reads the decrypted stream in order) nor zstd: one stream.
    const compressor = compression.compress(encryption ? undefined : engine.sections?.())
    const streamed = backup.write([dump.stdout, raw, compressor, ...encrypt, compressed, ...tee])
    streamed.catch(() => abort.abort())
    dump.done.catch(() => abort.abort())
    // The read-back follows the file as it is written (verify.ts), on the cores the compression
    // leaves idle, instead of reading it all again afterwards; encrypted, it decrypts on the way
    // with this file's read-back key. `compressed` counts the bytes handed to the file: when to
    // read, not what is checked (verify.ts).
    following = followBackupFile(
      backup.tempPath,
      compression,
      streamed,
      abort.signal,
      () => compressed.size,
      ageFile ? () => new AgeDecryptStream(ageFile.readBack) : undefined,
    )
    const [toolEnd, streamEnd] = await Promise.allSettled([dump.done, streamed])
    // The tool's verdict first: when it failed, its error says why, not the torn stream's — unless
    // the tool only died because the stream failed first (disk full), then the stream's error says why.
    if (toolEnd.status === 'rejected') {
      const killedByUs = toolEnd.reason instanceof DbkeeperError && toolEnd.reason.code === 'ABORTED'
      throw killedByUs && streamEnd.status === 'rejected' && !job.signal.aborted ? streamEnd.reason : toolEnd.reason
    }
    if (streamEnd.status === 'rejected') throw streamEnd.reason
    const result = toolEnd.value
    progress?.stop()
    // The file is complete: its fsync runs while the backup is proven; the commit waits for it.
    backup.syncData()

    if (raw.size === 0)
      throw new DbkeeperError('DUMP_FAILED', `${engine.kind} dump of ${database} produced no data`, {
        hint: `check ${source.id}_* and the server log`,
      })
    const incomplete = engine.checkContent(raw.head(), raw.tail())
    if (incomplete)
      throw new DbkeeperError('DUMP_FAILED', `dump of ${database} is incomplete: ${incomplete}`, {
        hint: 'the dump tool stopped early; see its stderr in the log and the server log',
      })

    const binlog = binlogPositionOf(job, raw.head(), raw.tail())
    // Asked while the read-back finishes: neither waits for the other, and the commit waits for
    // both. A failed read-back aborts the question (`abort`), whose own failure is a warning.
    const needs = measureRestoreNeeds(engine, database, raw.longestStatement, abort.signal)
    needs.catch(() => undefined)
    const rawResult = raw.result()
    const compressedResult = compressed.result()
    const verifyStart = new Date()
    failpoint('backup.before-verify')
    const plaintextResult = plaintext?.result()
    const expectation = {
      raw: rawResult,
      compressed: compressedResult,
      ...(plaintextResult ? { plaintext: plaintextResult } : {}),
      checkContent: (h: Buffer, t: Buffer) => engine.checkContent(h, t),
    }
    await following.finish(expectation)
    failpoint('backup.verified')
    const restoreNeeds = await needs

    return await backup.commit(compressedResult.sha256, () => {
      const finishedAt = new Date()
      return {
        formatVersion: MANIFEST_FORMAT,
        id: backupId(database, startedAt),
        kind: job.kind ?? 'backup',
        source: source.label,
        sourceId: source.id,
        engine: engine.kind,
        database,
        file: backup.file,
        startedAt: startedAt.toISOString(),
        finishedAt: finishedAt.toISOString(),
        durationMs: finishedAt.getTime() - startedAt.getTime(),
        host: hostname(),
        server: { version: job.probe.serverVersion },
        tool: { ...job.probe.tool, options: result.options },
        raw: rawResult,
        compressed: compressedResult,
        compression: {
          kind: compression.kind,
          level: compression.level,
          ...(compression.encoder ? { encoder: compression.encoder } : {}),
        },
        ...(encryption && plaintextResult
          ? {
              encryption: {
                kind: encryption.kind,
                recipients: [...encryption.recipients],
                ...(encryption.passphrase ? { passphrase: true } : {}),
                plaintext: plaintextResult,
                readBack: encryption.passphrase ? ('passphrase' as const) : ('ephemeral recipient' as const),
              },
            }
          : {}),
        ...(compressor.members && compressor.members.length > 0 ? { members: [...compressor.members] } : {}),
        tables: result.tables ?? job.probe.databases.find((d) => d.name === database)?.tables ?? [],
        ...(restoreNeeds ? { restoreNeeds } : {}),
        ...(binlog ? { binlog } : {}),
        ...(engine.kind === 'sqlite' && source.path !== undefined ? { sqlite: { path: resolve(source.path) } } : {}),
        verification: {
          ok: true,
          at: verifyStart.toISOString(),
          method: encryption
            ? `full read-back: decrypt (${encryption.passphrase ? 'passphrase' : 'ephemeral recipient'}) and decompress to the end, sizes, sha256, end marker`
            : 'full read-back: decompress to the end, sizes, sha256, end marker',
        },
        locations: { local: backup.dataPath },
      }
    })
  } catch (error) {
    abort.abort()
    following?.stop()
    progress?.stop()
    if (job.signal.aborted)
      throw new DbkeeperError('ABORTED', `backup of ${source.label}/${database} was interrupted`, { cause: error })
    throw (
      noSpace(error, pending.writing, job.backupDir) ?? toDbkeeperError(error, `backup of ${source.label}/${database}`)
    )
  } finally {
    job.signal.removeEventListener('abort', onOuterAbort)
  }
}

/**
 * A DBnn_PITR source's base dump: its binlog coordinates, which the dump was asked to print. A dump
 * without them is no base for a restore to a time, and a PITR source that silently lost its bases
 * would promise a window it does not have: the backup fails, loudly, instead.
 */
function binlogPositionOf(job: BackupJob, head: Buffer, tail: Buffer): Manifest['binlog'] {
  const { source, engine, database } = job
  if (!source.pitr || !engine.binlogPosition) return undefined
  const position = engine.binlogPosition(head, tail)
  if (position) return position
  throw new DbkeeperError(
    'DUMP_FAILED',
    `dump of ${database} names no binlog position (no "-- CHANGE MASTER TO MASTER_LOG_FILE=…" line): it cannot be the base of a restore to a time`,
    {
      hint: `${source.id}_PITR is on: check that ${source.id}_EXTRA_OPTS does not turn off --master-data, and that the server writes a binary log (log_bin)`,
    },
  )
}

/**
 * What a restore of this dump will need (engine.ts RestoreNeeds). Asking is part of proving the
 * backup, not a condition of keeping it: when the engine cannot tell (the server went away between
 * the dump and the question), the manifest says so in a warning and the backup is still committed.
 */
async function measureRestoreNeeds(
  engine: Engine,
  database: string,
  longestStatement: number,
  signal: AbortSignal,
): Promise<RestoreNeeds | undefined> {
  if (!engine.restoreNeeds) return undefined
  try {
    return await engine.restoreNeeds(database, { longestStatement }, signal)
  } catch (error) {
    if (signal.aborted) throw error
    const e = toDbkeeperError(error, `what a restore of ${database} needs`)
    return { warnings: [`could not read what a restore of this backup needs from the server: ${e.message}`] }
  }
}

/**
 * The volume is full (or a quota or file size limit is reached) while writing `path`: an error
 * that says so, names the file and BACKUP_DIR, and the next step. undefined for any other error.
 * (A write stream's error carries no path: only we know which file it was writing.)
 */
function noSpace(error: unknown, path: string, backupDir: string): DbkeeperError | undefined {
  const code = (error as NodeJS.ErrnoException | undefined)?.code
  const why =
    code === 'ENOSPC'
      ? 'no space left on the device (ENOSPC)'
      : code === 'EDQUOT'
        ? 'the disk quota is exhausted (EDQUOT)'
        : code === 'EFBIG'
          ? 'the file outgrew the file size limit (EFBIG)'
          : undefined
  if (why === undefined) return undefined
  const what = code === 'EFBIG' ? 'a file size limit was reached' : 'the backup volume is full'
  return new DbkeeperError('NO_SPACE', `${what}: writing ${path} failed: ${why}`, {
    hint: `free space in BACKUP_DIR (${backupDir}; \`df -h\` shows it), give it a larger volume, or keep fewer backups (KEEP_*, BACKUP_RETENTION_DAYS); this backup was not kept, nothing was pruned, earlier backups are untouched`,
    cause: error,
  })
}
