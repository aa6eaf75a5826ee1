/**
 * Whether the archive holds every committed change, by position in the WAL, as Litestream 0.3.13
 * reckons its own position: not by file times. A segment's mtime says when it was written, not
 * what it holds: Litestream copies the live WAL into its shadow WAL (`.<name>-litestream/`, once
 * a second), and a second loop ships the shadow WAL to the replica (once a second). A commit made
 * after the copy and before the segment is written has an mtime older than that segment, and is
 * not in it (seen: the last 42 rows of a writer, ~200 ms, missing from a restore asked after such
 * a "caught up").
 *
 *   live WAL  --copy-->  shadow WAL <gen>/wal/<index>.wal  --ship-->  replica <gen>/wal/<index>_<offset>.wal.lz4
 *
 * Caught up: no valid committed frame in the live WAL past the shadow WAL's end (SQLite's own
 * recovery rule: same salt, checksum chain intact, a commit marker), and the replica's newest
 * segment ends where the shadow WAL ends (Litestream's calcPos: start offset + decompressed size).
 */
import { basename, dirname, join } from 'node:path'
import type { FileReads, OpenFile } from '../../runtime/file-reads.js'

const WAL_HEADER = 32
const FRAME_HEADER = 24

/** SQLite's WAL checksum over `data` (a multiple of 8 bytes), continuing from (s1, s2). */
export function walChecksum(bigEndian: boolean, data: Buffer, s1: number, s2: number): [number, number] {
  for (let i = 0; i + 8 <= data.length; i += 8) {
    const x0 = bigEndian ? data.readUInt32BE(i) : data.readUInt32LE(i)
    const x1 = bigEndian ? data.readUInt32BE(i + 4) : data.readUInt32LE(i + 4)
    s1 = (s1 + x0 + s2) >>> 0
    s2 = (s2 + x1 + s1) >>> 0
  }
  return [s1, s2]
}

async function readAt(file: OpenFile, position: number, length: number): Promise<Buffer | undefined> {
  const buf = Buffer.alloc(length)
  return (await file.read(buf, position)) === length ? buf : undefined
}

/**
 * Whether the live WAL holds a committed transaction past `shadowEnd` of a shadow WAL that starts
 * with `shadowHeader`. A different header: the WAL restarted since the copy, every frame is new.
 * Undefined: the shadow WAL is longer than the live one (truncated behind Litestream's back).
 */
export async function commitPastShadow(
  live: OpenFile,
  shadowHeader: Buffer,
  shadowEnd: number,
): Promise<boolean | undefined> {
  const header = await readAt(live, 0, WAL_HEADER)
  if (!header) return false
  const bigEndian = (header.readUInt32BE(0) & 1) === 1
  const pageSize = header.readUInt32BE(8)
  const frameSize = FRAME_HEADER + pageSize
  const salt = header.subarray(16, 24)
  let offset = WAL_HEADER
  let sums = header.subarray(24, 32)
  if (header.equals(shadowHeader) && shadowEnd > WAL_HEADER) {
    // The chain goes on from the last frame copied, read from the live WAL: it must still be there.
    const last = await readAt(live, shadowEnd - frameSize, FRAME_HEADER)
    if (!last || !last.subarray(8, 16).equals(salt)) return undefined
    offset = shadowEnd
    sums = last.subarray(16, 24)
  }
  let s1 = sums.readUInt32BE(0)
  let s2 = sums.readUInt32BE(4)
  for (;;) {
    const frame = await readAt(live, offset, frameSize)
    if (!frame || !frame.subarray(8, 16).equals(salt)) return false
    ;[s1, s2] = walChecksum(bigEndian, frame.subarray(0, 8), s1, s2)
    ;[s1, s2] = walChecksum(bigEndian, frame.subarray(FRAME_HEADER), s1, s2)
    if (frame.readUInt32BE(16) !== s1 || frame.readUInt32BE(20) !== s2) return false
    if (frame.readUInt32BE(4) !== 0) return true
    offset += frameSize
  }
}

const LZ4_MAGIC = 0x184d2204

/**
 * The decompressed size of an LZ4 frame, from its block headers and sequences (nothing is copied).
 * Undefined for anything else (an age-encrypted segment) or a damaged frame.
 */
export function lz4ContentSize(buf: Buffer): number | undefined {
  if (buf.length < 7 || buf.readUInt32LE(0) !== LZ4_MAGIC) return undefined
  const flags = buf[4]!
  const blockChecksum = (flags & 0x10) !== 0
  let p = 6 + ((flags & 0x08) !== 0 ? 8 : 0) + ((flags & 0x01) !== 0 ? 4 : 0) + 1
  let size = 0
  for (;;) {
    if (p + 4 > buf.length) return undefined
    const word = buf.readUInt32LE(p)
    p += 4
    if (word === 0) return size
    const length = word & 0x7fffffff
    const end = p + length
    if (end > buf.length) return undefined
    if (word & 0x80000000) size += length
    else {
      const n = lz4BlockSize(buf, p, end)
      if (n === undefined) return undefined
      size += n
    }
    p = end + (blockChecksum ? 4 : 0)
  }
}

function lz4BlockSize(buf: Buffer, p: number, end: number): number | undefined {
  let size = 0
  const extend = (n: number): number => {
    for (;;) {
      if (p >= end) return -1
      const b = buf[p++]!
      n += b
      if (b !== 255) return n
    }
  }
  while (p < end) {
    const token = buf[p++]!
    let literals = token >> 4
    if (literals === 15 && (literals = extend(literals)) < 0) return undefined
    p += literals
    size += literals
    if (p >= end) break // the last sequence is literals only
    p += 2 // the match's offset
    let match = token & 15
    if (match === 15 && (match = extend(match)) < 0) return undefined
    size += match + 4
  }
  return p === end ? size : undefined
}

const SHADOW_WAL = /^([0-9a-f]{8})\.wal$/
const SEGMENT = /^([0-9a-f]{8})_([0-9a-f]{8})\.wal\.lz4$/

function frameAlign(size: number, pageSize: number): number {
  if (size < WAL_HEADER) return 0
  const frameSize = FRAME_HEADER + pageSize
  return WAL_HEADER + Math.floor((size - WAL_HEADER) / frameSize) * frameSize
}

/**
 * Whether the replica `replicaDir` holds every commit of the live database `path`: true or false
 * when Litestream's state beside the file says, undefined when it cannot tell (Litestream never
 * ran here, no live WAL, an encrypted replica whose segments cannot be measured).
 */
export async function archivedEveryCommit(
  path: string,
  replicaDir: string,
  reads: FileReads,
): Promise<boolean | undefined> {
  const meta = join(dirname(path), `.${basename(path)}-litestream`)
  const generation = (await reads.readFile(join(meta, 'generation')).catch(() => undefined))?.toString().trim()
  if (!generation || !/^[0-9a-f]+$/.test(generation)) return undefined
  const shadowDir = join(meta, 'generations', generation, 'wal')
  const shadows = (await reads.readdir(shadowDir).catch(() => [] as string[])).filter((n) => SHADOW_WAL.test(n))
  const shadowName = shadows.sort().at(-1)
  if (!shadowName) return undefined
  const shadowIndex = parseInt(SHADOW_WAL.exec(shadowName)![1]!, 16)
  const shadow = await reads.open(join(shadowDir, shadowName)).catch(() => undefined)
  if (!shadow) return undefined
  let shadowHeader: Buffer | undefined
  let shadowSize: number
  try {
    shadowHeader = await readAt(shadow, 0, WAL_HEADER)
    shadowSize = await shadow.size()
  } finally {
    await shadow.close()
  }
  if (!shadowHeader) return undefined
  const shadowEnd = frameAlign(shadowSize, shadowHeader.readUInt32BE(8))

  const live = await reads.open(`${path}-wal`).catch(() => undefined)
  if (!live) return undefined
  try {
    const past = await commitPastShadow(live, shadowHeader, shadowEnd)
    if (past !== false) return past === true ? false : undefined
  } finally {
    await live.close()
  }

  // The replica's position: the end of its newest segment in the shadow's generation.
  const segmentDir = join(replicaDir, 'generations', generation, 'wal')
  const segments = (await reads.readdir(segmentDir).catch(() => [] as string[])).filter((n) => SEGMENT.test(n))
  const newest = segments.sort().at(-1)
  // No segment yet: the generation's snapshot is there at most, its WAL is not.
  if (!newest) return false
  const [, index, offset] = SEGMENT.exec(newest)!
  const body = await reads.readFile(join(segmentDir, newest)).catch(() => undefined)
  const size = body && lz4ContentSize(body)
  if (size === undefined) return undefined
  const segmentIndex = parseInt(index!, 16)
  return segmentIndex > shadowIndex || (segmentIndex === shadowIndex && parseInt(offset!, 16) + size >= shadowEnd)
}
