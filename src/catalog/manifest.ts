import type { EncryptionKind } from '../config/codecs.js'
import type { CompressionKind, EngineKind } from '../config/types.js'
import type { BinlogPosition, DatabaseLocale, DumpSectionKind, RestoreNeeds, TableInfo } from '../engines/engine.js'

export const MANIFEST_FORMAT = 1

/**
 * The commit marker of one backup, written last. A data file without a valid manifest is debris:
 * never listed, restored or counted by retention.
 */
export interface Manifest {
  formatVersion: typeof MANIFEST_FORMAT
  id: string
  /** `backup` for normal runs; `pre-restore` for the safety backup a restore takes first. */
  kind: 'backup' | 'pre-restore'
  source: string
  sourceId: string
  engine: EngineKind
  database: string
  /** The data file's name, in the same directory as the manifest. */
  file: string
  startedAt: string
  finishedAt: string
  durationMs: number
  host: string
  server: { version: string }
  tool: { name: string; version: string; options: string[] }
  raw: { size: number; sha256: string }
  compressed: { size: number; sha256: string }
  /**
   * The codec chain the data file was written through (config/codecs.ts), today one stage. Readers
   * follow this, not the file name. A later stage (encryption) is a new optional field read after
   * it; a manifest without that field is a chain of this one stage. `encoder`: what wrote the
   * file when the kind and level do not say it all (zstd: the library and its frames).
   */
  compression: { kind: CompressionKind; level: number; encoder?: string }
  /**
   * The encryption stage after the compression (config/codecs.ts), absent when the backup is not
   * encrypted. `compressed` is then the file, the ciphertext; `encryption.plaintext` the
   * compressed stream before encryption. Never a private key or a passphrase.
   */
  encryption?: ManifestEncryption
  tables: TableInfo[]
  /** What a restore needs of the target server (engine.ts RestoreNeeds); absent in older manifests. */
  restoreNeeds?: RestoreNeeds
  /**
   * SQLite: the absolute path of the file the backup was taken from (DBnn_PATH then). A restore in
   * place writes only onto that file (engines/sqlite/path.ts). Absent in manifests written before
   * it was recorded.
   */
  sqlite?: { path: string }
  /**
   * MySQL/MariaDB with DBnn_PITR: where this dump stands in the server's binary log (engine.ts
   * BinlogPosition), the point a restore to a time replays the archived binlog from. Absent in
   * backups of other sources and in those taken before it was recorded: such a backup is no base
   * for a restore to a time.
   */
  binlog?: BinlogPosition
  /**
   * A MySQL/MariaDB gzip backup, unencrypted: the file is one gzip member per section of the dump
   * (its head, each table, its tail; engines/mysql/sections.ts), which gunzip reads as one stream;
   * here in file order, tiling the file and the content. A restore inflates and loads several
   * members at once (engines/mysql/parallel-load.ts). Absent in other backups and in those taken
   * before it was recorded: such a backup is restored as one stream.
   */
  members?: ManifestMember[]
  verification: { ok: true; at: string; method: string }
  locations: { local?: string; s3?: string }
}

export interface ManifestEncryption {
  kind: EncryptionKind
  /** The public keys (age1…) the file was encrypted to; empty in passphrase mode. */
  recipients: string[]
  /** true: encrypted to a passphrase (scrypt) instead of recipients. */
  passphrase?: boolean
  /** The compressed stream before encryption: size and sha256. */
  plaintext: { size: number; sha256: string }
  /**
   * How the read-back decrypted it: `ephemeral recipient` (one more X25519 stanza, for a key
   * that lived only in memory during the backup and was then forgotten), or `passphrase`.
   */
  readBack: 'ephemeral recipient' | 'passphrase'
}

/** One gzip member of the data file: where it is (header to trailer) and the content it holds. */
export interface ManifestMember {
  kind: DumpSectionKind
  offset: number
  size: number
  raw: { size: number; sha256: string }
}

const REQUIRED_STRINGS = ['id', 'source', 'engine', 'database', 'file', 'startedAt', 'finishedAt'] as const

/** Parses and checks a manifest; returns the reason when it is not one of ours or is damaged. */
export function decodeManifest(text: string): { manifest: Manifest } | { error: string } {
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    return { error: 'the manifest is not valid JSON' }
  }
  if (typeof value !== 'object' || value === null) return { error: 'the manifest is not an object' }
  const m = value as Partial<Manifest>
  if (m.formatVersion !== MANIFEST_FORMAT) return { error: `unknown manifest format ${String(m.formatVersion)}` }
  for (const key of REQUIRED_STRINGS) {
    if (typeof m[key] !== 'string') return { error: `the manifest has no ${key}` }
  }
  if (!isDigest(m.raw) || !isDigest(m.compressed)) return { error: 'the manifest has no sizes and checksums' }
  if (m.sqlite !== undefined && typeof (m.sqlite as { path?: unknown } | null)?.path !== 'string')
    return { error: 'the manifest has an SQLite file path that is not a string' }
  if (m.binlog !== undefined && !isBinlogPosition(m.binlog))
    return { error: 'the manifest has binlog coordinates without a file name and a position' }
  if (m.file!.includes('/') || m.file!.startsWith('.'))
    return { error: 'the manifest names a file outside its directory' }
  // Every field the code reads is checked here, so that a damaged manifest is reported as
  // damaged and never crashes a command ("Cannot read properties of undefined (reading 'length')").
  if (!Array.isArray(m.tables) || !m.tables.every((t) => typeof t?.name === 'string' && typeof t.rows === 'number'))
    return { error: 'the manifest has no list of tables' }
  // A kind this version does not know is not damage (a newer dbkeeper may have written it): the
  // backup is listed, and reading it is refused naming the kind (pipeline/compression.ts compressionOf).
  if (typeof m.compression?.kind !== 'string' || typeof m.compression.level !== 'number')
    return { error: 'the manifest has no compression' }
  if (m.encryption !== undefined) {
    const e = m.encryption as Partial<ManifestEncryption> | null
    if (
      typeof e?.kind !== 'string' ||
      !Array.isArray(e.recipients) ||
      !e.recipients.every((r) => typeof r === 'string') ||
      !isDigest(e.plaintext)
    )
      return { error: 'the manifest has an encryption without its kind, recipients or plaintext checksum' }
  }
  // A restore names these in CREATE DATABASE (engines/mysql/restore-driver.ts): bare names only.
  const charset = (m.restoreNeeds as { charset?: { characterSet?: unknown; collation?: unknown } } | undefined)?.charset
  if (
    charset !== undefined &&
    !(
      typeof charset?.characterSet === 'string' &&
      /^\w+$/.test(charset.characterSet) &&
      typeof charset.collation === 'string' &&
      /^\w+$/.test(charset.collation)
    )
  )
    return { error: 'the manifest has a database character set that is not a bare name' }
  // A restore creates its database with these (engines/postgres/locale.ts): a damaged one must not reach CREATE DATABASE.
  const locale = (m.restoreNeeds as { databaseLocale?: unknown } | undefined)?.databaseLocale
  if (locale !== undefined && !isDatabaseLocale(locale))
    return { error: 'the manifest has a database locale without its encoding, LC_COLLATE or LC_CTYPE' }
  if (m.members !== undefined && !(Array.isArray(m.members) && m.members.every(isMember)))
    return { error: 'the manifest has gzip members without their kind, offset, size or checksum' }
  if (typeof m.tool?.name !== 'string' || typeof m.tool.version !== 'string' || !Array.isArray(m.tool.options))
    return { error: 'the manifest has no dump tool' }
  if (typeof m.server?.version !== 'string') return { error: 'the manifest has no server version' }
  if (typeof m.durationMs !== 'number') return { error: 'the manifest has no duration' }
  if (typeof m.verification?.at !== 'string') return { error: 'the manifest has no verification' }
  // Older manifests may lack these; they are defaulted rather than refused.
  return {
    manifest: {
      ...m,
      kind: m.kind ?? 'backup',
      sourceId: m.sourceId ?? '',
      host: m.host ?? '',
      locations: m.locations ?? {},
    } as Manifest,
  }
}

function isBinlogPosition(v: unknown): v is BinlogPosition {
  const b = v as Partial<BinlogPosition> | null
  return (
    typeof b?.file === 'string' &&
    b.file !== '' &&
    !b.file.includes('/') &&
    Number.isSafeInteger(b.position) &&
    b.position! >= 0 &&
    (b.gtid === undefined || typeof b.gtid === 'string')
  )
}

function isDatabaseLocale(v: unknown): v is DatabaseLocale {
  const l = v as Partial<Record<keyof DatabaseLocale, unknown>> | null
  return (
    typeof l?.encoding === 'string' &&
    typeof l.lcCollate === 'string' &&
    typeof l.lcCtype === 'string' &&
    (['localeProvider', 'providerLocale', 'icuRules'] as const).every(
      (k) => l[k] === undefined || typeof l[k] === 'string',
    )
  )
}

function isMember(v: unknown): v is ManifestMember {
  const m = v as Partial<ManifestMember> | null
  return (
    (m?.kind === 'head' || m?.kind === 'table' || m?.kind === 'tail') &&
    Number.isSafeInteger(m.offset) &&
    m.offset! >= 0 &&
    Number.isSafeInteger(m.size) &&
    m.size! > 0 &&
    isDigest(m.raw)
  )
}

function isDigest(v: unknown): v is { size: number; sha256: string } {
  const d = v as { size?: unknown; sha256?: unknown } | undefined
  return typeof d?.size === 'number' && typeof d.sha256 === 'string' && /^[0-9a-f]{64}$/.test(d.sha256)
}

export function encodeManifest(m: Manifest): string {
  return `${JSON.stringify(m, null, 2)}\n`
}
