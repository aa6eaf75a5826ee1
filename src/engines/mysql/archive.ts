/**
 * The binlog archive of a MySQL/MariaDB source read back (the Archive contract, engines/archive.ts):
 * its ranges and lag for `status`, and for `restore --at` the archived files as time spans and
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
import type { Archive, ArchiveState, Materialized } from '../archive.js'
import { readBinlogArchive, readHeartbeat } from './binlog-archive.js'
import { binlogRanges, type BinlogFileSpan } from './binlog-window.js'

const MAGIC = Buffer.from([0xfe, 0x62, 0x69, 0x6e])
const HEADER = 19
const CHUNK = 1 << 20

/**
 * The first and last event time of a binlog file and the offset after its last whole event.
 * Reads headers only, a chunk at a time. Events with a zero timestamp (artificial ones) are not
 * times. Stops at an event too short to be one (a torn or damaged tail): what follows is unread.
 */
export async function readSpan(path: string, file: string): Promise<BinlogFileSpan> {
  const fd = await open(path, 'r')
  try {
    const size = (await fd.stat()).size
    const magic = Buffer.alloc(4)
    await fd.read(magic, 0, 4, 0)
    if (size < 4 || !magic.equals(MAGIC)) return { file, first: undefined, last: undefined, end: 0 }
    let first: number | undefined
    let last: number | undefined
    let pos = 4
    const buf = Buffer.alloc(CHUNK)
    let bufStart = 0
    let bufLen = 0
    while (pos + HEADER <= size) {
      if (pos < bufStart || pos + HEADER > bufStart + bufLen) {
        bufStart = pos
        bufLen = (await fd.read(buf, 0, CHUNK, pos)).bytesRead
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

export interface ArchivedRuns {
  /** Consecutive files without a gap, oldest first, each read as a time span. */
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
  /** `dir`: the source's binlog archive (catalog/naming.ts binlogArchiveDir). */
  constructor(readonly dir: string) {}

  async runs(now: Date): Promise<ArchivedRuns> {
    const archive = await readBinlogArchive(this.dir, now)
    const runs: BinlogFileSpan[][] = []
    for (const run of archive.runs) {
      const spans: BinlogFileSpan[] = []
      for (const file of run.files) spans.push(await readSpan(join(this.dir, file), file))
      runs.push(spans)
    }
    const caughtUp = (await readHeartbeat(this.dir))?.caughtUpAt
    return {
      runs,
      caughtUpAt: caughtUp ? new Date(caughtUp) : undefined,
      growing: archive.runs.at(-1)?.files.at(-1),
      archivedAt: archive.archivedAt,
      lagMs: archive.lagMs,
    }
  }

  async state(now: Date): Promise<ArchiveState> {
    const { runs, caughtUpAt, archivedAt, lagMs } = await this.runs(now)
    return { ranges: binlogRanges(runs, caughtUpAt), archivedAt, lagMs }
  }

  /**
   * Proves the files a replay will read: each one recorded closed in index.jsonl must still have
   * its size and sha256 (a changed file is refused: it is not what the server wrote). A file not
   * yet recorded (the growing one, one the poller has not reached) is proven by the replay itself,
   * which verifies every event's checksum. Rejects with VERIFY_FAILED naming the file.
   */
  async prove(files: readonly string[]): Promise<{ proven: string[]; unproven: string[] }> {
    const archive = await readBinlogArchive(this.dir, new Date())
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
