/**
 * THE table of codecs: every fact about a stage a backup's bytes pass through after the dump
 * (a compression, then optionally encryption with age, issue 16) lives in one row here — its kind,
 * which stage of the chain it is, the levels it takes and its default, the aliases COMPRESSION
 * accepts, the file extension it appends, and the plain tool that reads it during an incident.
 * Pure data, in the config layer so that config (COMPRESSION), catalog/naming (extensions) and
 * pipeline (encoders and decoders, pipeline/compression.ts, keyed by this table's kinds so the
 * type checker refuses a row without streams) all ask the same rows.
 *
 * A backup's chain is its stages in the order they were applied (extensions appended in that
 * order, `.sql.zst.age`); the manifest records it (`compression`, and `encryption` when the
 * backup is encrypted; manifests without it read as a chain of one). Readers decode in reverse order.
 */

/** A level range: COMPRESSION_LEVEL is checked against it, and the default is what a backup gets without it. */
export interface CodecLevels {
  readonly min: number
  readonly max: number
  readonly default: number
  /** For the configuration error: what a valid value looks like. */
  readonly expected: string
}

export interface CodecFacts {
  /** Which stage of the chain: a chain holds at most one of each, in this order. */
  readonly stage: 'compression' | 'encryption'
  /** Appended to the file name: `.gz`, `.zst`; '' for a stage that leaves the bytes as they are. */
  readonly ext: string
  /** Other spellings COMPRESSION accepts (lower case). */
  readonly aliases: readonly string[]
  /** undefined: the stage takes no level (COMPRESSION_LEVEL is not read; the manifest records 0). */
  readonly levels: CodecLevels | undefined
  /** How to read such a file with plain tools, for messages: `gzip -dc`. */
  readonly readWith: string
}

export const CODECS = {
  gzip: {
    stage: 'compression',
    ext: '.gz',
    aliases: ['gz'],
    // 6 is gzip's own default and a good trade; 9 is much slower for a few percent.
    levels: { min: 1, max: 9, default: 6, expected: 'a gzip level from 1 (fastest) to 9 (smallest)' },
    readWith: 'gzip -dc',
  },
  zstd: {
    stage: 'compression',
    ext: '.zst',
    aliases: ['zst'],
    // zstd's 20–22 need --ultra and GBs of memory, so they are not offered.
    levels: { min: 1, max: 19, default: 3, expected: 'a zstd level from 1 (fastest) to 19 (smallest)' },
    readWith: 'zstd -dc',
  },
  none: { stage: 'compression', ext: '', aliases: [], levels: undefined, readWith: 'cat' },
  // After the compression: encrypted bytes do not compress, and `age -d … | gunzip` reads it.
  age: { stage: 'encryption', ext: '.age', aliases: [], levels: undefined, readWith: 'age -d -i KEY_FILE' },
} as const satisfies Record<string, CodecFacts>

export type CodecKind = keyof typeof CODECS

/**
 * The plain tools that read a backup file, its stages undone in reverse order, for messages:
 * `zstd -dc FILE`, `age -d -i KEY_FILE FILE | gzip -dc`. undefined for a stage this table does not
 * know (a manifest of a newer dbkeeper): reading such a backup is refused, naming the kind.
 */
export function readCommand(compression: string, encryption: string | undefined, file: string): string | undefined {
  if (!isCompressionKind(compression) || (encryption !== undefined && !isEncryptionKind(encryption))) return undefined
  const decompress = CODECS[compression].readWith
  return encryption ? `${CODECS[encryption].readWith} ${file} | ${decompress}` : `${decompress} ${file}`
}

/** The kinds of the compression stage (COMPRESSION's values). */
export type CompressionKind = {
  [K in CodecKind]: (typeof CODECS)[K]['stage'] extends 'compression' ? K : never
}[CodecKind]

/** The kinds of the encryption stage (ENCRYPTION's values). */
export type EncryptionKind = {
  [K in CodecKind]: (typeof CODECS)[K]['stage'] extends 'encryption' ? K : never
}[CodecKind]

/** COMPRESSION when it is not set. */
export const DEFAULT_COMPRESSION: CompressionKind = 'gzip'

/** Every compression kind, in the table's order (for "one of gzip, zstd, none"). */
export const COMPRESSION_KINDS = (Object.keys(CODECS) as CodecKind[]).filter(
  (k): k is CompressionKind => CODECS[k].stage === 'compression',
)

/** Every encryption kind, in the table's order. */
export const ENCRYPTION_KINDS = (Object.keys(CODECS) as CodecKind[]).filter(
  (k): k is EncryptionKind => CODECS[k].stage === 'encryption',
)

/** The aliases of every compression kind, for EnvReader.oneOf: `{ gz: 'gzip', zst: 'zstd' }`. */
export function compressionAliases(): Record<string, CompressionKind> {
  const out: Record<string, CompressionKind> = {}
  for (const kind of COMPRESSION_KINDS) for (const alias of CODECS[kind].aliases) out[alias] = kind
  return out
}

/** Whether `kind` (read from a manifest, which may come from a newer dbkeeper) is in this table. */
export function isCodecKind(kind: string): kind is CodecKind {
  return Object.hasOwn(CODECS, kind)
}

/** Whether `kind` (read from a manifest's `compression`) is a compression of this table. */
export function isCompressionKind(kind: string): kind is CompressionKind {
  return isCodecKind(kind) && CODECS[kind].stage === 'compression'
}

/** Whether `kind` (read from a manifest's `encryption`) is an encryption of this table. */
export function isEncryptionKind(kind: string): kind is EncryptionKind {
  return isCodecKind(kind) && CODECS[kind].stage === 'encryption'
}

/** The level a stage records: the given one where the codec takes levels, 0 where it takes none. */
export function effectiveLevel(kind: CodecKind, level: number): number {
  return CODECS[kind].levels === undefined ? 0 : level
}

/**
 * The compression a file name ends in, for the one case with no manifest to ask (a bare file);
 * `none` when it ends in no compression extension. Everything with a manifest follows the manifest.
 */
export function compressionKindOfName(name: string): CompressionKind {
  const inner = encryptionKindOfName(name) === undefined ? name : name.slice(0, -CODECS.age.ext.length)
  return COMPRESSION_KINDS.find((k) => CODECS[k].ext !== '' && inner.endsWith(CODECS[k].ext)) ?? 'none'
}

/** The encryption a bare file's name ends in (`.age`), or undefined. */
export function encryptionKindOfName(name: string): EncryptionKind | undefined {
  return ENCRYPTION_KINDS.find((k) => name.endsWith(CODECS[k].ext))
}
