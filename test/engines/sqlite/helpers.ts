import { spawn } from 'node:child_process'
import { createWriteStream, readdirSync, readFileSync } from 'node:fs'
import { mkdir, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pipeline } from 'node:stream/promises'
import { fileURLToPath } from 'node:url'
import Database from 'better-sqlite3'
import type { SourceConfig } from '../../../src/config/types.js'
import type { DumpResult, Engine } from '../../../src/engines/engine.js'

const WRITER = fileURLToPath(new URL('../../fixtures/sqlite-writer.mjs', import.meta.url))

/** A source as the config module would freeze it for DBnn_TYPE=sqlite. */
export function sqliteSource(path: string, id = 'DB07', name = 'app'): SourceConfig {
  return Object.freeze({
    id,
    label: name,
    type: 'sqlite',
    engine: 'sqlite',
    host: undefined,
    port: undefined,
    user: undefined,
    password: undefined,
    databases: [name],
    path,
    extraOpts: [],
    pgFormat: 'plain',
    pgGlobals: false,
    retention: {},
    pitr: false,
  } satisfies SourceConfig)
}

/** A scratch directory with a 0700 `work` directory inside, as the pipeline provides. */
export async function scratch(): Promise<{ dir: string; workDir: string; cleanup(): Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'dbkeeper-sqlite-'))
  const workDir = join(dir, 'work')
  await mkdir(workDir, { mode: 0o700 })
  return { dir, workDir, cleanup: () => rm(dir, { recursive: true, force: true }) }
}

/** A database of about `mb` MiB of incompressible filler, in the given journal mode. */
export function createDatabase(path: string, mb: number, journalMode: 'wal' | 'delete'): void {
  const db = new Database(path)
  db.pragma(`journal_mode = ${journalMode}`)
  db.exec('CREATE TABLE filler (id INTEGER PRIMARY KEY, pad BLOB NOT NULL)')
  const insert = db.prepare('INSERT INTO filler (pad) VALUES (randomblob(1000))')
  db.transaction(() => {
    for (let i = 0; i < mb * 1024; i++) insert.run()
  })()
  db.close()
}

export interface WriterSample {
  n: number
  t: number
  busy: number
}

/** The fixture application, committing back to back in its own process. */
export interface Writer {
  samples: WriterSample[]
  /** Resolves once the writer has committed at least `n` transactions. */
  committed(n: number): Promise<void>
  stop(): Promise<void>
}

export function startWriter(path: string, mode: 'wal' | 'delete', synchronous = 'NORMAL'): Writer {
  const child = spawn(process.execPath, [WRITER, path, mode, synchronous], { stdio: ['ignore', 'pipe', 'pipe'] })
  const samples: WriterSample[] = []
  const waiters: { n: number; resolve(): void }[] = []
  let stderr = ''
  let buffered = ''
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
  child.stdout.on('data', (chunk: Buffer) => {
    const lines = (buffered + chunk.toString()).split('\n')
    buffered = lines.pop() ?? ''
    for (const line of lines) samples.push(JSON.parse(line) as WriterSample)
    const n = samples.at(-1)?.n ?? 0
    for (const w of waiters.filter((w) => w.n <= n)) w.resolve()
  })
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()))
  return {
    samples,
    committed: (n) =>
      new Promise<void>((resolve, reject) => {
        waiters.push({ n, resolve })
        void exited.then(() => reject(new Error(`the writer exited: ${stderr}`)))
      }),
    async stop() {
      child.kill('SIGTERM')
      await exited
    },
  }
}

/**
 * Commits per second over [from, to], measured between the last report at or before `from` and the
 * first at or after `to`; and the longest pause between two reports in that span.
 */
export function writerRate(
  samples: WriterSample[],
  from: number,
  to: number,
): { commits: number; perSecond: number; longestGapMs: number } {
  const start = samples.findLastIndex((s) => s.t <= from)
  const end = samples.findIndex((s) => s.t >= to)
  const first = samples[start]
  const last = samples[end]
  if (!first || !last || last.t === first.t) throw new Error(`the writer did not report around ${from}..${to}`)
  let longestGapMs = 0
  for (let i = start + 1; i <= end; i++) longestGapMs = Math.max(longestGapMs, samples[i]!.t - samples[i - 1]!.t)
  return { commits: last.n - first.n, perSecond: ((last.n - first.n) * 1000) / (last.t - first.t), longestGapMs }
}

/**
 * Watches the engine's work directory: the snapshot file exists from the start of the copy until
 * the checks are done and streaming starts, so [firstSeen, lastSeen] is the SQLite work.
 */
export function watchWorkDir(dir: string): { stop(): { firstSeen: number; lastSeen: number } } {
  let firstSeen = 0
  let lastSeen = 0
  const timer = setInterval(() => {
    if (readdirSync(dir).length === 0) return
    lastSeen = Date.now()
    firstSeen ||= lastSeen
  }, 5)
  return {
    stop() {
      clearInterval(timer)
      return { firstSeen, lastSeen }
    },
  }
}

/** Runs a dump to the end, writing the streamed bytes to `file`; the time it took included. */
export async function dumpToFile(
  engine: Engine,
  database: string,
  file: string,
  signal = new AbortController().signal,
): Promise<{ result: DumpResult; started: number; ended: number }> {
  const started = Date.now()
  const dump = engine.dump(database, signal)
  await pipeline(dump.stdout, createWriteStream(file))
  const result = await dump.done
  return { result, started, ended: Date.now() }
}

/** The ledger invariant of the writer fixture, read from a snapshot. */
export function ledgerState(path: string): { rows: number; sum: number; n: number; total: number; integrity: string } {
  const db = new Database(path, { readonly: true, fileMustExist: true })
  try {
    const integrity = db.pragma('integrity_check', { simple: true }) as string
    const { rows, sum } = db.prepare('SELECT count(*) AS rows, coalesce(sum(amount), 0) AS sum FROM ledger').get() as {
      rows: number
      sum: number
    }
    const { n, total } = db.prepare('SELECT n, total FROM totals WHERE id = 1').get() as { n: number; total: number }
    return { rows, sum, n, total, integrity }
  } finally {
    db.close()
  }
}

/** Pids of this process's SQLite children (snapshot-child.ts), read from /proc: what is running now. */
export function snapshotChildren(): number[] {
  const pids: number[] = []
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    try {
      // The parent pid is the 2nd field after the command name in parentheses (which may hold spaces).
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8')
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1])
      if (ppid !== process.pid) continue
      const state = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0]
      if (state === 'Z') continue // exited, not yet reaped: nothing runs
      if (readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes('snapshot-child')) pids.push(Number(entry))
    } catch {
      // The process ended while we looked.
    }
  }
  return pids
}
