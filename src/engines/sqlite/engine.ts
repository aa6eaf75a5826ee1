import { randomUUID } from 'node:crypto'
import { open, rm, stat } from 'node:fs/promises'
import { basename, extname, join } from 'node:path'
import { PassThrough } from 'node:stream'
import { finished, pipeline } from 'node:stream/promises'
import type { SourceConfig } from '../../config/types.js'
import { DbkeeperError, toDbkeeperError } from '../../runtime/errors.js'
import type { DumpProcess, DumpResult, Engine, ProbeResult } from '../engine.js'
import { BUSY_TIMEOUT_MS, runSqliteChild, SqliteSession, type ChildContext, type ChildSuccess } from './child.js'

/**
 * Reads of the copy: 256 KiB, measured against 64 KiB: lowered CPU, GC and peak RSS
 * (docs/PERFORMANCE.md). (It was chosen as the parallel gzip's block; since 2026-12-06 the blocks
 * are 512 KiB and filled by copying into reused buffers, so a read size no longer saves a concat.)
 */
const READ_CHUNK = 256 * 1024

/**
 * How long the child of a probe waits for the dump that follows (in a run, milliseconds later)
 * before it is closed; a dump after that starts a child of its own.
 */
const PARKED_MS = 30_000

/** Every SQLite 3 database file starts with these 16 bytes. */
export const SQLITE_MAGIC = Buffer.from('SQLite format 3\0', 'latin1')

/**
 * A live SQLite database file. The dump is a consistent copy of the whole file (`VACUUM INTO`,
 * one read transaction) taken while the application keeps writing, then streamed while the child
 * checks it with `PRAGMA integrity_check` and counts its rows: the raw content is a database,
 * restorable by `gunzip`. The SQLite work runs in a child process (see child.ts); the copy lives in
 * `workDir` only until streaming starts.
 */
export class SqliteEngine implements Engine {
  readonly kind = 'sqlite' as const
  readonly contentExt = 'db' as const
  readonly #source: SourceConfig
  readonly #workDir: string
  readonly #path: string
  readonly #database: string
  /** The probe's child, waiting to take the snapshot of the dump that follows (SqliteSession). */
  #parked: { session: SqliteSession; timer: NodeJS.Timeout } | undefined

  constructor(source: SourceConfig, workDir: string) {
    if (source.path === undefined) {
      throw new DbkeeperError('CONFIG', `source ${source.id} is an SQLite source without a file`, {
        hint: `set ${source.id}_PATH`,
      })
    }
    this.#source = source
    this.#workDir = workDir
    this.#path = source.path
    const named = source.databases === 'ALL' ? undefined : source.databases[0]
    this.#database = named ?? basename(source.path, extname(source.path))
  }

  async probe(signal: AbortSignal): Promise<ProbeResult> {
    await this.#checkFile()
    await this.close()
    signal.throwIfAborted()
    // The child that probes stays, waiting, to take the snapshot: one Node start-up per backup.
    const session = new SqliteSession(this.#path, BUSY_TIMEOUT_MS, this.#workDir)
    const found = await session.probe(this.#context(signal))
    session.unref()
    const timer = setTimeout(() => void this.close(), PARKED_MS).unref()
    this.#parked = { session, timer }
    return {
      serverVersion: found.sqliteVersion,
      tool: { name: 'better-sqlite3', version: found.sqliteVersion },
      // Row counts here are ANALYZE estimates (0 when never analysed): counting is a full scan.
      // dump() reports exact counts, taken from the snapshot.
      databases: [{ name: this.#database, tables: found.tables }],
    }
  }

  /** Ends the probe's child if no dump took it (a probe alone, a run that stopped before the dump). */
  async close(): Promise<void> {
    const parked = this.#parked
    this.#parked = undefined
    if (!parked) return
    clearTimeout(parked.timer)
    await parked.session.close()
  }

  dump(database: string, signal: AbortSignal): DumpProcess {
    const stdout = new PassThrough()
    // The stream breaks off with the reason `done` rejects with. Until the caller attaches its own
    // listener (it may first await something else), that error must not crash the process; the
    // same goes for an early rejection of `done`, which the caller awaits after the stream.
    stdout.on('error', () => {})
    const done = this.#dump(database, stdout, signal)
    done.catch(() => {})
    return { stdout, done }
  }

  /** The head must be an SQLite header; the tail says nothing (integrity_check ran on the copy). */
  checkContent(head: Buffer, _tail: Buffer): string | undefined {
    if (head.length < SQLITE_MAGIC.length || !head.subarray(0, SQLITE_MAGIC.length).equals(SQLITE_MAGIC)) {
      const seen = JSON.stringify(head.subarray(0, SQLITE_MAGIC.length).toString('latin1'))
      return `the content is not an SQLite database: it must start with "SQLite format 3\\0", it starts with ${seen}`
    }
    return undefined
  }

  async #dump(database: string, stdout: PassThrough, signal: AbortSignal): Promise<DumpResult> {
    // Only this run reads the copy: a random name in the private work directory.
    const snapshotPath = join(this.#workDir, `sqlite-snapshot-${randomUUID()}.db`)
    const onAbort = (): void => {
      stdout.destroy(aborted(this.#path))
    }
    // Stops the child when the stream fails first (the reader went away): its checks are moot.
    const stopChild = new AbortController()
    let checked: Promise<ChildSuccess> | undefined
    try {
      if (database !== this.#database) {
        throw new DbkeeperError(
          'NOT_FOUND',
          `source ${this.#source.id} holds one SQLite database, '${this.#database}', not '${database}'`,
          {
            hint: `check ${this.#source.id}_NAME`,
          },
        )
      }
      await this.#checkFile()
      // The child copies, says so, then checks the copy (integrity_check, counting) while it is
      // streamed and compressed here: both only read the finished file. The dump is done — and the
      // backup can be verified and committed — only once the child's verdict is in and good.
      let copied!: () => void
      const copy = new Promise<void>((resolve) => (copied = resolve))
      const ctx = this.#context(AbortSignal.any([signal, stopChild.signal]))
      // The probe's child when it still waits; else (no probe, or it ended) one of its own.
      const parked = this.#parked
      this.#parked = undefined
      if (parked) clearTimeout(parked.timer)
      checked = parked?.session.ready
        ? parked.session.snapshot(snapshotPath, ctx, copied)
        : runSqliteChild(['snapshot', this.#path, String(BUSY_TIMEOUT_MS), snapshotPath], ctx, copied)
      checked.catch(() => {}) // awaited below; a failure before the copy ends the race at once
      await Promise.race([copy, checked])
      const handle = await open(snapshotPath, 'r')
      // Unlinked while open: the bytes stay readable through the handle (and the child's), and
      // nothing is left behind however the stream ends — consumed, aborted, or this process killed.
      await removeSnapshot(snapshotPath)
      const file = handle.createReadStream({ highWaterMark: READ_CHUNK })
      signal.addEventListener('abort', onAbort, { once: true })
      if (signal.aborted) onAbort()
      const streamed = (async () => {
        await pipeline(file, stdout)
        // `pipeline` settles once the bytes are inside `stdout`; the dump is done when they were read.
        await finished(stdout)
      })()
      // A failed check fails the dump, whether the stream already ended or not (then it breaks off, below).
      const [, snap] = await Promise.all([streamed, checked])
      return { options: ['VACUUM INTO'], stderrTail: '', tables: snap.tables }
    } catch (error) {
      stopChild.abort()
      await checked?.catch(() => {})
      await removeSnapshot(snapshotPath)
      const reason = signal.aborted ? aborted(this.#path) : toDbkeeperError(error, `SQLite snapshot of ${this.#path}`)
      // A reader learns why the stream broke off, rather than seeing a short file end normally.
      stdout.destroy(reason)
      throw reason
    } finally {
      signal.removeEventListener('abort', onAbort)
    }
  }

  /** The file is there and is a file: the commonest mistakes, worded before SQLite sees them. */
  async #checkFile(): Promise<void> {
    const variable = `${this.#source.id}_PATH`
    try {
      const info = await stat(this.#path)
      if (!info.isFile()) {
        throw new DbkeeperError('NOT_FOUND', `SQLite database ${this.#path} is not a file`, {
          hint: `check ${variable}: it must name the database file itself`,
        })
      }
    } catch (error) {
      if (error instanceof DbkeeperError) throw error
      const code = (error as NodeJS.ErrnoException).code
      if (code === 'ENOENT' || code === 'ENOTDIR') {
        throw new DbkeeperError('NOT_FOUND', `SQLite database ${this.#path} does not exist`, {
          hint: `check ${variable} and that the volume holding it is mounted into this container`,
          cause: error,
        })
      }
      throw new DbkeeperError('IO', `cannot read SQLite database ${this.#path} (${code ?? String(error)})`, {
        hint: `make the file and its directory readable by the user dbkeeper runs as (${variable})`,
        cause: error,
      })
    }
  }

  #context(signal: AbortSignal): ChildContext {
    return { source: this.#source, path: this.#path, workDir: this.#workDir, signal }
  }
}

function aborted(path: string): DbkeeperError {
  return new DbkeeperError('ABORTED', `the SQLite snapshot of ${path} was stopped: the run was aborted`)
}

/** The copy and any journal SQLite kept beside it. */
async function removeSnapshot(path: string): Promise<void> {
  await Promise.all(['', '-journal', '-wal', '-shm'].map((suffix) => rm(path + suffix, { force: true })))
}
