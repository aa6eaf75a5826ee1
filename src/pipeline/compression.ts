import { PassThrough, type Duplex } from 'node:stream'
import { createGunzip } from 'node:zlib'
import type { CompressionKind } from '../config/types.js'
import { createParallelGzip } from './gzip-parallel.js'
import { zstdCompress, zstdDecompress } from './zstd.js'

/**
 * A pluggable compression stage: the pipeline only ever sees these two streams and an extension.
 * Both streams fail (rather than end quietly) when the data or the tool behind them fails.
 */
export interface Compression {
  readonly kind: CompressionKind
  readonly level: number
  /** Appended to the content extension: `.gz`, `.zst`, or '' for none. */
  readonly ext: string
  compress(): Duplex
  decompress(): Duplex
}

export const DEFAULT_LEVEL: Record<CompressionKind, number> = { gzip: 6, zstd: 3, none: 0 }

// Inflate output per trip to the thread pool: 1 MiB makes the per-trip overhead negligible
// (inflate produces ~4 bytes per byte read, so 128 KiB trips were ~8000 per GB of dump).
const INFLATE_CHUNK = 1024 * 1024

export function createCompression(kind: CompressionKind, level: number): Compression {
  switch (kind) {
    case 'gzip':
      return {
        kind,
        level,
        ext: '.gz',
        // One standard gzip stream, deflated on every core (see gzip-parallel.ts for why).
        compress: () => createParallelGzip(level),
        // Default finishFlush: a truncated file must fail with "unexpected end of file", not end quietly.
        decompress: () => createGunzip({ chunkSize: INFLATE_CHUNK }),
      }
    case 'zstd':
      return { kind, level, ext: '.zst', compress: () => zstdCompress(level), decompress: () => zstdDecompress() }
    case 'none':
      return { kind, level: 0, ext: '', compress: () => new PassThrough(), decompress: () => new PassThrough() }
  }
}

/** The compression a data file was written with, from its name (the level only matters for writing). */
export function compressionForFile(name: string): Compression {
  if (name.endsWith('.gz')) return createCompression('gzip', DEFAULT_LEVEL.gzip)
  if (name.endsWith('.zst')) return createCompression('zstd', DEFAULT_LEVEL.zstd)
  return createCompression('none', 0)
}
