/**
 * A backup's content for a restore: proven before anything is touched (the same full read-back a
 * backup gets before it is committed), then streamed, decompressed, with its raw sha256 checked
 * again at the end, so that a file that changed between the two reads cannot pass unnoticed. For a
 * driver that loads aside (MySQL), proven AS it loads instead (openProvingContent): one read, one
 * decompression, and the same proof given before anything is put in the target's place.
 * How a backup is read is decided by the backup itself — its manifest's compression (not its
 * file name), engine and database, and its content extension — never by today's configuration:
 * a source switched to DBnn_PG_FORMAT=custom or COMPRESSION=zstd still restores its older backups.
 */
import { createReadStream } from 'node:fs'
import { readFile, stat } from 'node:fs/promises'
import { pipeline } from 'node:stream'
import { readCommand } from '../config/codecs.js'
import { loadableMembers, openProvingSections } from './sections.js'
import { pipeline as pipelineAsync } from 'node:stream/promises'
import type { CatalogEntry } from '../catalog/catalog.js'
import type { Manifest } from '../catalog/manifest.js'
import { CHECKSUM_SUFFIX, parseDataFileName } from '../catalog/naming.js'
import type { DecryptionKeys, SourceConfig } from '../config/types.js'
import {
  readerForBackup,
  type BackupContent as DriverContent,
  type BackupFacts,
  type BackupReader,
} from '../engines/index.js'
import { compressionOf } from '../pipeline/compression.js'
import { decrypterOf } from '../pipeline/encryption.js'
import { discard, Meter } from '../pipeline/meter.js'
import { verifyBackupFile } from '../pipeline/verify.js'
import { DbkeeperError } from '../runtime/errors.js'

/** `sql`, `dump` (PostgreSQL custom format) or `db` (SQLite), from the data file's name. */
export function contentKind(manifest: Manifest): 'sql' | 'dump' | 'db' {
  const parsed = parseDataFileName(manifest.file)
  if (parsed?.contentExt === 'dump' || parsed?.contentExt === 'db') return parsed.contentExt
  return 'sql'
}

/** What a restore driver and a re-dump read of a backup (engines/restore-driver.ts): the facts of its manifest, no more. */
export function backupFacts(m: Manifest): BackupFacts {
  return {
    id: m.id,
    database: m.database,
    format: contentKind(m),
    tool: { version: m.tool.version, options: m.tool.options },
    readWith: readCommand(m.compression.kind, m.encryption?.kind, 'FILE'),
    ...(m.restoreNeeds ? { restoreNeeds: m.restoreNeeds } : {}),
    ...(m.sqlite ? { sqlitePath: m.sqlite.path } : {}),
  }
}

/** A backup is read and restored through its source's configuration: the engine must still be the one it was taken with. */
export function assertSameEngine(source: SourceConfig, manifest: Manifest): void {
  if (manifest.engine === source.engine) return
  throw new DbkeeperError(
    'USAGE',
    `backup ${manifest.id} was taken from a ${manifest.engine} source, but ${source.label} (${source.id}) is now configured as ${source.engine}`,
    {
      hint: `configure ${source.id}_TYPE as it was, or restore the file with scripts/restore-${manifest.engine}.sh (docs/RESTORE.md)`,
    },
  )
}

function refused(entry: CatalogEntry, why: string, cause?: unknown): DbkeeperError {
  return new DbkeeperError(
    'VERIFY_FAILED',
    `backup ${entry.manifest.id} is damaged and was refused: ${why}; nothing was changed`,
    {
      hint: `restore an older backup instead (\`dbkeeper list ${entry.manifest.source} --database ${entry.manifest.database}\`), or its copy on S3`,
      cause,
    },
  )
}

/** What is known without reading the backup: its engine, the catalog's problem, its `.sha256` sidecar. */
async function assertListedIntact(source: SourceConfig, entry: CatalogEntry): Promise<void> {
  const m = entry.manifest
  assertSameEngine(source, m)
  if (entry.problem) throw refused(entry, entry.problem)
  const sidecar = await readFile(`${entry.dataPath}${CHECKSUM_SUFFIX}`, 'utf8').catch(() => undefined)
  if (sidecar !== undefined && sidecar.split(/\s+/)[0] !== m.compressed.sha256) {
    throw refused(
      entry,
      `its ${m.file}${CHECKSUM_SUFFIX} names sha256 ${sidecar.split(/\s+/)[0]}, the manifest ${m.compressed.sha256}`,
    )
  }
}

/**
 * Proves a backup before use: data file present and of the manifest's size, the `.sha256` sidecar
 * agreeing with the manifest, the whole file read and decompressed with sizes and both sha256
 * compared, the end marker present; a custom-format archive is also read through by pg_restore.
 * Throws VERIFY_FAILED naming what is wrong. `membersDoubted`: a sectioned file proven good whose
 * member table does not describe it (a restore loads it on one connection), and why.
 */
export async function verifyBackup(
  source: SourceConfig,
  entry: CatalogEntry,
  workDir: string,
  signal: AbortSignal | undefined,
  keys: DecryptionKeys | undefined,
): Promise<{ membersDoubted?: string }> {
  const m = entry.manifest
  await assertListedIntact(source, entry)
  let membersDoubted: string | undefined
  const reader = await readerForBackup(source, backupFacts(m), workDir)
  // Before the try: an unknown codec is not damage, nor is a missing key; each says so itself.
  const compression = compressionOf(m)
  const decrypt = decrypterOf(m, keys)
  try {
    await verifyBackupFile(
      entry.dataPath,
      compression,
      {
        raw: m.raw,
        compressed: m.compressed,
        ...(m.encryption ? { plaintext: m.encryption.plaintext } : {}),
        checkContent: (h, t) => reader.checkContent(h, t),
        // A sectioned file: each member proven as well, exactly when a restore would load by them.
        members: loadableMembers(m),
        membersDoubted: (why) => (membersDoubted = why),
      },
      signal,
      decrypt,
    )
  } catch (error) {
    if (error instanceof DbkeeperError && error.code === 'VERIFY_FAILED') throw refused(entry, error.message, error)
    throw error
  }
  if (reader.verifyContent) {
    const content = openContent(entry, keys)
    const problem = await reader.verifyContent(content.stream, signal)
    if (problem) throw refused(entry, problem)
  }
  return membersDoubted === undefined ? {} : { membersDoubted }
}

export { withoutKey } from '../pipeline/encryption.js'

/**
 * An encrypted backup where no key is set (the appliance holds public keys only): the file's size
 * and sha256 against the manifest and its `.sha256`, which finds a flipped bit. That its content
 * decrypts and decompresses was proven when it was committed; only a key proves it again.
 */
export async function verifyCiphertext(source: SourceConfig, entry: CatalogEntry, signal?: AbortSignal): Promise<void> {
  const m = entry.manifest
  assertSameEngine(source, m)
  if (entry.problem) throw refused(entry, entry.problem)
  const sidecar = await readFile(`${entry.dataPath}${CHECKSUM_SUFFIX}`, 'utf8').catch(() => undefined)
  const file = new Meter(false)
  await pipelineAsync(
    createReadStream(entry.dataPath, { highWaterMark: 1 << 20 }),
    file,
    discard(),
    signal ? { signal } : {},
  )
  const got = file.result()
  if (got.size !== m.compressed.size || got.sha256 !== m.compressed.sha256)
    throw refused(
      entry,
      `the file has ${got.size} bytes with sha256 ${got.sha256}, the manifest says ${m.compressed.size} with ${m.compressed.sha256}`,
    )
  if (sidecar !== undefined && sidecar.split(/\s+/)[0] !== m.compressed.sha256)
    throw refused(
      entry,
      `its ${m.file}${CHECKSUM_SUFFIX} names sha256 ${sidecar.split(/\s+/)[0]}, the manifest ${m.compressed.sha256}`,
    )
}

/**
 * Before the question: a missing key, or one that opens none of an encrypted backup's stanzas, is
 * refused now (AUTH, naming the recipients), not after the operator said yes. Reads the header
 * only; whatever else the first 64 KiB show is for the full verification to judge.
 */
export async function assertKeysOpen(entry: CatalogEntry, keys: DecryptionKeys | undefined): Promise<void> {
  const decrypt = decrypterOf(entry.manifest, keys)
  if (!decrypt) return
  try {
    await pipelineAsync(createReadStream(entry.dataPath, { end: 64 * 1024 - 1 }), decrypt(), discard())
  } catch (error) {
    if (error instanceof DbkeeperError && error.code === 'AUTH') throw error
  }
}

export interface BackupContent {
  /** The decompressed bytes. Fails (emits 'error') when the file cannot be read or decompressed. */
  stream: Meter
  /** After `stream` was read to its end: throws when the bytes were not the manifest's. */
  assertComplete(): void
}

/**
 * Opens a backup's decrypted, decompressed content. Memory stays flat: it is a stream with
 * backpressure. `keys` decrypt an encrypted backup (DecryptionKeys of the configuration).
 */
export function openContent(entry: CatalogEntry, keys: DecryptionKeys | undefined): BackupContent {
  const m = entry.manifest
  const raw = new Meter(false)
  const decrypt = decrypterOf(m, keys)
  // The callback form: the consumer reads `raw`; a failing read or decompression destroys `raw`
  // with that error, so the consumer sees why the stream broke off.
  pipeline(
    [
      createReadStream(entry.dataPath, { highWaterMark: 1 << 20 }),
      ...(decrypt ? [decrypt()] : []),
      compressionOf(m).decompress(),
      raw,
    ],
    () => {},
  )
  return {
    stream: raw,
    assertComplete() {
      const got = raw.result()
      if (got.size !== m.raw.size || got.sha256 !== m.raw.sha256) {
        throw new DbkeeperError(
          'RESTORE_FAILED',
          `backup ${m.id} changed while it was being restored: read ${got.size} bytes (sha256 ${got.sha256}), the manifest says ${m.raw.size} (${m.raw.sha256})`,
          {
            hint: 'check the backup volume for disk errors (`dmesg`), then run `dbkeeper verify` on the backup and restore again',
          },
        )
      }
    },
  }
}

/**
 * Before a backup is proven as it loads: what costs no read of it — engine, catalog problem,
 * `.sha256` sidecar, the file's size (a truncated file is refused here) — and that its codec and
 * key are usable. Throws the refusal, as verifyBackup does, before anything is touched. Gives the
 * backup's reader, for openProvingContent; undefined when its format is proven by more than its
 * edges (a PostgreSQL custom-format archive, read through by pg_restore): prove it first with
 * verifyBackup.
 */
export async function checkBeforeLoad(
  source: SourceConfig,
  entry: CatalogEntry,
  workDir: string,
  keys: DecryptionKeys | undefined,
): Promise<BackupReader | undefined> {
  await assertListedIntact(source, entry)
  const m = entry.manifest
  const size = await stat(entry.dataPath).then(
    (s) => s.size,
    () => undefined,
  )
  if (size !== m.compressed.size)
    throw refused(
      entry,
      size === undefined
        ? `its data file ${entry.dataPath} is missing`
        : `the data file has ${size} bytes, the manifest says ${m.compressed.size}`,
    )
  // Each throws its own error (an unknown codec, a missing key) now, not in the middle of the load.
  compressionOf(m)
  decrypterOf(m, keys)
  const reader = await readerForBackup(source, backupFacts(m), workDir)
  return reader.verifyContent === undefined ? reader : undefined
}

/**
 * A backup's content proven AS it is read (after checkBeforeLoad): the file is read once, and the
 * file's sha256 and size, the decrypted stream's under encryption, the content's sha256 and size
 * and the end-of-dump marker are measured on the bytes on their way to the loader — the proof
 * verifyBackup gives, without a read of its own. `verdict` gives the refusal when they are not the
 * manifest's; the driver (one that loads aside) then drops what it loaded. `reader` is the backup's
 * (checkBeforeLoad's, loaded beforehand: assertComplete judges the end-of-dump marker at once).
 */
export function openProvingContent(
  reader: BackupReader,
  entry: CatalogEntry,
  keys: DecryptionKeys | undefined,
): DriverContent & { stream: Meter } {
  const members = loadableMembers(entry.manifest)
  if (!members) return openProvingStream(reader, entry, keys)
  return {
    ...openProvingSections(reader, entry, members, (why) => refused(entry, why)),
    sequential: () => openProvingStream(reader, entry, keys),
  }
}

/** openProvingContent's one stream: the whole file read in order. */
function openProvingStream(
  reader: BackupReader,
  entry: CatalogEntry,
  keys: DecryptionKeys | undefined,
): DriverContent & { stream: Meter } {
  const m = entry.manifest
  const decrypt = decrypterOf(m, keys)
  const file = new Meter(false)
  const plaintext = decrypt ? new Meter(false) : undefined
  const raw = new Meter(true)
  let failure: Error | undefined
  let ended = false
  const read = new Promise<void>((resolve) => {
    pipeline(
      [
        createReadStream(entry.dataPath, { highWaterMark: 1 << 20 }),
        file,
        ...(decrypt && plaintext ? [decrypt(), plaintext] : []),
        compressionOf(m).decompress(),
        raw,
      ],
      (error) => {
        failure = error ?? undefined
        ended = true
        resolve()
      },
    )
  })
  /** The refusal, or undefined; only once the read ended (a meter's digest closes its hash). */
  const judge = (): DbkeeperError | undefined => {
    if (failure) {
      if (failure instanceof DbkeeperError && failure.code === 'AUTH') return failure
      return refused(
        entry,
        `it does not ${decrypt ? 'decrypt and decompress' : 'decompress'}: ${failure.message}`,
        failure,
      )
    }
    const problems: string[] = []
    const c = file.result()
    if (c.size !== m.compressed.size) problems.push(`file size ${c.size} bytes, expected ${m.compressed.size}`)
    else if (c.sha256 !== m.compressed.sha256) problems.push(`file sha256 ${c.sha256}, expected ${m.compressed.sha256}`)
    const p = plaintext?.result()
    const e = m.encryption?.plaintext
    if (p && e && (p.size !== e.size || p.sha256 !== e.sha256))
      problems.push(`decrypted ${p.size} bytes with sha256 ${p.sha256}, expected ${e.size} (${e.sha256})`)
    const r = raw.result()
    if (r.size !== m.raw.size) problems.push(`decompressed size ${r.size} bytes, expected ${m.raw.size}`)
    else if (r.sha256 !== m.raw.sha256) problems.push(`decompressed sha256 ${r.sha256}, expected ${m.raw.sha256}`)
    const content = reader.checkContent(raw.head(), raw.tail())
    if (content) problems.push(content)
    return problems.length > 0 ? refused(entry, problems.join('; ')) : undefined
  }
  let verdict: Promise<DbkeeperError | undefined> | undefined
  return {
    stream: raw,
    assertComplete() {
      if (!ended)
        throw new DbkeeperError('RESTORE_FAILED', `backup ${m.id} was not read to its end`, {
          hint: 'restore again; if it fails the same way, run `dbkeeper verify` on the backup',
        })
      const refusal = judge()
      if (refusal) throw refusal
    },
    verdict() {
      // A loader that stopped early left the rest unread: read it (and discard it) to judge the whole.
      if (!ended) raw.resume()
      verdict ??= read.then(judge)
      return verdict
    },
  }
}
