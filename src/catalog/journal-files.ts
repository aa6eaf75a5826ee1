/**
 * The run journal's files: `runs.jsonl` (appended to) and its rotated predecessors
 * `runs.1.jsonl` (newest) … `runs.<JOURNAL_KEEP_FILES>.jsonl` (oldest). Readers walk them from the
 * end backwards, a chunk at a time, so that a journal of any size costs the same to read: the
 * whole-file read it replaced needed 628 MB of memory and 3.8 s for `status` at 250 MB, and past
 * 512 MB the daemon could not start at all (`Invalid string length`).
 */
import { open, rename, stat, unlink } from 'node:fs/promises'
import { join } from 'node:path'
import { FILE_MODE, fsyncDir } from '../runtime/durable.js'
import { asyncReads, type FileReads } from '../runtime/file-reads.js'

/** Rotate `runs.jsonl` once it reaches this size: ~16 000 runs, two years of hourly runs. */
export const JOURNAL_MAX_BYTES = 16 * 1024 * 1024
/** Rotated files kept: with the current one, at most ~80 MiB of history. */
export const JOURNAL_KEEP_FILES = 4
/** Rotated files not written to for this long are removed, however few there are. */
export const JOURNAL_KEEP_DAYS = 400
/** A line longer than this is not a run record (no run has thousands of databases): skipped unread. */
const MAX_LINE_BYTES = 8 * 1024 * 1024
const CHUNK_BYTES = 64 * 1024

export interface RotationLimits {
  maxBytes: number
  keepFiles: number
  keepDays: number
}

export const DEFAULT_ROTATION: RotationLimits = {
  maxBytes: JOURNAL_MAX_BYTES,
  keepFiles: JOURNAL_KEEP_FILES,
  keepDays: JOURNAL_KEEP_DAYS,
}

const rotatedName = (n: number) => `runs.${n}.jsonl`

/**
 * The journal's files in the state directory, newest first: `runs.jsonl`, `runs.1.jsonl`, …
 * `reads`: how the directory is read (runtime/file-reads.ts; fs/promises when not given).
 */
export async function journalFiles(stateDir: string, reads: FileReads = asyncReads): Promise<string[]> {
  let names: string[]
  try {
    names = await reads.readdir(stateDir)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT' || (error as NodeJS.ErrnoException).code === 'ENOTDIR')
      return []
    throw error
  }
  const rotated = names
    .map((n) => /^runs\.(\d+)\.jsonl$/.exec(n))
    .filter((m) => m !== null)
    .map((m) => Number(m[1]))
    .sort((a, b) => a - b)
  return [...(names.includes('runs.jsonl') ? ['runs.jsonl'] : []), ...rotated.map(rotatedName)].map((n) =>
    join(stateDir, n),
  )
}

/**
 * The lines of `path` from the last to the first, read backwards in 64 KiB chunks (split on the
 * newline byte, which never occurs inside a UTF-8 character). Memory: one chunk and one line.
 * `reads`: how the file is read (runtime/file-reads.ts; fs/promises when not given).
 */
export async function* linesBackward(path: string, reads: FileReads = asyncReads): AsyncGenerator<string> {
  let handle
  try {
    handle = await reads.open(path)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return
    throw error
  }
  try {
    let pos = await handle.size()
    let leftover: Buffer = Buffer.alloc(0)
    let skipping = false
    while (pos > 0) {
      const size = Math.min(CHUNK_BYTES, pos)
      pos -= size
      const buf = Buffer.alloc(size)
      await handle.read(buf, pos)
      const parts = split(skipping ? buf : Buffer.concat([buf, leftover]))
      const first = parts.shift()!
      if (skipping) {
        if (parts.length === 0) continue
        parts.pop() // the start of the over-long line
        skipping = false
      }
      for (let i = parts.length - 1; i >= 0; i--) yield parts[i]!.toString('utf8')
      leftover = first
      if (leftover.length > MAX_LINE_BYTES) {
        leftover = Buffer.alloc(0)
        skipping = true
      }
    }
    if (!skipping && leftover.length > 0) yield leftover.toString('utf8')
  } finally {
    await handle.close()
  }
}

function split(buf: Buffer): Buffer[] {
  const parts: Buffer[] = []
  let start = 0
  for (let i = buf.indexOf(10); i !== -1; i = buf.indexOf(10, start)) {
    parts.push(buf.subarray(start, i))
    start = i + 1
  }
  parts.push(buf.subarray(start))
  return parts
}

/**
 * Rotates `runs.jsonl` when it has reached `maxBytes`: each `runs.<n>` becomes `runs.<n+1>`, the
 * oldest beyond `keepFiles` and any older than `keepDays` are removed. A file far over the limit
 * (a journal from before rotation existed) keeps only its last `maxBytes`, so the disk is bounded
 * at once. Two processes rotating at the same moment at worst shift the files once more; no line
 * is lost and their order stays the same.
 */
export async function rotateIfDue(stateDir: string, limits: RotationLimits, now = Date.now()): Promise<boolean> {
  const current = join(stateDir, 'runs.jsonl')
  const size = await stat(current).then(
    (s) => s.size,
    () => 0,
  )
  if (size < limits.maxBytes) return false
  const numbers = (await journalFiles(stateDir))
    .map((f) => /runs\.(\d+)\.jsonl$/.exec(f))
    .filter((m) => m !== null)
    .map((m) => Number(m[1]))
  for (const n of numbers.filter((x) => x >= limits.keepFiles))
    await unlink(join(stateDir, rotatedName(n))).catch(() => undefined)
  for (let n = limits.keepFiles - 1; n >= 1; n--) {
    await rename(join(stateDir, rotatedName(n)), join(stateDir, rotatedName(n + 1))).catch(() => undefined)
  }
  if (limits.keepFiles >= 1 && size <= 2 * limits.maxBytes) {
    await rename(current, join(stateDir, rotatedName(1))).catch(() => undefined)
  } else {
    if (limits.keepFiles >= 1) await keepTail(current, join(stateDir, rotatedName(1)), limits.maxBytes)
    await unlink(current).catch(() => undefined)
  }
  for (const f of await journalFiles(stateDir)) {
    if (f === current) continue
    const mtime = await stat(f).then(
      (s) => s.mtimeMs,
      () => now,
    )
    if (now - mtime > limits.keepDays * 86_400_000) await unlink(f).catch(() => undefined)
  }
  await fsyncDir(stateDir)
  return true
}

/** Writes the last `bytes` of `from` (from a line start) to `to`. */
async function keepTail(from: string, to: string, bytes: number): Promise<void> {
  const src = await open(from, 'r')
  const dst = await open(to, 'w', FILE_MODE)
  try {
    const size = (await src.stat()).size
    const buf = Buffer.alloc(Math.min(bytes, size))
    await src.read(buf, 0, buf.length, size - buf.length)
    const start = buf.length < size ? buf.indexOf(10) + 1 : 0
    await dst.write(buf.subarray(start))
    await dst.sync()
  } finally {
    await src.close()
    await dst.close()
  }
}
