/**
 * The streams of the codec table (config/codecs.ts): what each codec's encoder and decoder are.
 * Every other fact of a codec (levels, default, aliases, extension) is read from its row there.
 * Readers take the codec from the backup's manifest (`compressionOf`), never from its file name.
 */
import { PassThrough, type Duplex } from 'node:stream'
import { createGunzip } from 'node:zlib'
import type { Manifest } from '../catalog/manifest.js'
import {
  CODECS,
  COMPRESSION_KINDS,
  compressionKindOfName,
  effectiveLevel,
  isCompressionKind,
  type CompressionKind,
} from '../config/codecs.js'
import { DbkeeperError } from '../runtime/errors.js'
import type { DumpSections } from '../engines/engine.js'
import { createParallelGzip, type GzipMember } from './gzip-parallel.js'
import { ZSTD_ENCODER, zstdCompressor, zstdDecompressor } from './zstd.js'

/**
 * A pluggable compression stage: the pipeline only ever sees these two streams and an extension.
 * Both streams fail (rather than end quietly) when the data or the tool behind them fails.
 */
export interface Compression {
  readonly kind: CompressionKind
  readonly level: number
  /** Appended to the content extension: `.gz`, `.zst`, or '' for none (the codec table's). */
  readonly ext: string
  /** What writes the file, when more than the kind and level say (the manifest records it). */
  readonly encoder?: string
  /**
   * The encoder. `sections` (gzip only; other codecs ignore it): one member per dump section, and
   * `members` on the stream once it ended (gzip-parallel.ts).
   */
  compress(sections?: DumpSections): Duplex & { readonly members?: readonly GzipMember[] | undefined }
  decompress(): Duplex
}

// Inflate output per trip to the thread pool: 1 MiB makes the per-trip overhead negligible
// (inflate produces ~4 bytes per byte read, so 128 KiB trips were ~8000 per GB of dump).
const INFLATE_CHUNK = 1024 * 1024

/** Encoder and decoder per row of the codec table: a row without streams does not type-check. */
const STREAMS: {
  readonly [K in CompressionKind]: {
    encoder(level: number, sections?: DumpSections): Duplex
    decoder(): Duplex
    by?: string
  }
} = {
  // One standard gzip stream, deflated on every core (see gzip-parallel.ts for why). Default
  // finishFlush: a truncated file must fail with "unexpected end of file", not end quietly.
  gzip: {
    encoder: (level, sections) => createParallelGzip(level, { sections }),
    decoder: () => createGunzip({ chunkSize: INFLATE_CHUNK }),
  },
  // Independent frames compressed on every core, in-process (see zstd.ts); `zstd -d` reads them.
  zstd: { encoder: (level) => zstdCompressor(level), decoder: () => zstdDecompressor(), by: ZSTD_ENCODER },
  none: { encoder: () => new PassThrough(), decoder: () => new PassThrough() },
}

export function createCompression(kind: CompressionKind, level: number): Compression {
  const streams = STREAMS[kind]
  const recorded = effectiveLevel(kind, level)
  return {
    kind,
    level: recorded,
    ext: CODECS[kind].ext,
    ...(streams.by ? { encoder: streams.by } : {}),
    compress: (sections) => streams.encoder(recorded, sections),
    decompress: () => streams.decoder(),
  }
}

/**
 * The compression a backup was written with, as its manifest records it: a file renamed since
 * is still read as what it is. A kind this table lacks (a manifest of a newer dbkeeper, or an
 * edited one) is refused before a byte is read, naming the kind and the next step.
 */
export function compressionOf(manifest: Pick<Manifest, 'id' | 'file' | 'compression' | 'engine'>): Compression {
  const kind: string = manifest.compression.kind
  if (!isCompressionKind(kind)) {
    throw new DbkeeperError(
      'VERSION',
      `backup ${manifest.id} is compressed with "${kind}", which this dbkeeper cannot read (it reads ${COMPRESSION_KINDS.join(', ')}); nothing was changed`,
      {
        hint: `use the dbkeeper version that wrote it, or decompress ${manifest.file} by hand and restore it with scripts/restore-${manifest.engine}.sh (docs/RESTORE.md)`,
      },
    )
  }
  return createCompression(kind, manifest.compression.level)
}

/**
 * The compression of a bare file from its name: only for a file with no manifest to ask. No
 * reader of a listed backup uses it (they follow the manifest, `compressionOf`); the level only
 * matters for writing, so it is the codec's default.
 */
export function compressionForFile(name: string): Compression {
  const kind = compressionKindOfName(name)
  return createCompression(kind, CODECS[kind].levels?.default ?? 0)
}
