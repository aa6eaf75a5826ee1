/**
 * Rolling a restored MySQL/MariaDB database forward to a time: the archived binlog from a base
 * dump's coordinates, replayed on the server by the shell tools themselves —
 *
 *   TZ=UTC mariadb-binlog --skip-gtid-strict-mode --verify-binlog-checksum --start-position=P
 *     --stop-datetime=T --database=D [--rewrite-db='D->INTO'] files… | mariadb --database=INTO
 *
 * the very line docs/RESTORE.md gives for doing it by hand. The client gets its credentials from a
 * 0600 defaults file (never argv); `--verify-binlog-checksum` makes a damaged event the reader's
 * failure instead of a wrong row. The pipeline fails as a whole, naming the side that failed.
 *
 * Replaying row events (BINLOG '…' statements) needs BINLOG REPLAY (MariaDB 10.5+) or SUPER:
 * checkReplayPrivilege refuses up front, naming the GRANT, before anything is touched.
 */
import { createInterface } from 'node:readline'
import type { Connection, RowDataPacket } from 'mysql2/promise'
import type { SourceConfig } from '../../config/types.js'
import { DbkeeperError } from '../../runtime/errors.js'
import { childEnv, describeExit, lastLines, runTool, startTool, type ToolExit } from '../subprocess.js'
import { BINLOG_TOOL } from './binlog-archiver.js'
import { stopDatetime } from './binlog-window.js'
import { clientArgs, CLIENT_COMMANDS } from './client.js'
import { removeDefaultsFile, writeDefaultsFile } from './credentials.js'
import { judgeClient } from './errors.js'
import { connect } from './probe.js'

export interface ReplayRequest {
  source: SourceConfig
  /** The archived files to read, absolute paths, oldest first. */
  paths: readonly string[]
  /** Where in the first file the base dump stands. */
  position: number
  at: Date
  /** The database whose changes are replayed (the backed-up one). */
  database: string
  /** Where they go: `database` itself, or another name (the copy loaded beside the target). */
  into: string
  /** What `into` is, for messages: "database `shop_dbkrestore_1a2b` on db:3306". */
  label: string
  /** Private 0700 directory: the defaults file, the tools' HOME. */
  workDir: string
  signal: AbortSignal
}

/** The reader's options: what it reads, from where, to when, for which database (no credentials: it reads files). */
export function replayArgs(r: Pick<ReplayRequest, 'paths' | 'position' | 'at' | 'database' | 'into'>): string[] {
  return [
    '--no-defaults',
    // The base's GTIDs and the archive's need not be in strict order for a replay into another database.
    '--skip-gtid-strict-mode',
    '--verify-binlog-checksum',
    `--start-position=${r.position}`,
    `--stop-datetime=${stopDatetime(r.at)}`,
    `--database=${r.database}`,
    ...(r.into === r.database ? [] : [`--rewrite-db=${r.database}->${r.into}`]),
    ...r.paths,
  ]
}

/** Replays the archived binlog into `into` up to `at`; rejects with RESTORE_FAILED naming the failing side. */
export async function replayBinlog(r: ReplayRequest): Promise<void> {
  const env = childEnv({ HOME: r.workDir, TZ: 'UTC' })
  if (r.into !== r.database) await refuseQualifiedStatements(r, env)
  const defaults = writeDefaultsFile(r.workDir, r.source)
  const next = `${r.label} was not put in place`
  try {
    // A client that failed needs nothing more: the reader is stopped instead of decoding the rest.
    const clientFailed = new AbortController()
    const reader = startReader(replayArgs(r), env, AbortSignal.any([r.signal, clientFailed.signal]))
    const client = CLIENT_COMMANDS[0]
    const replayed = runTool(client, clientArgs(defaults, r.into), {
      env,
      input: reader.stdout,
      signal: r.signal,
      stderr: { keep: 'tail', bytes: 64 * 1024 },
      installHint: 'install the client tools (Debian: mariadb-client)',
      abortedMessage: `${client} was stopped: the restore was aborted`,
      judge: (exit) => judgeClient(r.source, `${client} (replaying the binlog)`, exit, r.label, next),
    })
    replayed.catch(() => clientFailed.abort())
    const [read, wrote] = await Promise.allSettled([reader.exit, replayed])
    // Stopped by us because the client failed (not a reader that had failed on its own): the
    // client's error says why.
    if (read.status === 'rejected' && clientFailed.signal.aborted && !r.signal.aborted && wrote.status === 'rejected')
      throw wrote.reason
    // The reader's failure first: a damaged event also leaves the client a torn statement.
    if (read.status === 'rejected') throw read.reason
    const failed = readerFailure(read.value, r)
    if (failed) throw failed
    if (wrote.status === 'rejected') throw wrote.reason
  } finally {
    await removeDefaultsFile(defaults)
  }
}

/**
 * `--rewrite-db` renames a statement's default database and the row events' tables, but not a
 * database name written out in a statement: `ALTER TABLE shop.orders …` (DDL is logged as a
 * statement even with ROW format) would be replayed into the LIVE `shop` while the copy beside it
 * is being rolled forward, changing the target before anything was checked. So before the replay
 * the same range is decoded once more and read: a statement that names the database itself (`shop.`
 * or `` `shop`. ``) refuses the restore, nothing replayed. Row events (BINLOG '…') and the tool's
 * comment lines are not statements and are skipped.
 */
export async function refuseQualifiedStatements(r: ReplayRequest, env: ReturnType<typeof childEnv>): Promise<void> {
  const escaped = r.database.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
  const names = new RegExp(`(\`${escaped.replace(/`/g, '``')}\`|(?<![\\w$])${escaped})\\s*\\.`, 'i')
  const stop = new AbortController()
  const reader = startReader(replayArgs({ ...r, into: r.database }), env, AbortSignal.any([r.signal, stop.signal]))
  let found: { statement: string; header: string } | undefined
  let header = ''
  let inRows = false
  const lines = createInterface({ input: reader.stdout, crlfDelay: Infinity })
  for await (const line of lines) {
    if (inRows) {
      if (line.endsWith("'/*!*/;")) inRows = false
      continue
    }
    if (line.startsWith('BINLOG ')) {
      inRows = !line.endsWith("'/*!*/;")
      continue
    }
    if (line.startsWith('#')) {
      if (/^#\d{6}\s/.test(line)) header = line
      continue
    }
    if (names.test(line)) {
      found = { statement: line.slice(0, 200), header }
      break
    }
  }
  if (found) {
    stop.abort()
    await reader.exit.catch(() => undefined)
    const when = /^#(\d{2})(\d{2})(\d{2})\s+(\d{1,2}:\d{2}:\d{2})/.exec(found.header)
    const at = when ? ` (logged 20${when[1]}-${when[2]}-${when[3]} ${when[4]} UTC)` : ''
    throw new DbkeeperError(
      'RESTORE_FAILED',
      `the binlog between the base and ${r.at.toISOString()} holds a statement that names \`${r.database}\` itself${at}: "${found.statement}"; replayed into ${r.label} it would change the live \`${r.database}\`, so nothing was replayed and nothing was changed`,
      {
        hint: `restore to a time before that statement, or restore the base by hand and replay the binlog into the database itself (docs/RESTORE.md, "By hand"), after a copy of it`,
      },
    )
  }
  const read = await reader.exit
  const failed = readerFailure(read, r)
  if (failed) throw failed
}

/** The binlog reader, decoding `args`' range to its stdout (the guard's pass and the replay's). */
function startReader(args: string[], env: ReturnType<typeof childEnv>, signal: AbortSignal) {
  return startTool(BINLOG_TOOL, args, {
    env,
    signal,
    stderr: { keep: 'tail', bytes: 16 * 1024 },
    installHint: 'install the MariaDB client tools (Debian: mariadb-client)',
    abortedMessage: `${BINLOG_TOOL} was stopped: the restore was aborted`,
  })
}

function readerFailure(exit: ToolExit, r: ReplayRequest): DbkeeperError | undefined {
  if (exit.exitCode === 0 && !exit.signal) return undefined
  const line =
    exit.stderr
      .split('\n')
      .map((l) => l.trim())
      .findLast((l) => /error/i.test(l)) ?? lastLines(exit.stderr, 1)
  return new DbkeeperError(
    'RESTORE_FAILED',
    `${BINLOG_TOOL} ${describeExit(exit)} reading the archived binlog (${r.paths.map((p) => p.split('/').at(-1)).join(', ')}) to replay it into ${r.label}: ${line || 'no output'}`,
    {
      hint: `the archive is damaged: restore a time before the damaged file, or a scheduled backup (dbkeeper list); ${BINLOG_TOOL} --verify-binlog-checksum FILE shows the event`,
      ...(exit.stderr ? { output: lastLines(exit.stderr, 10) } : {}),
    },
  )
}

/** checkReplayPrivilege on a connection of its own. */
export async function checkMysqlReplay(source: SourceConfig, signal: AbortSignal): Promise<void> {
  const conn = await connect(source, signal)
  try {
    await checkReplayPrivilege(conn, source)
  } finally {
    conn.destroy()
  }
}

/**
 * Refuses (PRIVILEGE), before anything is touched, a user who may not replay row events: BINLOG
 * REPLAY, SUPER or ALL PRIVILEGES on *.* is needed. With an active role the grants cannot be judged
 * here: the replay's own error then says it.
 */
export async function checkReplayPrivilege(conn: Connection, source: SourceConfig): Promise<void> {
  const [role] = await conn.query<RowDataPacket[]>('SELECT CURRENT_ROLE() AS r')
  if (role[0]?.r) return
  const [rows] = await conn.query<RowDataPacket[]>('SHOW GRANTS')
  const global = rows
    .map((row) => String(Object.values(row)[0]))
    .filter((g) => /^GRANT .* ON \*\.\* TO /.test(g))
    .join('\n')
  if (/\b(ALL PRIVILEGES|SUPER|BINLOG REPLAY)\b/.test(global)) return
  const user = source.user ?? 'root'
  throw new DbkeeperError(
    'PRIVILEGE',
    `user '${user}' may not replay the binlog (a restore to a time replays row events, which needs BINLOG REPLAY); nothing was changed`,
    {
      hint: `GRANT BINLOG REPLAY ON *.* TO '${user}'@'%'; or set ${source.id}_USER to a user that has it (docs/RESTORE.md)`,
    },
  )
}
