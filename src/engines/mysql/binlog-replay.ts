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
import { pipeline, Transform, type TransformCallback } from 'node:stream'
import type { Connection, RowDataPacket } from 'mysql2/promise'
import type { SourceConfig } from '../../config/types.js'
import { DbkeeperError } from '../../runtime/errors.js'
import { childEnv, describeExit, lastLines, runTool, shellWord, startTool, type ToolExit } from '../subprocess.js'
import { BINLOG_TOOL } from './binlog-archiver.js'
import { stopDatetime } from './binlog-window.js'
import { clientArgs, CLIENT_COMMANDS } from './client.js'
import { removeDefaultsFile, writeDefaultsFile } from './credentials.js'
import { judgeClient } from './errors.js'
import {
  assertMayRaisePacket,
  globalPacket,
  packetRefusal,
  raisePacket,
  setPacketBack,
  type RaisedPacket,
} from './needs-check.js'
import { mib, packetFor, PACKET_MAX } from './needs.js'
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
  /** The operator's lines (max_allowed_packet raised for the replay, or not set back). */
  print?: (line: string) => void
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
  const { longest } = await surveyRange(r, env)
  const raised = await raisePacketFor(r, longest)
  const next = `${r.label} was not put in place`
  let defaults: string | undefined
  try {
    defaults = writeDefaultsFile(r.workDir, r.source)
    // A client that failed needs nothing more: the reader is stopped instead of decoding the rest.
    const clientFailed = new AbortController()
    const args = replayArgs(r)
    const reader = startReader(args, env, AbortSignal.any([r.signal, clientFailed.signal]))
    const client = CLIENT_COMMANDS[0]
    const input = new ServerIdentity()
    // A reader that fails ends the client's input early: its exit below says why.
    pipeline(reader.stdout, input, () => {})
    const replayed = runTool(client, clientArgs(defaults, r.into, raised?.initCommand), {
      env,
      input,
      signal: r.signal,
      stderr: { keep: 'tail', bytes: 64 * 1024 },
      installHint: 'install the client tools (Debian: mariadb-client)',
      abortedMessage: `${client} was stopped: the restore was aborted`,
      // The client's line is a line of the reader's output: the same command prints it.
      judge: (exit) =>
        judgeClient(r.source, `${client} (replaying the binlog)`, exit, r.label, next, {
          name: `the binlog as ${BINLOG_TOOL} decodes it`,
          readWith: `TZ=UTC ${[BINLOG_TOOL, ...args].map(shellWord).join(' ')}`,
        }),
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
    if (defaults !== undefined) await removeDefaultsFile(defaults)
    if (raised) {
      const note = await setPacketBack(() => connect(r.source, new AbortController().signal), raised.before)
      if (note) r.print?.(note)
    }
  }
}

/**
 * Raises the server's max_allowed_packet for the replay when the range's longest statement needs
 * more (as the load does for the base's, needs-check.ts), refusing a user who may not with the
 * setting to change; returns the value to set back.
 */
async function raisePacketFor(r: ReplayRequest, longest: number): Promise<RaisedPacket | undefined> {
  const conn = await connect(r.source, r.signal)
  try {
    const current = await globalPacket(conn)
    if (packetFor(longest) <= current) return undefined
    const what = `the binlog between the base and ${r.at.toISOString()} holds`
    if (longest + 1024 > PACKET_MAX)
      throw new DbkeeperError(
        'RESTORE_FAILED',
        `${what} a statement of ${mib(longest)}, longer than any server's max_allowed_packet (1 GiB) allows; nothing was replayed`,
        { hint: 'restore to a time before that statement, or restore a scheduled backup (dbkeeper list)' },
      )
    await assertMayRaisePacket(conn, (error) =>
      packetRefusal(what, longest, current, r.label, r.source.user, 'the replay', error),
    )
    const raised = await raisePacket(conn, packetFor(longest))
    r.print?.(
      `the binlog's longest statement is ${mib(longest)}: max_allowed_packet (${mib(current)}) raised to ${mib(packetFor(longest))} for the replay, set back afterwards`,
    )
    return raised
  } finally {
    conn.destroy()
  }
}

/**
 * The decoded binlog without the lines that would replay each transaction under its original
 * identity (MariaDB's versioned `SET @@session.gtid_seq_no=7`, and its domain's and server's): on
 * the server it came from, those GTIDs are behind its binlog's own, which a server with
 * gtid_strict_mode refuses (ERROR 1950: nothing could be restored to a time there), and which
 * without it leave its binlog out of order for its replicas. Replayed into a copy, they are new
 * transactions of this server, numbered by it, as the base's load is. Lines are whole only up to a
 * chunk's last newline; the rest waits for the next chunk.
 */
export class ServerIdentity extends Transform {
  static readonly PREFIX = Buffer.from('/*M!100001 SET @@session.')
  static readonly LINE = /^\/\*M!100001 SET @@session\.(?:gtid_seq_no|gtid_domain_id|server_id)=\d+\*\/\/\*!\*\/;$/
  #carry: Buffer = Buffer.alloc(0)

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    const data = this.#carry.length ? Buffer.concat([this.#carry, chunk]) : chunk
    const whole = data.lastIndexOf(10) + 1
    this.#carry = Buffer.from(data.subarray(whole))
    if (whole > 0) this.push(this.#filter(data.subarray(0, whole)))
    done()
  }

  override _flush(done: TransformCallback): void {
    if (this.#carry.length) this.push(this.#filter(this.#carry))
    done()
  }

  /** `lines` start at a line's start. */
  #filter(lines: Buffer): Buffer {
    const kept: Buffer[] = []
    let from = 0
    let at = lines.indexOf(ServerIdentity.PREFIX)
    while (at !== -1) {
      const end = lines.indexOf(10, at)
      const stop = end === -1 ? lines.length : end + 1
      if (
        (at === 0 || lines[at - 1] === 10) &&
        ServerIdentity.LINE.test(lines.toString('latin1', at, end === -1 ? lines.length : end))
      ) {
        kept.push(lines.subarray(from, at))
        from = stop
      }
      at = lines.indexOf(ServerIdentity.PREFIX, stop)
    }
    if (from === 0) return lines
    kept.push(lines.subarray(from))
    return Buffer.concat(kept)
  }
}

/**
 * The range is decoded once before the replay and read, for two things.
 *
 * The longest statement the client will send (comment lines are not sent): a row event is sent as
 * one `BINLOG '…'` statement, its base64 a third longer than the event, so a row the server took
 * within its max_allowed_packet comes back over it (a 14 MB BLOB: a 19 MB statement). The replay
 * raises the setting for itself when that is so (replayBinlog).
 *
 * Replayed into another name, a statement that names the database itself: `--rewrite-db` renames
 * a statement's default database and the row events' tables, but not a database name written out
 * in a statement: `ALTER TABLE shop.orders …` (DDL is logged as a statement even with ROW format)
 * would be replayed into the LIVE `shop` while the copy beside it is being rolled forward, changing
 * the target before anything was checked. Such a statement (`shop.` or `` `shop`. ``) refuses the
 * restore, nothing replayed. Row events (BINLOG '…') and the tool's comment lines are not
 * statements and are skipped.
 */
export async function surveyRange(r: ReplayRequest, env: ReturnType<typeof childEnv>): Promise<{ longest: number }> {
  const escaped = r.database.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
  const names =
    r.into === r.database
      ? undefined
      : new RegExp(`(\`${escaped.replace(/`/g, '``')}\`|(?<![\\w$])${escaped})\\s*\\.`, 'i')
  const stop = new AbortController()
  const reader = startReader(replayArgs({ ...r, into: r.database }), env, AbortSignal.any([r.signal, stop.signal]))
  let found: { statement: string; header: string } | undefined
  let header = ''
  let inRows = false
  let statement = 0
  let longest = 0
  const lines = createInterface({ input: reader.stdout, crlfDelay: Infinity })
  for await (const line of lines) {
    if (line.startsWith('#')) {
      if (!inRows && /^#\d{6}\s/.test(line)) header = line
      continue
    }
    // What the client sends: the statement's lines up to mariadb-binlog's delimiter, newlines included.
    statement += Buffer.byteLength(line) + 1
    if (line.endsWith('/*!*/;')) {
      if (statement > longest) longest = statement
      statement = 0
    }
    if (inRows) {
      if (line.endsWith("'/*!*/;")) inRows = false
      continue
    }
    if (line.startsWith('BINLOG ')) {
      inRows = !line.endsWith("'/*!*/;")
      continue
    }
    if (names?.test(line)) {
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
  return { longest }
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
