/**
 * The read-back of a sectioned gzip file (one member per section of a MySQL dump; manifest
 * `members`), driven by the member table: one read of the file, each member's body raw-inflated
 * on the thread pool, its CRC32 and ISIZE checked against its own trailer on the main thread while
 * the pool inflates the next chunk (verify.ts hands the content on to its sha256). The one-member
 * fast path (gzip-reader.ts) cannot vouch for several members; `Gunzip`, which can, computes the
 * CRC inside the inflate call, serially, and came after a failed one-member attempt
 * (docs/PERFORMANCE.md, "Verification"). Each member's content is also hashed and held to the
 * table's sha256 and size, as a restore by sections holds it (restore/sections.ts): a table that
 * does not describe a good file is then told by `verify`, not first by a restore that falls back
 * to one connection. In a file that does not verify, `whereMembersDiffer` names the damaged members.
 */
import { createHash } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { createGunzip, createInflateRaw, crc32 } from 'node:zlib'
import type { GzipMember } from './gzip-parallel.js'
import { gzipHeaderLength } from './gzip-reader.js'
import { discard, Meter } from './meter.js'

/** Inflate output per trip to the thread pool, as for the one-member path (verify.ts). */
const INFLATE_CHUNK = 1024 * 1024

/** `gzip member 2 of 5 (table)`: how a message names a member. */
function memberName(members: readonly GzipMember[], i: number): string {
  return `gzip member ${i + 1} of ${members.length} (${members[i]!.kind})`
}

/**
 * Inflates `file` (the whole file, in order, in any chunking) member by member as `members` says
 * it is laid out, and yields the content. Throws, naming the member, when a member is not a whole
 * gzip member where the table puts it (header, a deflate stream ending exactly at its trailer,
 * CRC32, ISIZE), is not the table's content (sha256, size), or the file ends early; bytes after
 * the last member are read and discarded (the file's size and sha256 judge them). The whole
 * content's sha256 is the caller's.
 */
export async function* inflateMembers(
  file: AsyncIterable<Buffer>,
  members: readonly GzipMember[],
): AsyncGenerator<Buffer> {
  const source = file[Symbol.asyncIterator]()
  let pending: Buffer = Buffer.alloc(0)
  /** The next `max` bytes of the file at most (fewer at a chunk's end); an empty buffer at its end. */
  const take = async (max: number): Promise<Buffer> => {
    while (pending.length === 0) {
      const next = await source.next()
      if (next.done) return pending
      pending = next.value
    }
    const part = pending.subarray(0, max)
    pending = pending.subarray(part.length)
    return part
  }
  for (let i = 0; i < members.length; i++) {
    try {
      yield* inflateMember(members[i]!, take)
    } catch (error) {
      throw new Error(`${memberName(members, i)}: ${(error as Error).message}`, { cause: error })
    }
  }
  // Whatever follows the last member is only counted (the file meter in front of this saw it).
  while ((await take(Infinity)).length > 0);
}

/** One member: `member.size` bytes of `take`, inflated, checked against its own trailer. */
async function* inflateMember(member: GzipMember, take: (max: number) => Promise<Buffer>): AsyncGenerator<Buffer> {
  let left = member.size
  const read = async (max: number): Promise<Buffer> => {
    const part = await take(Math.min(max, left))
    if (part.length === 0 && left > 0) throw new Error(`the file ends ${left} bytes before the member's end`)
    left -= part.length
    return part
  }
  // The header: our writer's is 10 bytes, but any valid one is read (FEXTRA, FNAME, FCOMMENT, FHCRC).
  let head = Buffer.alloc(0)
  let headerLength = gzipHeaderLength(head)
  while (headerLength === 'more') {
    if (left === 0) throw new Error('it ends inside its gzip header')
    head = Buffer.concat([head, await read(64)])
    headerLength = gzipHeaderLength(head)
  }
  if (headerLength === undefined) throw new Error(`no gzip header at offset ${member.offset}`)
  const bodySize = member.size - headerLength - 8
  if (bodySize < 0) throw new Error(`${member.size} bytes, too short for a gzip member`)
  const inflate = createInflateRaw({ chunkSize: INFLATE_CHUNK })
  const early = head.subarray(headerLength)
  let bodyLeft = bodySize
  const body = Readable.from(
    (async function* () {
      // Bytes read with the header, then the rest of the body; the trailer is left in the file.
      const first = early.subarray(0, bodyLeft)
      bodyLeft -= first.length
      if (first.length > 0) yield first
      while (bodyLeft > 0) {
        const part = await read(bodyLeft)
        bodyLeft -= part.length
        yield part
      }
    })(),
    { objectMode: false },
  )
  body.pipe(inflate)
  body.on('error', (error) => inflate.destroy(error))
  let crc = 0
  let size = 0
  const content = createHash('sha256')
  try {
    for await (const chunk of inflate as AsyncIterable<Buffer>) {
      crc = crc32(chunk, crc)
      content.update(chunk)
      size += chunk.length
      yield chunk
    }
  } finally {
    // Stopped early (a failure, an abort): neither stream is left reading.
    body.destroy()
    inflate.destroy()
  }
  // The deflate stream must end exactly where the trailer starts.
  if (inflate.bytesWritten !== bodySize)
    throw new Error(`its deflate stream ends after ${inflate.bytesWritten} of its ${bodySize} bytes`)
  const trailer = Buffer.concat([early.subarray(bodySize), await readAll(read, left)])
  if (trailer.length !== 8) throw new Error('it has no whole gzip trailer')
  if (crc >>> 0 !== trailer.readUInt32LE(0))
    throw new Error(
      `gzip CRC32 ${(crc >>> 0).toString(16)} differs from the trailer's ${trailer.readUInt32LE(0).toString(16)}`,
    )
  if (size % 2 ** 32 !== trailer.readUInt32LE(4))
    throw new Error(`gzip size ${size} differs from the trailer's ${trailer.readUInt32LE(4)}`)
  // A whole, sound member: is it the one the table lists?
  const sha256 = content.digest('hex')
  if (size !== member.raw.size || sha256 !== member.raw.sha256)
    throw new Error(
      `it decompressed to ${size} bytes with sha256 ${sha256}, the table says ${member.raw.size} (${member.raw.sha256})`,
    )
}

/** Exactly `n` more bytes of `read`. */
async function readAll(read: (max: number) => Promise<Buffer>, n: number): Promise<Buffer> {
  const parts: Buffer[] = []
  for (let got = 0; got < n;) {
    const part = await read(n - got)
    parts.push(part)
    got += part.length
  }
  return Buffer.concat(parts)
}

/**
 * Which members' content is not the table's (sha256, size), or does not decompress: each read
 * again on its own, through `Gunzip`. For the message of a file whose whole is not the
 * manifest's, so that it names where the damage is; never asked of a file that verifies.
 */
export async function whereMembersDiffer(path: string, members: readonly GzipMember[]): Promise<string[]> {
  const problems: string[] = []
  for (let i = 0; i < members.length; i++) {
    const x = members[i]!
    const meter = new Meter(false)
    const name = memberName(members, i)
    try {
      await pipeline(
        createReadStream(path, { start: x.offset, end: x.offset + x.size - 1, highWaterMark: 1 << 20 }),
        createGunzip(),
        meter,
        discard(),
      )
    } catch (error) {
      problems.push(`its ${name} does not decompress: ${(error as Error).message}`)
      continue
    }
    const got = meter.result()
    if (got.size !== x.raw.size || got.sha256 !== x.raw.sha256)
      problems.push(
        `its ${name} decompressed to ${got.size} bytes with sha256 ${got.sha256}, expected ${x.raw.size} (${x.raw.sha256})`,
      )
  }
  return problems
}
