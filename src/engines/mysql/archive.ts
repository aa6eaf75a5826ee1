/**
 * The binlog archive of a MySQL/MariaDB source read back (the Archive contract, engines/archive.ts):
 * its ranges and lag (for `status`: the ranges a restore reaches from the source's bases), and for `restore --at` the archived files as time spans and
 * their proof. Times come from the events themselves: a binlog file is a 4-byte magic followed by
 * v4 events, each with a 19-byte header (timestamp: 4 bytes at offset 0, event length: 4 bytes at
 * offset 9, little-endian). The growing file is read only up to its last whole event.
 *
 * A MySQL database is rolled forward on its server (binlog-replay.ts), not into a file:
 * materialize() refuses.
 */
import { createHash } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { open } from 'node:fs/promises'
import { join } from 'node:path'
import { DbkeeperError } from '../../runtime/errors.js'
import { asyncReads, type FileReads } from '../../runtime/file-reads.js'
import type { Archive, ArchiveRange, ArchiveState, Materialized } from '../archive.js'
import { readBinlogArchive, readHeartbeat } from './binlog-archive.js'
import { binlogRanges, reachableRanges, type BinlogBase, type BinlogFileSpan } from './binlog-window.js'

const MAGIC = Buffer.from([0xfe, 0x62, 0x69, 0x6e])
const HEADER = 19
const CHUNK = 1 << 20

/**
 * The first and last event time of a binlog file and the offset after its last whole event.
 * Reads headers only, a chunk at a time; `from`: a span read before of the same file, continued
 * after its end (the growing file read again). Events with a zero timestamp (artificial ones) are
 * not times. Stops at an event too short to be one (a torn or damaged tail): what follows is unread.
 */
export async function readSpan(path: string, file: string, from?: BinlogFileSpan): Promise<BinlogFileSpan> {
  const fd = await open(path, 'r')
  try {
    const size = (await fd.stat()).size
    const magic = Buffer.alloc(4)
    await fd.read(magic, 0, 4, 0)
    if (size < 4 || !magic.equals(MAGIC)) return { file, first: undefined, last: undefined, end: 0 }
    let first = from?.first ? from.first.getTime() / 1000 : undefined
    let last = from?.last ? from.last.getTime() / 1000 : undefined
    let pos = from && from.end >= 4 && from.end <= size ? from.end : 4
    const buf = Buffer.alloc(Math.min(CHUNK, Math.max(HEADER, size - pos)))
    let bufStart = 0
    let bufLen = 0
    while (pos + HEADER <= size) {
      if (pos < bufStart || pos + HEADER > bufStart + bufLen) {
        bufStart = pos
        bufLen = (await fd.read(buf, 0, buf.length, pos)).bytesRead
        if (bufLen < HEADER) break
      }
      const at = pos - bufStart
      const timestamp = buf.readUInt32LE(at)
      const length = buf.readUInt32LE(at + 9)
      if (length < HEADER || pos + length > size) break
      if (timestamp > 0) {
        first ??= timestamp
        last = timestamp
      }
      pos += length
    }
    const date = (s: number | undefined) => (s === undefined ? undefined : new Date(s * 1000))
    return { file, first: date(first), last: date(last), end: pos }
  } finally {
    await fd.close()
  }
}

/** A file before the newest of its run: complete (the server rotated away from it), so only its first event is read. */
async function readHead(path: string, file: string): Promise<BinlogFileSpan> {
  const fd = await open(path, 'r')
  try {
    const size = (await fd.stat()).size
    const head = Buffer.alloc(4 + HEADER)
    const { bytesRead } = await fd.read(head, 0, head.length, 0)
    if (bytesRead < head.length || !head.subarray(0, 4).equals(MAGIC))
      return { file, first: undefined, last: undefined, end: 0 }
    const timestamp = head.readUInt32LE(4)
    return { file, first: timestamp > 0 ? new Date(timestamp * 1000) : undefined, last: undefined, end: size }
  } finally {
    await fd.close()
  }
}

/**
 * The newest file of each run as read last time, by path (with its inode): read again, it is
 * continued where it ended instead of from its start — a growing binlog is up to max_binlog_size,
 * and status, /metrics and the daemon's watch read the archive every few seconds.
 */
const lastRead = new Map<string, { ino: number; span: BinlogFileSpan }>()

async function readNewest(path: string, file: string, reads: FileReads): Promise<BinlogFileSpan> {
  const ino = (await reads.stat(path)).ino
  const known = lastRead.get(path)
  const span = await readSpan(path, file, known?.ino === ino ? known.span : undefined)
  lastRead.set(path, { ino, span })
  return span
}

export interface ArchivedRuns {
  /**
   * Consecutive files without a gap, oldest first, each read as a time span: the newest of a run
   * to its last whole event; the others only to their first event (`last` undefined, `end` their size).
   */
  runs: BinlogFileSpan[][]
  /** The last time the archive held everything the server had written. */
  caughtUpAt: Date | undefined
  /** The newest archived file: it may still grow. */
  growing: string | undefined
  archivedAt: Date | undefined
  lagMs: number | undefined
}

async function sha256Of(path: string): Promise<string> {
  const hash = createHash('sha256')
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer)
  return hash.digest('hex')
}

export class MysqlArchive implements Archive {
  /**
   * `dir`: the source's binlog archive (catalog/naming.ts binlogArchiveDir). `reads`: how `runs`
   * lists it and reads its index, heartbeat and the newest file's inode (runtime/file-reads.ts;
   * fs/promises when not given); the binlog files themselves are read through a FileHandle.
   */
  constructor(
    readonly dir: string,
    private readonly reads: FileReads = asyncReads,
  ) {}

  async runs(now: Date): Promise<ArchivedRuns> {
    const archive = await readBinlogArchive(this.dir, now, this.reads)
    const runs: BinlogFileSpan[][] = []
    const newest = new Set<string>()
    for (const run of archive.runs) {
      const spans: BinlogFileSpan[] = []
      for (const [i, file] of run.files.entries()) {
        const path = join(this.dir, file)
        if (i < run.files.length - 1) {
          spans.push(await readHead(path, file))
        } else {
          spans.push(await readNewest(path, file, this.reads))
          newest.add(path)
        }
      }
      runs.push(spans)
    }
    for (const path of lastRead.keys()) if (path.startsWith(`${this.dir}/`) && !newest.has(path)) lastRead.delete(path)
    const caughtUp = (await readHeartbeat(this.dir, this.reads))?.caughtUpAt
    return {
      runs,
      caughtUpAt: caughtUp ? new Date(caughtUp) : undefined,
      growing: archive.runs.at(-1)?.files.at(-1),
      archivedAt: archive.archivedAt,
      lagMs: archive.lagMs,
    }
  }

  /** What the archive holds: each gap-free run from its first event to its last (binlogRanges). */
  async state(now: Date): Promise<ArchiveState> {
    const { runs, caughtUpAt, archivedAt, lagMs } = await this.runs(now)
    return { ranges: binlogRanges(runs, caughtUpAt), archivedAt, lagMs }
  }

  /**
   * What a restore to a time can reach from `bases` (the proven dumps with coordinates): the
   * ranges of reachableRanges, the one rule `restore --at` follows (restore/at-time-mysql.ts); and
   * `held`, the archive's own ranges, whose splits are its gaps. One reading of the files for both.
   */
  async reachable(now: Date, bases: readonly BinlogBase[]): Promise<ArchiveState & { held: ArchiveRange[] }> {
    const { runs, caughtUpAt, archivedAt, lagMs } = await this.runs(now)
    return {
      ranges: reachableRanges(runs, bases, caughtUpAt),
      held: binlogRanges(runs, caughtUpAt),
      archivedAt,
      lagMs,
    }
  }

  /**
   * Proves the files a replay will read: each one recorded closed in index.jsonl must still have
   * its size and sha256 (a changed file is refused: it is not what the server wrote). A file not
   * yet recorded (the growing one, one the poller has not reached) is proven by the replay itself,
   * which verifies every event's checksum. Rejects with VERIFY_FAILED naming the file.
   */
  async prove(files: readonly string[]): Promise<{ proven: string[]; unproven: string[] }> {
    const archive = await readBinlogArchive(this.dir, new Date(), this.reads)
    const proven: string[] = []
    const unproven: string[] = []
    for (const file of files) {
      const entry = archive.closed.findLast((e) => e.file === file)
      if (!entry) {
        unproven.push(file)
        continue
      }
      const sha256 = await sha256Of(join(this.dir, file)).catch(() => undefined)
      if (sha256 !== entry.sha256) {
        throw new DbkeeperError(
          'VERIFY_FAILED',
          `binlog ${file} in ${this.dir} is ${sha256 === undefined ? 'missing' : 'not the file that was archived (its sha256 differs from index.jsonl)'}: a restore to a time through it was refused; nothing was changed`,
          {
            hint: `restore a scheduled backup instead (dbkeeper list), or a time before ${file}; the server may still have ${file} (SHOW BINARY LOGS)`,
          },
        )
      }
      proven.push(file)
    }
    return { proven, unproven }
  }

  materialize(): Promise<Materialized> {
    return Promise.reject(
      new DbkeeperError('USAGE', 'a MySQL/MariaDB database is rolled forward on its server, not into a file', {
        hint: 'restore to a time in place, or --into a new database name',
      }),
    )
  }
}
