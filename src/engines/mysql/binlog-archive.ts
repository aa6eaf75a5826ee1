/**
 * The binlog archive of one MySQL/MariaDB source, on the volume, read and written without a server:
 *
 *   <dir>/binlog.000042        the server's files, byte for byte (`mariadb-binlog --raw`)
 *   <dir>/heartbeat.json       the poller's last look: server and local position, when caught up
 *   <dir>/index.jsonl          append-only: each closed file once proven, each gap once detected,
 *                              each file retention removed (no base inside PITR_WINDOW needed it)
 *
 * `status` and `restore --at` read it here (readBinlogArchive), from another process than the
 * daemon's archiver: no running archiver is needed to know what the archive holds.
 */
import { appendFile, rename, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fsyncDir, FILE_MODE } from '../../runtime/durable.js'
import { asyncReads, type FileReads } from '../../runtime/file-reads.js'

export const HEARTBEAT_FILE = 'heartbeat.json'
export const INDEX_FILE = 'index.jsonl'
/** Within this of its last catch-up the archive counts as caught up (the poller looks every ~1 s). */
export const CAUGHT_UP_SLACK_MS = 2000

/** `binlog.000042`, `mysql-bin.000001`: the server's naming (a base name, a dot, six or more digits). */
const BINLOG_NAME = /^[^.][^/]*\.(\d{6,})$/

export interface Heartbeat {
  checkedAt: string
  server: { file: string; position: number }
  local: { file: string | undefined; size: number }
  /** The last time the local newest file held everything the server had written; absent: never. */
  caughtUpAt: string | undefined
}

export interface ClosedEntry {
  kind: 'closed'
  file: string
  size: number
  sha256: string
  provenAt: string
}

export interface GapEntry {
  kind: 'gap'
  /** The newest file archived before the gap. */
  after: string
  /** The file archiving started again with. */
  resumedAt: string
  detectedAt: string
  reason: string
}

/** A file retention removed from the archive: no base inside PITR_WINDOW needed it. */
export interface RemovedEntry {
  kind: 'removed'
  file: string
  removedAt: string
}

export type IndexEntry = ClosedEntry | GapEntry | RemovedEntry

export function isBinlogName(name: string): boolean {
  return BINLOG_NAME.test(name)
}

/** The sequence number of a binlog file (`binlog.000042` → 42). */
export function binlogNumber(name: string): number {
  const m = BINLOG_NAME.exec(name)
  if (!m) throw new Error(`not a binlog file name: ${name}`)
  return Number(m[1])
}

/**
 * The archived binlog files, oldest first, with their sizes. `reads`, here and in the readers
 * below: how the archive is read (runtime/file-reads.ts; fs/promises when not given).
 */
export async function localBinlogs(
  dir: string,
  reads: FileReads = asyncReads,
): Promise<{ file: string; size: number; mtimeMs: number }[]> {
  const out: { file: string; size: number; mtimeMs: number }[] = []
  for (const name of await reads.readdir(dir).catch(() => [] as string[])) {
    if (!isBinlogName(name)) continue
    const s = await reads.stat(join(dir, name)).catch(() => undefined)
    if (s?.isFile()) out.push({ file: name, size: s.size, mtimeMs: s.mtimeMs })
  }
  return out.sort((a, b) => binlogNumber(a.file) - binlogNumber(b.file))
}

/** Replaces heartbeat.json in one step (tmp, rename): a reader sees the old one or the new one. */
export async function writeHeartbeat(dir: string, heartbeat: Heartbeat): Promise<void> {
  const tmp = join(dir, `.${HEARTBEAT_FILE}.tmp`)
  await writeFile(tmp, `${JSON.stringify(heartbeat)}\n`, { mode: FILE_MODE })
  await rename(tmp, join(dir, HEARTBEAT_FILE))
}

export async function readHeartbeat(dir: string, reads: FileReads = asyncReads): Promise<Heartbeat | undefined> {
  const text = (await reads.readFile(join(dir, HEARTBEAT_FILE)).catch(() => undefined))?.toString('utf8')
  if (text === undefined) return undefined
  try {
    return JSON.parse(text) as Heartbeat
  } catch {
    return undefined
  }
}

/** Appends one line and syncs the directory: a proven file or a gap is never forgotten. */
export async function appendIndex(dir: string, entry: IndexEntry): Promise<void> {
  await appendFile(join(dir, INDEX_FILE), `${JSON.stringify(entry)}\n`, { mode: FILE_MODE, flush: true })
  await fsyncDir(dir)
}

/** The index's entries; a torn last line (a crash mid-append) is skipped, not fatal. */
export async function readIndex(dir: string, reads: FileReads = asyncReads): Promise<IndexEntry[]> {
  const text = (await reads.readFile(join(dir, INDEX_FILE)).catch(() => undefined))?.toString('utf8') ?? ''
  const out: IndexEntry[] = []
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue
    try {
      out.push(JSON.parse(line) as IndexEntry)
    } catch {
      // a torn line
    }
  }
  return out
}

/** Consecutive archived files without a gap between them. */
export interface BinlogRun {
  files: string[]
  /** The gap this run starts after; undefined for the first run. */
  afterGap: GapEntry | undefined
}

export interface BinlogArchiveState {
  runs: BinlogRun[]
  gaps: GapEntry[]
  /** Files proven closed (index.jsonl). */
  closed: ClosedEntry[]
  /** When the newest archived byte was written (the newest file's mtime). */
  archivedAt: Date | undefined
  /** 0 when caught up within CAUGHT_UP_SLACK_MS; else now − the last catch-up; undefined: never caught up. */
  lagMs: number | undefined
}

/**
 * The archive as it lies. Runs split where a gap was recorded (a new run starts at its `resumedAt`)
 * and, defensively, wherever file numbers skip one without a record. Entries of index.jsonl whose
 * file is gone (removed by retention, retention/binlog.ts) are ignored: the runs are the files.
 */
export async function readBinlogArchive(
  dir: string,
  now: Date,
  reads: FileReads = asyncReads,
): Promise<BinlogArchiveState> {
  const files = await localBinlogs(dir, reads)
  const index = await readIndex(dir, reads)
  const gaps = index.filter((e): e is GapEntry => e.kind === 'gap')
  const closed = index.filter((e): e is ClosedEntry => e.kind === 'closed')
  // Split where a gap was recorded (before its `resumedAt`, after its `after`), where numbers skip,
  // and where a file was written before the one numbered before it: the server writes a file only
  // after closing the previous one, so that one belongs to another numbering (RESET MASTER).
  const ends = new Set(gaps.map((g) => g.after))
  const built: (BinlogRun & { writtenMs: number })[] = []
  let previous: (typeof files)[number] | undefined
  for (const f of files) {
    const gap = gaps.findLast((g) => g.resumedAt === f.file)
    const p = previous
    if (
      p === undefined ||
      gap ||
      ends.has(p.file) ||
      binlogNumber(f.file) !== binlogNumber(p.file) + 1 ||
      f.mtimeMs < p.mtimeMs
    ) {
      built.push({ files: [f.file], afterGap: gap, writtenMs: f.mtimeMs })
    } else {
      built.at(-1)!.files.push(f.file)
    }
    previous = f
  }
  // Ordered by the gaps' links, never by number: after RESET MASTER the server numbers its files
  // anew from 1, and a run resumed after a gap follows the run that ends with the gap's `after`.
  // Runs no gap links (the first, one whose predecessor retention removed) by when their first
  // file was written, then by number.
  const next = new Map<string, BinlogRun & { writtenMs: number }>()
  for (const r of built)
    if (r.afterGap && built.some((x) => x !== r && x.files.at(-1) === r.afterGap!.after)) next.set(r.afterGap.after, r)
  const linked = new Set(next.values())
  const runs: BinlogRun[] = []
  for (const root of built.filter((r) => !linked.has(r)).sort((a, b) => a.writtenMs - b.writtenMs)) {
    for (let r: (typeof built)[number] | undefined = root; r && !runs.includes(r); r = next.get(r.files.at(-1)!))
      runs.push(r)
  }
  // A cycle of links (names reused): whatever was not reached keeps the numbers' order.
  for (const r of built) if (!runs.includes(r)) runs.push(r)
  const heartbeat = await readHeartbeat(dir, reads)
  const caughtUp = heartbeat?.caughtUpAt ? Date.parse(heartbeat.caughtUpAt) : undefined
  const behindMs = caughtUp === undefined ? undefined : Math.max(0, now.getTime() - caughtUp)
  const newestFile = runs.at(-1)?.files.at(-1)
  const newest = files.find((f) => f.file === newestFile)
  return {
    runs: runs.map(({ files, afterGap }) => ({ files, afterGap })),
    gaps,
    closed,
    archivedAt: newest ? new Date(newest.mtimeMs) : undefined,
    lagMs: behindMs === undefined ? undefined : behindMs <= CAUGHT_UP_SLACK_MS ? 0 : behindMs,
  }
}

/**
 * Removes archived files (retention: binlog-window.ts binlogsNotNeeded chose them), oldest first,
 * each recorded in index.jsonl before it goes, so that the off-site copy knows it may go too and
 * a crash between the two leaves a file recorded removed, never one removed unrecorded.
 */
export async function removeBinlogs(dir: string, files: readonly string[], now: Date): Promise<void> {
  for (const file of files) {
    if (!isBinlogName(file)) throw new Error(`not a binlog file name: ${file}`)
    await appendIndex(dir, { kind: 'removed', file, removedAt: now.toISOString() })
    await rm(join(dir, file), { force: true })
  }
  if (files.length > 0) await fsyncDir(dir)
}
