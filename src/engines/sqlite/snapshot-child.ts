/**
 * The SQLite work of the engine, run as its own process (see child.ts for why). Usage:
 *
 *   node snapshot-child.js probe    <live.db> <busyTimeoutMs>
 *   node snapshot-child.js snapshot <live.db> <busyTimeoutMs> <out.db>
 *   node snapshot-child.js serve    <live.db> <busyTimeoutMs>
 *
 * Prints one JSON line, a ChildResult, as its last line and exits 0; anything else (a crash, a
 * kill) is a failure the parent reports with this process's stderr. `snapshot` prints a
 * ChildCopied line before it: the copy is complete, final and held open here, so the parent may
 * stream (and unlink) it while this process checks and counts it (the ChildResult says how that went).
 *
 * `serve` is a probe and a snapshot in one process (one Node start-up less per backup): it prints
 * the probe's ChildResult, then waits on stdin for one SnapshotCommand line and answers it as
 * `snapshot` does (ChildCopied, then the ChildResult). Stdin ending first (the parent closed it,
 * or died) ends it with nothing more printed.
 */
import { realpathSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import Database from 'better-sqlite3'

export interface ChildTable {
  name: string
  rows: number
}

export type ChildResult =
  | { ok: true; sqliteVersion: string; tables: ChildTable[] }
  /** `code`: SQLite's own (SQLITE_BUSY, SQLITE_NOTADB, …) or INTEGRITY_FAILED; the parent words the message. */
  | { ok: false; code: string; message: string }

/** `snapshot`'s first line: the copy's bytes are final; its checks are running. */
export interface ChildCopied {
  copied: true
}

/** `serve`'s one command on stdin, a JSON line: take the snapshot into `out`. */
export interface SnapshotCommand {
  snapshot: string
}

/** Double quotes around an identifier, inner quotes doubled: any table name is safe in SQL. */
function quoteIdentifier(name: string): string {
  return `"${name.replaceAll('"', '""')}"`
}

/** Ordinary tables of the main schema: views, virtual tables' shadow tables and sqlite_* are left out. */
function tableNames(db: Database.Database): string[] {
  return db
    .prepare(
      `SELECT name FROM pragma_table_list WHERE schema = 'main' AND type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name`,
    )
    .pluck()
    .all() as string[]
}

/**
 * Opens the live file. Read-write first, although nothing is ever written to it: SQLite needs
 * write access to create the -shm of a WAL database or to roll back a hot journal a crashed
 * writer left. On a read-only mount SQLite itself falls back to reading; a WAL database opens
 * there only while its -wal and -shm files exist, i.e. while the application has it open (checked
 * with a read-only bind mount). An open that fails for lack of write access is retried read-only.
 * The first read happens here, so a file that is not a database fails before any work.
 */
function openLive(path: string, busyTimeoutMs: number): Database.Database {
  for (const readonly of [false, true]) {
    const db = new Database(path, { fileMustExist: true, readonly, timeout: busyTimeoutMs })
    try {
      db.prepare('SELECT count(*) FROM sqlite_schema').get()
      return db
    } catch (error) {
      db.close()
      const code = (error as { code?: string }).code ?? ''
      if (readonly || !(code.startsWith('SQLITE_CANTOPEN') || code.startsWith('SQLITE_READONLY'))) throw error
    }
  }
  throw new Error('unreachable')
}

/** Row estimates from ANALYZE (sqlite_stat1), when the application ever ran it: counting is a full scan. */
function estimatedRows(db: Database.Database): Map<string, number> {
  const estimates = new Map<string, number>()
  try {
    const rows = db.prepare('SELECT tbl, stat FROM sqlite_stat1').all() as { tbl: string; stat: string }[]
    for (const { tbl, stat } of rows) {
      const n = Number.parseInt(stat, 10)
      if (Number.isFinite(n)) estimates.set(tbl, Math.max(n, estimates.get(tbl) ?? 0))
    }
  } catch {
    // No sqlite_stat1: the database was never analysed.
  }
  return estimates
}

function probe(path: string, busyTimeoutMs: number): ChildResult {
  const db = openLive(path, busyTimeoutMs)
  try {
    const estimates = estimatedRows(db)
    const tables = tableNames(db).map((name) => ({ name, rows: estimates.get(name) ?? 0 }))
    return { ok: true, sqliteVersion: sqliteVersion(db), tables }
  } finally {
    db.close()
  }
}

function snapshot(path: string, busyTimeoutMs: number, out: string, copied: () => void): ChildResult {
  const live = openLive(path, busyTimeoutMs)
  let version: string
  try {
    version = sqliteVersion(live)
    // VACUUM INTO writes with this connection's synchronous level. The copy is a temporary file,
    // read once: skip its fsyncs, which in rollback-journal mode would lengthen the writer's wait.
    // Restored before close, whose checkpoint (when we are the last connection) writes the live file.
    const synchronous = live.pragma('synchronous', { simple: true }) as number
    live.pragma('synchronous = OFF')
    // One read transaction copies every page: a consistent state however fast the application
    // commits. A stepped backup() restarts whenever another process writes, so it never ends under
    // load. WAL writers carry on meanwhile; in rollback-journal mode their commits wait (busy) for
    // the length of this copy, which is why the checks run afterwards, on the copy (while the
    // parent compresses it).
    live.prepare('VACUUM INTO ?').run(out)
    live.pragma(`synchronous = ${synchronous}`)
  } finally {
    live.close()
  }
  const snap = new Database(out, { fileMustExist: true })
  try {
    // A copy restores as one self-contained file: no -wal to carry along (a no-op when SQLite
    // already wrote a rollback-journal header, as VACUUM INTO does today).
    snap.pragma('journal_mode = DELETE')
    // Nothing writes to the copy from here on. One read transaction, begun (the file open and
    // read) before the parent hears of the copy: it may then read and unlink the file while the
    // checks below still read it through this connection.
    snap.exec('BEGIN')
    const names = tableNames(snap)
    copied()
    const problems = snap.pragma('integrity_check(20)', { simple: false }) as { integrity_check: string }[]
    const verdict = problems.map((p) => p.integrity_check)
    if (verdict.length !== 1 || verdict[0] !== 'ok') {
      return { ok: false, code: 'INTEGRITY_FAILED', message: verdict.join('; ') }
    }
    const tables = names.map((name) => ({
      name,
      rows: Number(
        snap
          .prepare(`SELECT count(*) FROM ${quoteIdentifier(name)}`)
          .pluck()
          .get(),
      ),
    }))
    return { ok: true, sqliteVersion: version, tables }
  } finally {
    snap.close()
  }
}

function sqliteVersion(db: Database.Database): string {
  return String(db.prepare('SELECT sqlite_version()').pluck().get())
}

/** One JSON line on stdout, written before this returns (a pipe's writes are synchronous on Linux and macOS). */
function print(line: ChildResult | ChildCopied): void {
  process.stdout.write(`${JSON.stringify(line)}\n`)
}

/** SQLite's error (or any other) as a ChildResult. */
function answer(work: () => ChildResult): ChildResult {
  try {
    return work()
  } catch (error) {
    const err = error as { code?: unknown; message?: unknown }
    return { ok: false, code: typeof err.code === 'string' ? err.code : 'ERROR', message: String(err.message ?? error) }
  }
}

/** The first line on stdin, parsed; undefined when stdin ends first (then nothing is asked). */
function nextCommand(): Promise<SnapshotCommand | undefined> {
  return new Promise((resolve) => {
    let text = ''
    const done = (command: SnapshotCommand | undefined): void => {
      process.stdin.off('data', onData).off('end', onEnd).off('error', onEnd)
      process.stdin.destroy() // nothing more is read: the process may exit once the work is done
      resolve(command)
    }
    const onData = (chunk: Buffer): void => {
      text += chunk.toString('utf8')
      const nl = text.indexOf('\n')
      if (nl === -1) return
      try {
        const command = JSON.parse(text.slice(0, nl)) as Partial<SnapshotCommand>
        done(typeof command.snapshot === 'string' ? { snapshot: command.snapshot } : undefined)
      } catch {
        done(undefined)
      }
    }
    const onEnd = (): void => done(undefined)
    process.stdin.on('data', onData).on('end', onEnd).on('error', onEnd)
  })
}

async function serve(path: string, busyTimeoutMs: number): Promise<void> {
  const probed = answer(() => probe(path, busyTimeoutMs))
  print(probed)
  if (!probed.ok) return
  const command = await nextCommand()
  if (command === undefined) return
  print(answer(() => snapshot(path, busyTimeoutMs, command.snapshot, () => print({ copied: true }))))
}

async function main(argv: string[]): Promise<void> {
  const [mode, path, busy, out] = argv
  const busyTimeoutMs = Number(busy)
  if (!path || !Number.isFinite(busyTimeoutMs))
    return print({ ok: false, code: 'USAGE', message: `bad arguments: ${argv.join(' ')}` })
  if (mode === 'probe') return print(answer(() => probe(path, busyTimeoutMs)))
  if (mode === 'snapshot' && out)
    return print(answer(() => snapshot(path, busyTimeoutMs, out, () => print({ copied: true }))))
  if (mode === 'serve') return serve(path, busyTimeoutMs)
  print({ ok: false, code: 'USAGE', message: `unknown mode ${mode ?? ''}` })
}

// Run only as a program, not when the parent imports this file for its types and constants.
// Real paths on both sides: Node resolves symlinks in the main module's URL, not in argv[1].
if (process.argv[1] !== undefined && realpathSync(process.argv[1]) === realpathSync(fileURLToPath(import.meta.url))) {
  await main(process.argv.slice(2))
}
