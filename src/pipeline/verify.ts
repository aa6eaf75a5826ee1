import { createReadStream } from 'node:fs'
import { open, type FileHandle } from 'node:fs/promises'
import { Readable, Transform, type Duplex } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { createGunzip, createInflateRaw } from 'node:zlib'
import { DbkeeperError } from '../runtime/errors.js'
import { collectGarbage } from '../runtime/collect.js'
import { failpoint } from '../runtime/failpoint.js'
import type { Compression } from './compression.js'
import { inflateMembers, whereMembersDiffer } from './gzip-member-reader.js'
import type { GzipMember } from './gzip-parallel.js'
import { ByteRange, readGzipLayout, TrailerCheck } from './gzip-reader.js'
import { discard, Meter, type Measurement } from './meter.js'
import { zstdDecompressor } from './zstd.js'

// 1 MiB reads: a backup is read once, front to back; larger reads only raised peak RSS (measured).
const READ_CHUNK = 1024 * 1024
// Inflate output per trip to the thread pool (see compression.ts).
const INFLATE_CHUNK = 1024 * 1024

export interface VerifyExpectation {
  raw: Measurement
  compressed: Measurement
  /** Encrypted backups: the compressed stream before encryption (manifest `encryption.plaintext`). */
  plaintext?: Measurement
  /** The engine's content check on the decompressed bytes (end-of-dump marker, file magic). */
  checkContent?: (head: Buffer, tail: Buffer) => string | undefined
  /**
   * A sectioned gzip file, unencrypted: its members as the manifest lists them, tiling the file
   * and the content (restore/sections.ts loadableMembers). The file is then read member by member
   * (gzip-member-reader.ts): each member a whole gzip member where the table puts it, its CRC32
   * and ISIZE checked, its content the table's (sha256, size); a file that is not the manifest's
   * names the members whose content sha256 or size is not the table's. A table that does not
   * describe a good file passes, as it did before verify read the members: a restore then loads
   * the file on one connection. Said to `membersDoubted`, with why, so that a verify can say it.
   */
  members?: readonly GzipMember[] | undefined
  /** The member table did not describe the file, which was proven good read as one stream. */
  membersDoubted?: (why: string) => void
}

/**
 * Passes each chunk on in a later turn of the event loop. Without it, zlib's callback pushes the
 * inflated chunk straight into the sha256 meter and only then asks the thread pool for the next
 * one: inflate and hash take turns on one core. With it, the pool inflates chunk n+1 while the
 * main thread hashes chunk n — verification runs on two cores (docs/PERFORMANCE.md).
 */
function handOff(): Transform {
  return new Transform({ transform: (chunk: Buffer, _enc, done) => setImmediate(() => done(null, chunk)) })
}

/**
 * The encrypted read-back makes ~6 bytes of short-lived Buffers per byte of file (the read block,
 * the 64 KiB ciphertext chunk, its plaintext, the inflated output), and V8 collects them only
 * after ~64 MB of them: `external` rose from ~15 to ~77 MB in 150 ms and took the backup to
 * 160–173 MB RSS. A full collection after every 16 MiB of inflated output keeps it at ~40 MB
 * (docs/PERFORMANCE.md, "Memory"); each costs ~15–30 ms (a 26 MB heap), ~6 per 100 MB of dump.
 */
const COLLECT_EVERY = 16 * 1024 * 1024

/** Passes chunks on; a full collection after every `every` bytes (runtime/collect.ts). */
function collecting(every: number): Transform {
  let since = 0
  return new Transform({
    transform(chunk: Buffer, _enc, done) {
      since += chunk.length
      if (since >= every) {
        since = 0
        collectGarbage()
      }
      done(null, chunk)
    },
  })
}

/**
 * Reads a backup file back, decrypts it when `decrypt` is given, and decompresses it to the end
 * (our `gzip -t`), then checks the file's and the raw sizes and sha256 (and the plaintext's under
 * encryption) and the engine's content check. Throws VERIFY_FAILED naming what differs, or the
 * decrypter's AUTH error for a key that does not open the file; a backup that passes restores to
 * exactly the bytes the dump tool wrote.
 */
export async function verifyBackupFile(
  path: string,
  compression: Compression,
  expected: VerifyExpectation,
  signal?: AbortSignal,
  decrypt?: () => Duplex,
): Promise<void> {
  let read: ReadBack
  /** Why the member table could not be followed: the damage, named, unless the file reads as one stream. */
  let memberFailure: Error | undefined
  try {
    const gzip = compression.kind === 'gzip' && !decrypt
    // gzip: the fast path for the one-member files we write, or, for a sectioned file, the member
    // table's; anything they cannot vouch for is decompressed again the ordinary way, which gives
    // the verdict (a member table that does not describe a good file is the table's fault, not
    // the backup's: a restore loads such a file on one connection).
    const fast =
      gzip && expected.members
        ? await readGzipMembers(path, expected.members, signal).catch((error: unknown) => {
            if ((error as Error).name === 'AbortError' || (error as NodeJS.ErrnoException).code === 'ENOENT')
              throw error
            memberFailure = error as Error
            return undefined
          })
        : gzip
          ? await readGzipFast(path, signal)
          : undefined
    if (fast) read = fast
    else if (decrypt) {
      const plaintext = new Meter(false)
      const collect = [collecting(COLLECT_EVERY)]
      read = { ...(await readBack(path, compression.decompress(), signal, [decrypt(), plaintext], collect)), plaintext }
    } else read = await readBack(path, compression.decompress(), signal)
  } catch (error) {
    // A sectioned file that does not read as one stream either: the member path named where.
    throw readBackFailure(path, error, decrypt !== undefined, memberFailure ?? (error as Error))
  }
  const problems = readBackProblems(read, expected)
  // A sectioned file whose whole is not the manifest's: which members differ, each read again.
  if (problems.length > 0 && expected.members && compression.kind === 'gzip' && !decrypt)
    problems.push(...(await whereMembersDiffer(path, expected.members)))
  refuseDifferences(path, problems)
  if (memberFailure) expected.membersDoubted?.(memberFailure.message)
}

/**
 * What a read-back that failed throws: an abort, or a key that does not open the file (AUTH), as
 * they are; a missing file as such; else VERIFY_FAILED, the damage named by `why` (by default
 * the error itself).
 */
function readBackFailure(path: string, error: unknown, decrypting: boolean, why = error as Error): unknown {
  if ((error as Error).name === 'AbortError') return error
  if (error instanceof DbkeeperError && error.code === 'AUTH') return error
  if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
    return new DbkeeperError('VERIFY_FAILED', `backup file ${path} is missing`, {
      hint: 'the backup cannot be used; take a new one',
      cause: error,
    })
  }
  const what = decrypting ? 'decrypt and decompress' : 'decompress'
  return new DbkeeperError('VERIFY_FAILED', `${path} does not ${what}: ${why.message}`, {
    hint: 'the file is damaged or truncated; do not restore from it',
    cause: error,
  })
}

/** What a read-back measured: the file, the content, the decrypted stream. */
interface ReadBack {
  compressed: Meter
  raw: Meter
  plaintext?: Meter
}

/** What the read-back measured against what was written: VERIFY_FAILED naming every difference. */
function compareReadBack(path: string, read: ReadBack, expected: VerifyExpectation): void {
  refuseDifferences(path, readBackProblems(read, expected))
}

/** Every difference between what the read-back measured and what was written. */
function readBackProblems(read: ReadBack, expected: VerifyExpectation): string[] {
  const { compressed, raw } = read
  const c = compressed.result()
  const r = raw.result()
  const problems: string[] = []
  if (c.size !== expected.compressed.size)
    problems.push(`file size ${c.size} bytes, expected ${expected.compressed.size}`)
  else if (c.sha256 !== expected.compressed.sha256)
    problems.push(`file sha256 ${c.sha256}, expected ${expected.compressed.sha256}`)
  const p = read.plaintext?.result()
  if (p && expected.plaintext && (p.size !== expected.plaintext.size || p.sha256 !== expected.plaintext.sha256))
    problems.push(
      `decrypted ${p.size} bytes with sha256 ${p.sha256}, expected ${expected.plaintext.size} (${expected.plaintext.sha256})`,
    )
  if (r.size !== expected.raw.size) problems.push(`decompressed size ${r.size} bytes, expected ${expected.raw.size}`)
  else if (r.sha256 !== expected.raw.sha256)
    problems.push(`decompressed sha256 ${r.sha256}, expected ${expected.raw.sha256}`)
  const content = expected.checkContent?.(raw.head(), raw.tail())
  if (content) problems.push(content)
  return problems
}

function refuseDifferences(path: string, problems: string[]): void {
  if (problems.length > 0) {
    throw new DbkeeperError('VERIFY_FAILED', `${path} does not match what was written: ${problems.join('; ')}`, {
      hint: 'the file changed after it was written or the disk returned bad data; do not restore from it',
    })
  }
}

/** A read-back that runs while the file is still being written (`followBackupFile`). */
export interface FollowingVerification {
  /** Once the file is complete: the read-back finishes and is compared, as `verifyBackupFile` does. */
  finish(expected: VerifyExpectation): Promise<void>
  /** The backup failed: stop reading. */
  stop(): void
}

/**
 * The read-back of `verifyBackupFile`, started while the file is being written: it reads each
 * byte from the file once the kernel has it, decompresses it and measures both sides, and reads to
 * the end once `written` has settled (the writer closed the file). Same proof, from the same file
 * on disk — every byte read back from the file, after it was written; the file is only ever
 * appended to (`wx`), so what was read stays what is there — but the inflating and hashing overlap
 * the compression instead of following it.
 *
 * `decrypt` (ENCRYPTION=age): the file's bytes are decrypted on the way, as `verifyBackupFile`
 * does after the fact, and the plaintext measured too. The end is the reader's alone: it ends only
 * once the writer is done and a read at the file's end returns nothing, so a chunk the writer is
 * still writing is never the file's end — the decrypter holds a partial age chunk (and a whole
 * one, until a byte after it says it is not the last) and only opens the last chunk at that end.
 *
 * `handed`: how many bytes the writer has been given so far. The reader then waits for that count
 * instead of asking the file's size (an fstat on the thread pool, a Stats object, every 10 ms
 * and before every read: ~5% of the main thread in a backup's profile). It only says when to
 * read: what is checked is still what the read returns from the file; a count ahead of the file
 * (bytes given but not yet written) only makes a read come back short, and it is read again.
 */
export function followBackupFile(
  path: string,
  compression: Compression,
  written: Promise<void>,
  signal: AbortSignal,
  handed?: () => number,
  decrypt?: () => Duplex,
): FollowingVerification {
  const stop = new AbortController()
  const both = AbortSignal.any([signal, stop.signal])
  const compressed = new Meter(false)
  const raw = new Meter(true)
  const plaintext = decrypt ? new Meter(false) : undefined
  // gzip and zstd: a quarter of the 1 MiB output chunk of an after-the-fact read-back. This one runs next
  // to the compression, and its buffers add to the compression's: smaller ones kept peak RSS down.
  const decompress =
    compression.kind === 'gzip'
      ? createGunzip({ chunkSize: FOLLOW_CHUNK })
      : compression.kind === 'zstd'
        ? zstdDecompressor(FOLLOW_CHUNK)
        : compression.decompress()
  const reading = pipeline(
    [
      new FollowingReader(path, written, both, handed),
      compressed,
      ...(decrypt && plaintext ? [decrypt(), plaintext] : []),
      decompress,
      handOff(),
      // No forced collection (COLLECT_EVERY) here: spread over the dump in 256 KiB reads, the
      // decrypting read-back's garbage is V8's ordinary work; with it, 0.1-0.2 CPU s more and the
      // same peak RSS (docs/PERFORMANCE.md, "the encrypted read-back follows the file").
      raw,
      discard(),
    ],
    { signal: both },
  )
  reading.catch(() => {}) // awaited in finish(); a backup that fails first never asks
  return {
    stop: () => stop.abort(),
    async finish(expected) {
      try {
        await reading
      } catch (error) {
        throw readBackFailure(path, error, decrypt !== undefined)
      }
      compareReadBack(path, { compressed, raw, ...(plaintext ? { plaintext } : {}) }, expected)
    },
  }
}

function toError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error))
}

/** Reads of the following read-back (and gzip's inflate chunk there): 256 KiB, measured against 1 MiB. */
const FOLLOW_CHUNK = 256 * 1024

/** How long the reader waits for the next whole chunk before looking again, while the writer is busy. */
const FOLLOW_POLL_MS = 10

/**
 * A file read front to back while another stream appends to it: in whole chunks as the file grows
 * (looking again every FOLLOW_POLL_MS), then, once `written` settles, to the end of the file.
 * The file may not exist yet when this starts (the writer creates it): it is opened once it does.
 */
class FollowingReader extends Readable {
  readonly #path: string
  readonly #signal: AbortSignal
  #file: FileHandle | undefined
  #offset = 0
  #writerDone = false
  #writerError: unknown
  readonly #handed: (() => number) | undefined

  constructor(path: string, written: Promise<void>, signal: AbortSignal, handed?: () => number) {
    super({ highWaterMark: FOLLOW_CHUNK })
    this.#path = path
    this.#signal = signal
    this.#handed = handed
    written.then(
      () => (this.#writerDone = true),
      (error: unknown) => {
        this.#writerDone = true
        this.#writerError = error ?? new Error('the backup file was not written')
      },
    )
  }

  override _read(): void {
    this.#next().then(
      (chunk) => this.push(chunk),
      (error: unknown) => this.destroy(error as Error),
    )
  }

  override _destroy(error: Error | null, done: (error?: Error | null) => void): void {
    const file = this.#file
    this.#file = undefined
    if (file) file.close().then(() => done(error), done)
    else done(error)
  }

  /** The next chunk of the file, or null at its end once the writer is done. */
  async #next(): Promise<Buffer | null> {
    for (;;) {
      this.#signal.throwIfAborted()
      // Torn down (a later stage failed: damage found) while this waited: no reopening the file
      // that _destroy closed.
      if (this.destroyed) return null
      // Settled before the read below: a read after the writer closed the file sees all of it.
      const writerDone = this.#writerDone
      if (writerDone && this.#writerError !== undefined) throw toError(this.#writerError)
      if (!this.#file) {
        const file = await this.#open(writerDone)
        if (this.destroyed) {
          await file?.close()
          return null
        }
        this.#file = file
      }
      // While the writer is busy, read only whole chunks: a short read per poll would mean many
      // small trips to the thread pool (and copies) for the same bytes.
      const ready = this.#file && (writerDone || (await this.#available(this.#file)) - this.#offset >= FOLLOW_CHUNK)
      if (this.#file && ready) {
        const buffer = Buffer.allocUnsafe(FOLLOW_CHUNK)
        const { bytesRead } = await this.#file.read(buffer, 0, FOLLOW_CHUNK, this.#offset)
        if (bytesRead > 0) {
          this.#offset += bytesRead
          failpoint('backup.read-back')
          // Behind a slow writer reads come up short: keep only their bytes, not a whole buffer each.
          return bytesRead < FOLLOW_CHUNK / 2
            ? Buffer.from(buffer.subarray(0, bytesRead))
            : buffer.subarray(0, bytesRead)
        }
        if (writerDone) return null
      }
      await new Promise((resolve) => setTimeout(resolve, FOLLOW_POLL_MS))
    }
  }

  /** Bytes that are (or are about to be) in the file: the writer's count when given, else its size. */
  async #available(file: FileHandle): Promise<number> {
    return this.#handed ? this.#handed() : (await file.stat()).size
  }

  /** The file once the writer has created it; undefined while it does not exist yet. */
  async #open(writerDone: boolean): Promise<FileHandle | undefined> {
    try {
      return await open(this.#path, 'r')
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT' && !writerDone) return undefined
      throw error
    }
  }
}

/** Read the file, decompress it to the end, and measure both sides. */
async function readBack(
  path: string,
  decompress: Duplex,
  signal?: AbortSignal,
  middle: Duplex[] = [],
  after: Duplex[] = [],
): Promise<{ compressed: Meter; raw: Meter }> {
  const compressed = new Meter(false)
  const raw = new Meter(true)
  await pipeline(
    [
      createReadStream(path, { highWaterMark: READ_CHUNK }),
      compressed,
      ...middle,
      decompress,
      handOff(),
      ...after,
      raw,
      discard(),
    ],
    signal ? { signal } : {},
  )
  return { compressed, raw }
}

/**
 * A sectioned gzip file, member by member (gzip-member-reader.ts): one read of the file, its
 * sha256 as for any file; each member inflated on the thread pool while the main thread checks
 * and hashes the one before (handOff). Throws, naming the member, for one that does not inflate.
 */
async function readGzipMembers(path: string, members: readonly GzipMember[], signal?: AbortSignal): Promise<ReadBack> {
  const compressed = new Meter(false)
  const raw = new Meter(true)
  await pipeline(
    createReadStream(path, { highWaterMark: READ_CHUNK }),
    compressed,
    (file: AsyncIterable<Buffer>) => inflateMembers(file, members),
    handOff(),
    raw,
    discard(),
    signal ? { signal } : {},
  )
  return { compressed, raw }
}

/** The one-member gzip fast path (gzip-reader.ts); undefined when it cannot vouch for the file. */
async function readGzipFast(
  path: string,
  signal?: AbortSignal,
): Promise<{ compressed: Meter; raw: Meter } | undefined> {
  const layout = await readGzipLayout(path)
  if (!layout) return undefined
  const inflate = createInflateRaw({ chunkSize: INFLATE_CHUNK })
  try {
    const read = await readBack(
      path,
      inflate,
      signal,
      [new ByteRange(layout.bodyStart, layout.bodyEnd)],
      [new TrailerCheck(layout)],
    )
    // The deflate stream must end exactly where the trailer starts: otherwise more members follow.
    return inflate.bytesWritten === layout.bodyEnd - layout.bodyStart ? read : undefined
  } catch (error) {
    if ((error as Error).name === 'AbortError') throw error
    return undefined
  }
}
