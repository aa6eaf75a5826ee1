import { createWriteStream } from 'node:fs'
import { readdir, rm } from 'node:fs/promises'
import { hostname } from 'node:os'
import { join, resolve } from 'node:path'
import type { Transform } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { encodeManifest, MANIFEST_FORMAT, type Manifest } from '../catalog/manifest.js'
import { CHECKSUM_SUFFIX, MANIFEST_SUFFIX, backupId, dataFileName, databaseDir, tempName } from '../catalog/naming.js'
import type { SourceConfig } from '../config/types.js'
import type { Engine, ProbeResult, RestoreNeeds } from '../engines/engine.js'
import { DbkeeperError, toDbkeeperError } from '../runtime/errors.js'
import { failpoint } from '../runtime/failpoint.js'
import { commitRename, ensureDir, FILE_MODE, writeFileAtomic } from '../storage/local/files.js'
import type { Compression } from './compression.js'
import { Meter } from './meter.js'
import { startProgress } from './progress.js'
import { verifyBackupFile } from './verify.js'

export interface BackupJob {
  backupDir: string
  source: SourceConfig
  engine: Engine
  probe: ProbeResult
  database: string
  compression: Compression
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

export interface CommittedBackup {
  manifest: Manifest
  dataPath: string
  manifestPath: string
}

/**
 * Takes one proven backup: dump → sha256(raw) → compress → sha256(file) → temporary file; then the
 * tool's exit status and the end-of-dump marker are checked, the file is read back and
 * decompressed to the end, and only then is it renamed into place and its manifest written last.
 * On any failure the temporary file is removed and nothing is listed.
 */
export async function backupDatabase(job: BackupJob): Promise<CommittedBackup> {
  const { source, engine, database, compression } = job
  const dir = databaseDir(job.backupDir, source.label, database)
  await ensureDir(dir)
  const startedAt = await freeStartTime(dir, database)
  const file = dataFileName(database, startedAt, engine.contentExt, compression.ext)
  const dataPath = join(dir, file)
  const tmpPath = join(dir, tempName(file))

  // One controller for the dump and the stream: a failing write (disk full) kills the dump tool,
  // and a failing dump tool tears down the stream.
  const abort = new AbortController()
  const onOuterAbort = () => abort.abort(job.signal.reason)
  job.signal.addEventListener('abort', onOuterAbort, { once: true })
  const raw = new Meter(true, engine.measuresLines === true)
  const compressed = new Meter(false)
  const expected = job.probe.databases.find((d) => d.name === database)?.tables.reduce((n, t) => n + (t.bytes ?? 0), 0)
  const progress = job.progress ? startProgress(`${source.label}/${database}`, () => raw.size, expected || undefined) : undefined
  const sidecarPath = `${dataPath}${CHECKSUM_SUFFIX}`
  const manifestPath = `${dataPath}${MANIFEST_SUFFIX}`
  // What is being written when the disk fills up, and what this run put in place before failing.
  let writing = tmpPath
  const placed: string[] = []
  try {
    const dump = engine.dump(database, abort.signal)
    const tee = job.tee ? [job.tee(file)] : []
    const out = createWriteStream(tmpPath, { flags: 'wx', mode: FILE_MODE })
    out.once('open', () => failpoint('backup.tmp-created'))
    const streamed = pipeline([dump.stdout, raw, compression.compress(), compressed, ...tee, out])
    streamed.catch(() => abort.abort())
    dump.done.catch(() => abort.abort())
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

    if (raw.size === 0) throw new DbkeeperError('DUMP_FAILED', `${engine.kind} dump of ${database} produced no data`, { hint: `check ${source.id}_* and the server log` })
    const incomplete = engine.checkContent(raw.head(), raw.tail())
    if (incomplete) throw new DbkeeperError('DUMP_FAILED', `dump of ${database} is incomplete: ${incomplete}`, { hint: 'the dump tool stopped early; see its stderr in the log and the server log' })

    const restoreNeeds = await measureRestoreNeeds(engine, database, raw.longestLine, abort.signal)
    const rawResult = raw.result()
    const compressedResult = compressed.result()
    const verifyStart = new Date()
    failpoint('backup.before-verify')
    await verifyBackupFile(tmpPath, compression, { raw: rawResult, compressed: compressedResult, checkContent: (h, t) => engine.checkContent(h, t) }, job.signal)
    failpoint('backup.verified')

    writing = sidecarPath
    placed.push(sidecarPath)
    await writeFileAtomic(sidecarPath, `${compressedResult.sha256}  ${file}\n`)
    failpoint('backup.sidecar-written')
    await commitRename(tmpPath, dataPath)
    placed.unshift(dataPath)
    failpoint('backup.renamed')
    const finishedAt = new Date()
    const manifest: Manifest = {
      formatVersion: MANIFEST_FORMAT,
      id: backupId(database, startedAt),
      kind: job.kind ?? 'backup',
      source: source.label,
      sourceId: source.id,
      engine: engine.kind,
      database,
      file,
      startedAt: startedAt.toISOString(),
      finishedAt: finishedAt.toISOString(),
      durationMs: finishedAt.getTime() - startedAt.getTime(),
      host: hostname(),
      server: { version: job.probe.serverVersion },
      tool: { ...job.probe.tool, options: result.options },
      raw: rawResult,
      compressed: compressedResult,
      compression: { kind: compression.kind, level: compression.level },
      tables: result.tables ?? job.probe.databases.find((d) => d.name === database)?.tables ?? [],
      ...(restoreNeeds ? { restoreNeeds } : {}),
      ...(engine.kind === 'sqlite' && source.path !== undefined ? { sqlite: { path: resolve(source.path) } } : {}),
      verification: { ok: true, at: verifyStart.toISOString(), method: 'full read-back: decompress to the end, sizes, sha256, end marker' },
      locations: { local: dataPath },
    }
    writing = manifestPath
    placed.unshift(manifestPath)
    await writeFileAtomic(manifestPath, encodeManifest(manifest))
    failpoint('backup.committed')
    return { manifest, dataPath, manifestPath }
  } catch (error) {
    abort.abort()
    progress?.stop()
    await rm(tmpPath, { force: true })
    // Not committed after all (the disk filled up during the commit): nothing of it may stay, the
    // manifest first. These names are this run's own (freeStartTime), never an earlier backup's.
    for (const path of placed) await rm(path, { force: true }).catch(() => undefined)
    if (job.signal.aborted) throw new DbkeeperError('ABORTED', `backup of ${source.label}/${database} was interrupted`, { cause: error })
    throw noSpace(error, writing, job.backupDir) ?? toDbkeeperError(error, `backup of ${source.label}/${database}`)
  } finally {
    job.signal.removeEventListener('abort', onOuterAbort)
  }
}

/**
 * What a restore of this dump will need (engine.ts RestoreNeeds). Asking is part of proving the
 * backup, not a condition of keeping it: when the engine cannot tell (the server went away between
 * the dump and the question), the manifest says so in a warning and the backup is still committed.
 */
async function measureRestoreNeeds(engine: Engine, database: string, longestLine: number, signal: AbortSignal): Promise<RestoreNeeds | undefined> {
  if (!engine.restoreNeeds) return undefined
  try {
    return await engine.restoreNeeds(database, { longestLine }, signal)
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
  const why = code === 'ENOSPC' ? 'no space left on the device (ENOSPC)'
    : code === 'EDQUOT' ? 'the disk quota is exhausted (EDQUOT)'
      : code === 'EFBIG' ? 'the file outgrew the file size limit (EFBIG)'
        : undefined
  if (why === undefined) return undefined
  const what = code === 'EFBIG' ? 'a file size limit was reached' : 'the backup volume is full'
  return new DbkeeperError('NO_SPACE', `${what}: writing ${path} failed: ${why}`, {
    hint: `free space in BACKUP_DIR (${backupDir}; \`df -h\` shows it), give it a larger volume, or keep fewer backups (KEEP_*, BACKUP_RETENTION_DAYS); this backup was not kept, nothing was pruned, earlier backups are untouched`,
    cause: error,
  })
}

/**
 * The start time, to the second, that names the file. Two backups of one database in the same
 * second (a manual run right after a scheduled one, or a plain and a custom-format dump) would
 * share an id, whatever their extensions: wait for the next second instead of overwriting,
 * renaming, or leaving two backups that `restore ID` cannot tell apart.
 */
async function freeStartTime(dir: string, database: string): Promise<Date> {
  for (;;) {
    const now = new Date()
    const id = backupId(database, now)
    const names = await readdir(dir).catch(() => [] as string[])
    if (!names.some((name) => name.startsWith(`${id}.`) || name.startsWith(`.${id}.`))) return now
    await new Promise((r) => setTimeout(r, 1000 - now.getMilliseconds() + 5))
  }
}
