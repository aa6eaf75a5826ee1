/**
 * Restoring a mysqldump into MySQL/MariaDB. Our dumps hold no CREATE DATABASE or USE (args.ts), so
 * the same file restores into any name. A target that does not exist is created and loaded, and
 * dropped again when the restore fails. A target that exists is never loaded into: the backup goes
 * into a new database beside it (`<target>_dbkrestore_<hex>`, the same character set), is checked
 * there, and only then swapped into place (mysql-swap.ts) — what remains is exactly the backup, not
 * the backup merged with tables created since, and a failure at any point before or during the
 * swap leaves the target as it was. MySQL has no transactional DDL: this is how a failed restore
 * destroys nothing. It is also why the backup may be proven as it loads (`loadsAside`): the load
 * resolves only on the content's verdict, and a refused backup's copy is dropped like any other.
 */
import { pipeline, type Readable } from 'node:stream'
import mysql, { type Connection, type RowDataPacket } from 'mysql2/promise'
import type { SourceConfig } from '../../config/types.js'
import { DbkeeperError } from '../../runtime/errors.js'
import type { BackupContent, CountedTable, DriverTarget, RestoreDriver, TargetState } from '../restore-driver.js'
import { scratchName } from '../scratch-names.js'
import { childEnv, runTool } from '../subprocess.js'
import { clientArgs, findClient } from './client.js'
import { removeDefaultsFile, writeDefaultsFile } from './credentials.js'
import { besidePattern, judgeClient, restoreError } from './errors.js'
import { checkNeeds, raisePacket, setPacketBack, type RaisedPacket } from './needs-check.js'
import { loadSections } from './parallel-load.js'
import { connect } from './probe.js'
import { DatabaseNameRewrite } from './rewrite.js'
import { swapIn } from './swap.js'

const id = (name: string) => mysql.escapeId(name, true)

export class MysqlDriver implements RestoreDriver {
  readonly exactCounts = false
  readonly loadsAside = true
  readonly label: string
  /** max_allowed_packet the load needs and the server lacks (prepare). */
  #packet: number | undefined
  /** The database the content was loaded into and that this restore created: the staging copy, or the new target. */
  #loaded: string | undefined
  #createOptions = ''
  #notes: string[] = []

  constructor(private readonly t: DriverTarget) {
    this.label = `database \`${t.target}\` on ${t.source.host ?? 'localhost'}:${t.source.port ?? 3306}`
  }

  async inspect(signal: AbortSignal): Promise<TargetState> {
    return this.#withConn(signal, async (conn) => {
      if (!(await charsetOf(conn, this.t.target))) return { exists: false, empty: true }
      const [rows] = await conn.query<RowDataPacket[]>(
        `SELECT (SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = ?)
              + (SELECT COUNT(*) FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = ?)
              + (SELECT COUNT(*) FROM information_schema.EVENTS WHERE EVENT_SCHEMA = ?) AS n`,
        [this.t.target, this.t.target, this.t.target],
      )
      return { exists: true, empty: Number(rows[0]?.n ?? 0) === 0 }
    })
  }

  async prepare(signal: AbortSignal): Promise<string[]> {
    const checked = await this.#withConn(signal, async (conn) => {
      const needs = await checkNeeds(conn, this.t, this.label)
      if (this.t.replace && (await charsetOf(conn, this.t.target))) {
        await refuseInboundKeys(conn, this.t.target, this.label)
        await this.#mayCreateBeside(conn)
      }
      return needs
    })
    this.#packet = checked.packet
    return checked.lines
  }

  /**
   * An in-place restore loads beside the target (`<target>_dbkrestore_<hex>`): a user with rights
   * on the target alone would be refused there only after the confirmation and the safety backup.
   * Asked by doing it (a database created and dropped at once), so that grants through roles and
   * wildcards count as the server counts them.
   */
  async #mayCreateBeside(conn: Connection): Promise<void> {
    const probe = scratchName(this.t.target, 'dbkrestore')
    await this.t.scratch?.record(probe, this.t.target)
    try {
      await conn.query(`CREATE DATABASE ${id(probe)}`)
    } catch (error) {
      await this.t.scratch?.forget(probe)
      if ((error as { errno?: number }).errno !== 1044) throw error
      const user = this.t.source.user ?? 'root'
      throw new DbkeeperError(
        'PRIVILEGE',
        `user '${user}' may not create the database beside ${this.label} that an in-place restore loads into (\`${probe}\`); nothing was changed`,
        {
          hint: `GRANT ALL PRIVILEGES ON \`${besidePattern(this.t.target)}\`.* TO '${user}'@'%'; or restore --into a new name (then swap by hand), or run the restore as a user with these rights (docs/RESTORE.md, Privileges)`,
          cause: error,
        },
      )
    }
    await conn.query(`DROP DATABASE ${id(probe)}`)
    await this.t.scratch?.forget(probe)
  }

  async load(content: BackupContent, state: TargetState, signal: AbortSignal): Promise<void> {
    // Found before anything is created: a missing client must not leave a database behind.
    const command = await findClient(this.t.backup.tool.version, signal)
    const into = state.exists ? scratchName(this.t.target, 'dbkrestore') : this.t.target
    if (into !== this.t.target) await this.t.scratch?.record(into, this.t.target)
    await this.#withConn(signal, async (conn) => {
      // The dump does not carry the database's defaults (no CREATE DATABASE): keep the target's,
      // else the backed-up database's as the manifest recorded them, else its own when it is on
      // this server (an older manifest), else utf8mb4.
      const recorded = this.t.backup.restoreNeeds?.charset
      const charset = (await charsetOf(conn, this.t.target)) ??
        (recorded ? { cs: recorded.characterSet, coll: recorded.collation } : undefined) ??
        (await charsetOf(conn, this.t.backup.database)) ?? { cs: 'utf8mb4', coll: undefined }
      this.#createOptions = `CHARACTER SET ${charset.cs}${charset.coll ? ` COLLATE ${charset.coll}` : ''}`
      await this.#createAside(conn, into)
    })
    this.#loaded = into
    const defaults = writeDefaultsFile(this.t.workDir, this.t.source)
    let raised: RaisedPacket | undefined
    /** Whether the content began to flow to the client: only then can a failure be the backup's. */
    let fed = false
    try {
      if (this.#packet) raised = await this.#withConn(signal, (conn) => raisePacket(conn, this.#packet!))
      // HOME points at the private work directory so that no ~/.my.cnf overrides the credentials.
      const next = state.exists ? `${this.label} was not changed` : 'nothing was left behind'
      const run = (input: Readable, stop: AbortSignal, part = false) =>
        runTool(command, clientArgs(defaults, into, raised?.initCommand), {
          env: childEnv({ HOME: this.t.workDir }),
          input,
          signal: stop,
          stderr: { keep: 'tail', bytes: 64 * 1024 },
          installHint: 'install the client tools (Debian: mariadb-client)',
          abortedMessage: `${command} was stopped: the restore was aborted`,
          judge: (exit) =>
            judgeClient(this.t.source, command, exit, this.label, next, { readWith: this.t.backup.readWith, part }),
        })
      // Without the table lock lines, on one client or several: the database loaded into is the
      // restore's own, and the locks break loads (a DEFAULT NEXTVAL(seq), a foreign-key child
      // created on another client; rewrite.ts).
      const rewrite = () => new DatabaseNameRewrite(this.t.backup.database, into, { dropLocks: true })
      fed = true
      const sequential = async (one: BackupContent) => {
        const input = rewrite()
        // A read or decompression error of the backup reaches the client's input as its 'error'.
        pipeline(one.stream, input, () => {})
        await run(input, signal)
      }
      if (content.sections) {
        // One gzip member per table: the tables over several clients at once (parallel-load.ts).
        const parallel = await loadSections(
          content.sections,
          (input, stop) => run(input, stop, true),
          rewrite,
          signal,
        ).then(
          () => undefined,
          (error: unknown) => ({ error }),
        )
        // The load failed, or it ended but its members are not the manifest's. The file as written
        // decides: the manifest's (sha256 and size), the fault is the split's or the member table's,
        // and the same file is loaded again on one client, proven as it loads; a file that is not
        // the manifest's is refused at once (by the verdict below, or the failure's judgement), as
        // is an abort, before or while the file is proven.
        const refusal = parallel ? undefined : await content.verdict?.()
        const again =
          (parallel !== undefined || refusal !== undefined) &&
          !signal.aborted &&
          content.sequential !== undefined &&
          (await content.fileProven?.()) === true &&
          !signal.aborted
        if (again) {
          const why = parallel
            ? `failed: ${parallel.error instanceof Error ? parallel.error.message : String(parallel.error)}`
            : `was not proven: ${refusal!.message}`
          this.t.warn?.(
            `the parallel load of backup ${this.t.backup.id} ${why}; the file matches its manifest's sha256, so it is loaded again on one connection`,
          )
          await this.#withConn(signal, async (conn) => {
            await conn.query(`DROP DATABASE ${id(into)}`)
            await this.#createAside(conn, into)
          })
          content = content.sequential!()
          await sequential(content)
        } else if (parallel) throw parallel.error
      } else {
        await sequential(content)
      }
      // Proven as it loads: nothing resolves before the proof of every byte that was loaded.
      const refusal = await content.verdict?.()
      if (refusal) throw refusal
      content.assertComplete()
      // A restore to a time: the copy is rolled forward before it is counted and swapped in.
      await this.t.rollForward?.(into, this.t.workDir, signal)
    } catch (error) {
      // A failure on a damaged backup (a syntax error in garbled text) is the damage: judged on the
      // whole file, read to its end (unless the restore is aborted meanwhile).
      const stop = () => content.stream.destroy()
      signal.addEventListener('abort', stop, { once: true })
      const damage = fed && !signal.aborted ? await content.verdict?.() : undefined
      signal.removeEventListener('abort', stop)
      // The rest of the backup is not wanted: stop reading and decompressing it.
      content.stream.destroy()
      await this.abandon()
      throw this.#untouched(signal.aborted ? error : (damage ?? error), into, state)
    } finally {
      if (raised) await this.#resetPacket(raised.before)
      await removeDefaultsFile(defaults)
    }
  }

  /**
   * The database the load goes into, with the options the load began with (the target's
   * character set and collation): at the start, and again for the one-client load after a
   * parallel one that failed, which must not load into a database with other defaults.
   */
  async #createAside(conn: Connection, into: string): Promise<void> {
    await conn.query(`CREATE DATABASE ${id(into)} ${this.#createOptions}`)
  }

  /** A failed load's error, saying that the target is as it was. */
  #untouched(error: unknown, into: string, state: TargetState): DbkeeperError {
    const e = error instanceof DbkeeperError ? error : restoreError(this.t.source, this.t.target, this.label, error)
    // A refused backup's message already says that nothing was changed.
    if (e.code === 'ABORTED' || e.code === 'VERIFY_FAILED') return e
    const state_ = state.exists
      ? `${this.label} was not changed (the backup was loaded into a new database beside it, \`${into}\`, dropped again)`
      : `${this.label} did not exist and was dropped again: nothing was left behind`
    return new DbkeeperError(e.code, `${e.message}; ${state_}`, { hint: e.hint, cause: e })
  }

  async #resetPacket(value: number): Promise<void> {
    const note = await setPacketBack(() => connect(this.t.source, new AbortController().signal), value)
    if (note) this.#notes.push(note)
  }

  async commit(signal: AbortSignal): Promise<string[]> {
    const staging = this.#loaded
    if (staging === undefined || staging === this.t.target) return this.#notes
    // From here the swap owns the staging database: it drops it, or on a failed rollback keeps it for the operator.
    this.#loaded = undefined
    const notes = await this.#withConn(signal, (conn) =>
      swapIn(conn, {
        staging,
        target: this.t.target,
        createOptions: this.#createOptions,
        label: this.label,
        scratch: this.t.scratch,
      }),
    )
    return [...this.#notes, ...notes]
  }

  async abandon(): Promise<void> {
    const loaded = this.#loaded
    this.#loaded = undefined
    if (loaded === undefined) return
    // A fresh signal: an aborted restore still removes what it created.
    await this.#withConn(new AbortController().signal, (conn) => conn.query(`DROP DATABASE IF EXISTS ${id(loaded)}`))
      .then(() => (loaded === this.t.target ? undefined : this.t.scratch?.forget(loaded)))
      .catch(() => {})
  }

  /** What `count` counts: the loaded copy until it is swapped in, else the target. */
  get #counted(): string {
    return this.#loaded ?? this.t.target
  }

  async count(signal: AbortSignal): Promise<{ tables: CountedTable[]; problems: string[] }> {
    return this.#withConn(signal, async (conn) => {
      const [names] = await conn.query<RowDataPacket[]>(
        "SELECT TABLE_NAME AS name FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_TYPE = 'BASE TABLE' ORDER BY TABLE_NAME",
        [this.#counted],
      )
      const tables: CountedTable[] = []
      for (const { name } of names as { name: string }[]) {
        const [rows] = await conn.query<RowDataPacket[]>(`SELECT COUNT(*) AS n FROM ${id(this.#counted)}.${id(name)}`)
        tables.push({ name, rows: Number(rows[0]?.n ?? 0) })
      }
      return { tables, problems: [] }
    })
  }

  async discard(signal: AbortSignal): Promise<void> {
    await this.#withConn(signal, (conn) => conn.query(`DROP DATABASE IF EXISTS ${mysql.escapeId(this.t.target, true)}`))
  }

  async #withConn<T>(signal: AbortSignal, fn: (conn: Connection) => Promise<T>): Promise<T> {
    const conn = await connect(this.t.source, signal)
    try {
      return await fn(conn)
    } catch (error) {
      throw restoreError(this.t.source, this.t.target, this.label, error)
    } finally {
      conn.destroy()
    }
  }
}

/** The database's default character set and collation, or undefined when it does not exist. */
async function charsetOf(
  conn: Connection,
  database: string,
): Promise<{ cs: string; coll: string | undefined } | undefined> {
  const [rows] = await conn.query<RowDataPacket[]>(
    'SELECT DEFAULT_CHARACTER_SET_NAME AS cs, DEFAULT_COLLATION_NAME AS coll FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?',
    [database],
  )
  const row = rows[0]
  if (!row) return undefined
  // Names from the server's own catalogue; checked anyway before they go into a statement.
  const safe = (v: unknown) => (typeof v === 'string' && /^\w+$/.test(v) ? v : undefined)
  return { cs: safe(row.cs) ?? 'utf8mb4', coll: safe(row.coll) }
}

/** Whether `name` exists on the source's server (the sweep of leftover scratch databases). */
export async function mysqlDatabaseExists(source: SourceConfig, name: string, signal: AbortSignal): Promise<boolean> {
  const conn = await connect(source, signal)
  try {
    const [rows] = await conn.query<RowDataPacket[]>(
      'SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?',
      [name],
    )
    return rows.length > 0
  } finally {
    await conn.end().catch(() => {})
  }
}

/** Drops `name` on the source's server; no error when it is already gone. */
export async function mysqlDropDatabase(source: SourceConfig, name: string, signal: AbortSignal): Promise<void> {
  const conn = await connect(source, signal)
  try {
    await conn.query(`DROP DATABASE IF EXISTS ${id(name)}`)
  } finally {
    await conn.end().catch(() => {})
  }
}

/**
 * Foreign keys of OTHER databases that reference the target's tables: the in-place swap renames
 * the target's tables aside (`<target>_dbkold_<hex>`) and a key follows the table it references
 * across databases, so after the restore those keys would point at the aside copy that is then
 * dropped (or kept when it cannot be), and the other database's integrity would be gone without a
 * word. Refused before anything is touched.
 */
async function refuseInboundKeys(conn: Connection, target: string, label: string): Promise<void> {
  const [keys] = await conn.query<RowDataPacket[]>(
    `SELECT CONSTRAINT_SCHEMA AS s, TABLE_NAME AS t, CONSTRAINT_NAME AS c, REFERENCED_TABLE_NAME AS r
       FROM information_schema.REFERENTIAL_CONSTRAINTS
      WHERE UNIQUE_CONSTRAINT_SCHEMA = ? AND CONSTRAINT_SCHEMA <> ?
      ORDER BY 1, 2, 3`,
    [target, target],
  )
  if (keys.length === 0) return
  const named = keys.slice(0, 5).map((k) => `\`${k.s}\`.\`${k.t}\` (${k.c} → ${k.r})`)
  const first = keys[0]!
  throw new DbkeeperError(
    'RESTORE_FAILED',
    `${keys.length} foreign key${keys.length === 1 ? '' : 's'} in other databases reference${keys.length === 1 ? 's' : ''} tables of ${label}: ${named.join(', ')}${keys.length > 5 ? ', …' : ''}; an in-place restore would leave ${keys.length === 1 ? 'it' : 'them'} pointing at the replaced tables; nothing was changed`,
    {
      hint: `drop ${keys.length === 1 ? 'that key' : 'those keys'} first (ALTER TABLE \`${first.s}\`.\`${first.t}\` DROP FOREIGN KEY \`${first.c}\`), restore, then add ${keys.length === 1 ? 'it' : 'them'} back (SHOW CREATE TABLE shows the definition); or restore --into a new name and move the rows by hand`,
    },
  )
}
