/**
 * The MySQL/MariaDB archiver: `mariadb-binlog --read-from-remote-server --raw --stop-never`, a
 * replica that writes the server's binlog files into the archive directory byte for byte, supervised
 * (engines/supervisor.ts); beside it a poller (mysql2, every second) that compares the server's
 * position with the files, writes heartbeat.json, proves each closed file into index.jsonl and
 * records a gap when the server purged what was never archived (binlog-archive.ts has the layout).
 *
 * The tool writes each event to its file as it receives it (bench/pitr-binlog-rpo.ts: p99 ≤ one
 * 100 ms sample at 500 tx/s), so the growing file on the volume is the RPO; no extra shipping step.
 *
 * The daemon runs one per DBnn_PITR MySQL source (daemon/archivers.ts). A gap is logged at error
 * and recorded in index.jsonl; the daemon's PITR watch (daemon/pitr-watch.ts) sees the archive's
 * ranges split, alerts it and takes a fresh base backup. The poller reconnects after a failure (a restarted server) and holds
 * no connection once stopped or refused at start. The server's dump thread of a stopped tool ends
 * only when the server next sends it an event (it notices the closed socket then).
 */
import { createHash } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { readdir, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { pipeline } from 'node:stream/promises'
import type { Connection, RowDataPacket } from 'mysql2/promise'
import type { SourceConfig } from '../../config/types.js'
import { ensureDir } from '../../runtime/durable.js'
import type { Logger } from '../../runtime/logger.js'
import type { Archiver } from '../archive.js'
import { childEnv, describeExit, runTool } from '../subprocess.js'
import { supervise, type SuperviseOptions } from '../supervisor.js'
import {
  appendIndex,
  binlogNumber,
  localBinlogs,
  readBinlogArchive,
  readHeartbeat,
  readIndex,
  writeHeartbeat,
  type GapEntry,
} from './binlog-archive.js'
import { writeDefaultsFile } from './credentials.js'
import { connect } from './probe.js'

export const BINLOG_TOOL = 'mariadb-binlog'
const POLL_MS = 1000
/**
 * The replica id the tool announces (`--stop-never-slave-server-id`), one per source: the server
 * keeps one binlog reader per id and drops the older of two that share one, so two DBnn_PITR
 * sources on one server (or a user's own `mariadb-binlog`, whose default is 0) would drop each
 * other in turn. High in the 32-bit range, away from the small ids real replicas are given.
 */
export const REPLICA_ID_BASE = 4_200_000_000

export function replicaId(source: Pick<SourceConfig, 'id'>): number {
  return REPLICA_ID_BASE + Number(/\d+$/.exec(source.id)?.[0] ?? 0)
}

export interface BinlogArchiverOptions {
  source: SourceConfig
  /** The archive directory (catalog/naming.ts binlogArchiveDir). */
  dir: string
  logger: Logger
  /** Tests: a quicker backoff. */
  backoff?: SuperviseOptions['backoff']
  /** Tests: a quicker poll. */
  pollMs?: number
}

interface ServerLogs {
  current: { file: string; position: number }
  /** SHOW BINARY LOGS: every file the server still has, oldest first, with its size. */
  files: { file: string; size: number }[]
}

async function serverLogs(conn: Connection): Promise<ServerLogs> {
  const [status] = await conn.query<RowDataPacket[]>('SHOW MASTER STATUS')
  const row = status[0]
  if (!row) throw new Error('SHOW MASTER STATUS returned nothing: binary logging is off on the server (log_bin)')
  const [logs] = await conn.query<RowDataPacket[]>('SHOW BINARY LOGS')
  return {
    current: { file: String(row.File), position: Number(row.Position) },
    files: logs.map((l) => ({ file: String(l.Log_name), size: Number(l.File_size) })),
  }
}

/** Where to start: the newest archived file (fetched again whole), or the server's current one; a gap if it is gone. */
export async function startingPoint(
  dir: string,
  server: ServerLogs,
  now: Date,
): Promise<{ file: string; gap: GapEntry | undefined }> {
  // The newest run's last file, not the highest number: after RESET MASTER the files start over at 1.
  const newest = (await readBinlogArchive(dir, now)).runs.at(-1)?.files.at(-1)
  if (newest === undefined) return { file: server.current.file, gap: undefined }
  if (server.files.some((f) => f.file === newest)) return { file: newest, gap: undefined }
  const oldest = server.files[0]?.file
  const reason =
    oldest !== undefined && binlogNumber(oldest) > binlogNumber(newest)
      ? `the server purged ${newest} and what followed it before they were archived (its oldest binlog is ${oldest})`
      : `the server no longer has ${newest} and its binlogs start over at ${oldest ?? server.current.file} (RESET MASTER?)`
  return {
    file: server.current.file,
    gap: { kind: 'gap', after: newest, resumedAt: server.current.file, detectedAt: now.toISOString(), reason },
  }
}

/** A closed file is proven: the tool reads every event of it, and its sha256 is recorded. */
async function proveFile(path: string): Promise<string> {
  const exit = await runTool(BINLOG_TOOL, [path], {
    env: childEnv(),
    installHint: 'install the MariaDB client tools (Debian: mariadb-client)',
  })
  if (exit.exitCode !== 0)
    throw new Error(`${BINLOG_TOOL} ${path} ${describeExit(exit)}: ${exit.stderr || 'no output'}`)
  const hash = createHash('sha256')
  await pipeline(createReadStream(path), hash)
  return hash.digest('hex')
}

export async function startBinlogArchiver(opts: BinlogArchiverOptions): Promise<Archiver> {
  const { source, dir } = opts
  const log = opts.logger.child({ source: source.label, archiver: 'binlog' })
  await ensureDir(dir)
  // A defaults file left by a killed daemon: its credentials may be stale, and it must not linger.
  for (const name of await readdir(dir)) if (name.endsWith('.cnf')) await rm(join(dir, name), { force: true })
  const abort = new AbortController()
  // Not connect()'s own abort wiring: the poller replaces this connection after a failure, and
  // destroys whichever it holds when stopped (one listener, not one per reconnect).
  const conn = await connect(source, new AbortController().signal)
  let start: Awaited<ReturnType<typeof startingPoint>>
  let defaultsFile: string
  try {
    start = await startingPoint(dir, await serverLogs(conn), new Date())
    if (start.gap) {
      await appendIndex(dir, start.gap)
      log.error(
        { after: start.gap.after, resumedAt: start.gap.resumedAt },
        `binlog archive of ${source.label} has a gap: ${start.gap.reason}; a restore to a time between ${start.gap.after} and ${start.gap.resumedAt} is impossible. Take a backup now (dbkeeper backup) and keep binlogs longer than the archiver may be down (expire_logs_days / binlog_expire_logs_seconds)`,
      )
    }
    defaultsFile = writeDefaultsFile(dir, source)
  } catch (error) {
    // A server that refuses (log_bin off, no BINLOG MONITOR) must not leave a connection open.
    conn.destroy()
    throw error
  }
  const child = supervise({
    command: BINLOG_TOOL,
    // After a restart the newest local file is fetched again whole (the tool truncates it first).
    args: [
      `--defaults-extra-file=${defaultsFile}`,
      `--stop-never-slave-server-id=${replicaId(source)}`,
      '--read-from-remote-server',
      '--raw',
      '--stop-never',
      `--result-file=${dir}/`,
      start.file,
    ],
    env: childEnv(),
    ...(opts.backoff ? { backoff: opts.backoff } : {}),
    onStart: (pid) => log.info({ pid }, `${BINLOG_TOOL} started for ${source.label} at ${start.file}, into ${dir}`),
    onLine: (line) => log.warn(line),
    onExit: (exit, restartInMs) =>
      log.error(
        { code: exit.code, signal: exit.signal, ranMs: exit.ranMs, restartInMs },
        `${BINLOG_TOOL} ${exit.error ? `could not be started (${exit.error.code ?? exit.error.message}; install mariadb-client)` : exit.signal ? `was killed by ${exit.signal}` : `exited ${exit.code}`}: binlog archiving of ${source.label} is stopped; restarting in ${Math.round(restartInMs / 1000)} s`,
      ),
  })
  const reconnect = () => connect(source, new AbortController().signal)
  const poller = startPoller(dir, conn, reconnect, log, opts.pollMs ?? POLL_MS, abort.signal)
  let stopped: Promise<void> | undefined
  return {
    get pid() {
      return child.pid
    },
    get restarts() {
      return child.restarts
    },
    stop() {
      stopped ??= (async () => {
        abort.abort()
        // The poller destroys its connection as it ends, whatever the tool's stop does.
        await poller
        try {
          await child.stop()
        } finally {
          await rm(defaultsFile, { force: true })
        }
      })()
      return stopped
    },
  }
}

/**
 * One look a second until aborted; a failed look is logged and the next one tried on a new
 * connection (the server restarted, or dropped an idle one). The connection it holds when aborted
 * is destroyed, also mid-query.
 */
async function startPoller(
  dir: string,
  first: Connection,
  reconnect: () => Promise<Connection>,
  log: Logger,
  pollMs: number,
  signal: AbortSignal,
) {
  let conn: Connection | undefined = first
  const drop = () => {
    conn?.destroy()
    conn = undefined
  }
  signal.addEventListener('abort', drop, { once: true })
  const proven = new Set((await readIndex(dir)).flatMap((e) => (e.kind === 'closed' ? [e.file] : [])))
  // Carried over a restart: until it catches up again, the lag counts from the last catch-up.
  let caughtUpAt = (await readHeartbeat(dir))?.caughtUpAt
  let failing = false
  while (!signal.aborted) {
    try {
      conn ??= await reconnect()
      // Stopped while connecting: the new connection must not outlive the poller.
      if (signal.aborted) break
      const server = await serverLogs(conn)
      const local = await localBinlogs(dir)
      const newestFile = (await readBinlogArchive(dir, new Date())).runs.at(-1)?.files.at(-1)
      const newest = local.find((f) => f.file === newestFile)
      const now = new Date().toISOString()
      if (newest?.file === server.current.file && newest.size >= server.current.position) caughtUpAt = now
      await writeHeartbeat(dir, {
        checkedAt: now,
        server: server.current,
        local: { file: newest?.file, size: newest?.size ?? 0 },
        caughtUpAt,
      })
      const current = binlogNumber(server.current.file)
      for (const f of local) {
        if (proven.has(f.file) || binlogNumber(f.file) >= current) continue
        const onServer = server.files.find((s) => s.file === f.file)
        if (!onServer || onServer.size !== f.size) continue
        const sha256 = await proveFile(join(dir, f.file))
        await appendIndex(dir, {
          kind: 'closed',
          file: f.file,
          size: f.size,
          sha256,
          provenAt: new Date().toISOString(),
        })
        proven.add(f.file)
        log.info({ file: f.file, size: f.size, sha256 }, `binlog ${f.file} closed and proven`)
      }
      failing = false
    } catch (error) {
      if (signal.aborted) break
      if (!failing)
        log.error(
          { err: error },
          `binlog archive poller: ${(error as Error).message}; retrying every second on a new connection`,
        )
      failing = true
      drop()
    }
    await sleep(pollMs, signal)
  }
  drop()
}

/** Waits `ms` or until aborted; its abort listener goes with it (a poll a second for months). */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const wake = () => {
      clearTimeout(t)
      signal.removeEventListener('abort', wake)
      resolve()
    }
    const t = setTimeout(wake, ms)
    signal.addEventListener('abort', wake, { once: true })
  })
}
