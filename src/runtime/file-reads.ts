/**
 * The reads of the backup volume that `dbkeeper status` makes, as one small interface: BACKUP_DIR
 * checked (config/backup-dir.ts), the catalog listed (catalog/catalog.ts, through LocalTarget's
 * list and getSmall), the journal's files found and read backwards (catalog/journal-files.ts).
 * `asyncReads` (node:fs/promises) is the default: the daemon and every other command. `status`
 * passes `syncReads` (sync-reads.ts): a process that reads once and has nothing else to do
 * meanwhile, whose build then never loads fs/promises (with it readline, fs/dir, the watchers and
 * the file streams: ~10 M instructions of `status`, docs/PERFORMANCE.md, "Start-up").
 *
 * Every implementation gives the same results and the same errors (as rejections: `code` ENOENT
 * for a missing path, ENOTDIR, EISDIR, EACCES as the system says); none retries, none caches
 * (`listingOnce` wraps one that does, for the span of one question).
 */
import type { Dirent, Stats } from 'node:fs'
import { open, readdir, readFile, stat } from 'node:fs/promises'

export interface FileReads {
  /** The names in directory `path` (no `.` or `..`), in the system's order. */
  readdir(path: string): Promise<string[]>
  /** The same, each with its type (`isFile`, `isDirectory`; not followed through a symlink). */
  readdirEntries(path: string): Promise<Dirent[]>
  /** `path`'s metadata, following symlinks. */
  stat(path: string): Promise<Stats>
  /** The whole file. */
  readFile(path: string): Promise<Buffer>
  /** Opens `path` for reading, for reads at positions (the journal's backward reader). */
  open(path: string): Promise<OpenFile>
}

export interface OpenFile {
  /** The file's size in bytes, now. */
  size(): Promise<number>
  /** Reads up to `buffer.length` bytes from `position` into `buffer`; resolves to the bytes read. */
  read(buffer: Buffer, position: number): Promise<number>
  close(): Promise<void>
}

export const asyncReads: FileReads = {
  readdir: (path) => readdir(path),
  readdirEntries: (path) => readdir(path, { withFileTypes: true }),
  stat: (path) => stat(path),
  readFile: (path) => readFile(path),
  async open(path) {
    const handle = await open(path, 'r')
    return {
      size: async () => (await handle.stat()).size,
      read: async (buffer, position) => (await handle.read(buffer, 0, buffer.length, position)).bytesRead,
      close: () => handle.close(),
    }
  },
}

/**
 * `reads` with each directory listed at most once while the wrapper is kept: for one question
 * whose readers each list the same directory (a SQLite archive's state: the range's newest WAL
 * segment and the position check both list `wal/`, 86 400 names a day of 1 s segments). Each
 * caller gets its own copy of the names.
 */
export function listingOnce(reads: FileReads): FileReads {
  const listed = new Map<string, Promise<string[]>>()
  return {
    readdirEntries: (path) => reads.readdirEntries(path),
    stat: (path) => reads.stat(path),
    readFile: (path) => reads.readFile(path),
    open: (path) => reads.open(path),
    async readdir(path) {
      let names = listed.get(path)
      if (!names) listed.set(path, (names = reads.readdir(path)))
      return [...(await names)]
    },
  }
}
