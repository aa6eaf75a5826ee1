import type { SourceConfig } from '../../config/types.js'
import { DbkeeperError } from '../../runtime/errors.js'
import type {
  BinlogPosition,
  DumpObservation,
  DumpProcess,
  DumpSections,
  Engine,
  ProbeResult,
  RestoreNeeds,
} from '../engine.js'
import { childEnv, spawnDump } from '../subprocess.js'
import { dumpArgs } from './args.js'
import { parseBinlogPosition } from './binlog-position.js'
import { removeDefaultsFile, writeDefaultsFile } from './credentials.js'
import { fromDriverError, judgeMysqldump } from './errors.js'
import { measureNeeds } from './needs.js'
import { MysqldumpSections } from './sections.js'
import type { RowDataPacket } from 'mysql2/promise'
import { checkPrivileges, connect, describeDatabases, resolveDatabases, serverVersion } from './probe.js'
import { chooseDumpTool, dumpsHistory, findDumpTools, type Flavour } from './version.js'

const END_MARKER = '-- Dump completed'

/**
 * MySQL and MariaDB through mysqldump. The probe talks to the server with mysql2 (reachable,
 * credentials, version, databases, privileges, sizes) and picks the dump tool whose flavour
 * matches the server; the dump runs that tool with the credentials in a 0600 defaults file.
 */
export class MysqlEngine implements Engine {
  readonly kind = 'mysql' as const
  readonly contentExt = 'sql' as const
  /** The longest statement, which the target's max_allowed_packet must hold (needs.ts). */
  readonly measuresStatements = true
  readonly #source: SourceConfig
  readonly #workDir: string
  /** Set by probe(); until then the usual name. */
  #command = 'mysqldump'
  /** Set by probe(): which mysqldump spells the binlog coordinates how (args.ts PITR_OPTIONS). */
  #flavour: Flavour = 'mariadb'
  /** Whether the tool and server can dump history, and the databases that have history to dump. */
  #history = false
  #versioned = new Set<string>()

  constructor(source: SourceConfig, workDir: string) {
    this.#source = source
    this.#workDir = workDir
  }

  async probe(signal: AbortSignal): Promise<ProbeResult> {
    try {
      return await this.#probe(signal)
    } catch (error) {
      if (signal.aborted)
        throw new DbkeeperError('ABORTED', `probing ${this.#source.id} was stopped: the run was aborted`, {
          cause: error,
        })
      throw fromDriverError(this.#source, error)
    }
  }

  async #probe(signal: AbortSignal): Promise<ProbeResult> {
    // The dump tools are asked first: their processes run while mysql2 loads and connects (probe.ts).
    // Their answer is awaited after the server's version, so a connection error still comes first.
    const tools = findDumpTools(signal)
    tools.catch(() => undefined)
    const conn = await connect(this.#source, signal)
    try {
      const version = await serverVersion(conn)
      const tool = chooseDumpTool(await tools, version, this.#source)
      this.#command = tool.command
      this.#flavour = tool.flavour
      const names = await resolveDatabases(conn, this.#source)
      for (const name of names) await checkPrivileges(conn, this.#source, name)
      this.#history = dumpsHistory(tool, version)
      // Only the databases dumped: information_schema.TABLES opens every table it lists.
      const [versioned] = names.length
        ? await conn.query<RowDataPacket[]>(
            "SELECT DISTINCT TABLE_SCHEMA AS s FROM information_schema.TABLES WHERE TABLE_TYPE = 'SYSTEM VERSIONED' AND TABLE_SCHEMA IN (?)",
            [names],
          )
        : [[]]
      this.#versioned = new Set(versioned.map((r) => String(r.s)))
      const databases = await describeDatabases(conn, names)
      return { serverVersion: version, tool: { name: tool.command, version: tool.version }, databases }
    } finally {
      conn.destroy()
    }
  }

  dump(database: string, signal: AbortSignal): DumpProcess {
    const defaultsFile = writeDefaultsFile(this.#workDir, this.#source)
    // A system-versioned table's history is its data too: without --dump-history only the current
    // rows are dumped, and a restore (and the safety backup before it) loses the rest.
    const history = this.#history && this.#versioned.has(database) ? ['--dump-history'] : []
    const { args, options } = dumpArgs(this.#source, database, defaultsFile, this.#flavour, history)
    try {
      return spawnDump(this.#command, args, {
        // HOME points at our private directory so that no ~/.my.cnf or ~/.mylogin.cnf of whoever
        // runs dbkeeper overrides the credentials: those are read after --defaults-extra-file.
        env: childEnv({ HOME: this.#workDir }),
        signal,
        options,
        judge: judgeMysqldump(this.#command, this.#source, database),
        cleanup: () => removeDefaultsFile(defaultsFile),
      })
    } catch (error) {
      void removeDefaultsFile(defaultsFile)
      throw error
    }
  }

  async restoreNeeds(database: string, observed: DumpObservation, signal: AbortSignal): Promise<RestoreNeeds> {
    const conn = await connect(this.#source, signal)
    try {
      const needs = await measureNeeds(conn, database, observed)
      if (this.#versioned.has(database) && !this.#history)
        needs.warnings = [
          ...(needs.warnings ?? []),
          "its system-versioned tables' history rows are not in this backup (mysqldump --dump-history needs MariaDB 10.11 or later, the dump tool and the server): a restore brings back their current rows only",
        ]
      return needs
    } catch (error) {
      throw fromDriverError(this.#source, error, database)
    } finally {
      conn.destroy()
    }
  }

  /** Where the dump's head, tables and tail begin: one gzip member each, loaded in parallel on restore. */
  sections(): DumpSections {
    return new MysqldumpSections()
  }

  /** mysqldump writes the marker last, and only when it finished; `--skip-comments` is refused by the config. */
  checkContent(_head: Buffer, tail: Buffer): string | undefined {
    const lines = tail
      .toString('utf8')
      .split('\n')
      .map((l) => l.trim())
      .filter(Boolean)
    if (lines.at(-1)?.startsWith(END_MARKER)) return undefined
    return `the dump has no '${END_MARKER}' end marker: mysqldump stopped early`
  }

  /** A DBnn_PITR source's dump carries its binlog coordinates (args.ts PITR_OPTIONS, binlog-position.ts). */
  binlogPosition(head: Buffer, tail: Buffer): BinlogPosition | undefined {
    return parseBinlogPosition(head, tail)
  }
}
