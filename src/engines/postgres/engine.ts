/**
 * PostgreSQL through pg_dump. One database per dump, in a single REPEATABLE READ snapshot (pg_dump's
 * own), plain SQL by default (`gunzip -c | psql`) or the custom format (`pg_restore`). Roles and
 * tablespaces live outside every database: `dumpGlobals` / `globalsEngine` back them up separately.
 */
import { PassThrough, type Readable } from 'node:stream'
import type { SourceConfig } from '../../config/types.js'
import { toDbkeeperError } from '../../runtime/errors.js'
import type { DumpObservation, DumpProcess, Engine, ProbeResult, RestoreNeeds } from '../engine.js'
import { spawnDump } from '../subprocess.js'
import { GLOBALS_DATABASE, pgDumpallGlobalsArgs, pgDumpArgs } from './args.js'
import { CLUSTER_END_MARKER, DUMP_END_MARKER, checkCustomHead, checkEndMarker } from './content.js'
import { judgeToolExit } from './errors.js'
import { measureRestoreNeeds } from './needs.js'
import { toolCredentials } from './credentials.js'
import { probePostgres } from './probe.js'
import { createDatabase, dropDatabase, restoreCustom, restoreGlobals, restorePlain } from './client.js'
import { verifyCustomArchiveStream } from './verify.js'

export class PostgresEngine implements Engine {
  readonly kind = 'postgres' as const
  readonly contentExt: 'sql' | 'dump'

  constructor(
    private readonly source: SourceConfig,
    /** A private (0700) directory that exists; holds the per-run password files. */
    private readonly workDir: string,
  ) {
    this.contentExt = source.pgFormat === 'custom' ? 'dump' : 'sql'
  }

  probe(signal: AbortSignal): Promise<ProbeResult> {
    return probePostgres(this.source, signal)
  }

  dump(database: string, signal: AbortSignal): DumpProcess {
    return this.run('pg_dump', pgDumpArgs(this.source, database), signal)
  }

  /** pg_dumpall --globals-only: roles (with password hashes) and tablespaces, plain SQL. */
  dumpGlobals(signal: AbortSignal): DumpProcess {
    return this.run('pg_dumpall', pgDumpallGlobalsArgs(this.source), signal)
  }

  checkContent(head: Buffer, tail: Buffer): string | undefined {
    if (this.source.pgFormat === 'custom') return checkCustomHead(head)
    return checkEndMarker(tail, DUMP_END_MARKER, 'pg_dump')
  }

  checkGlobalsContent(_head: Buffer, tail: Buffer): string | undefined {
    return checkEndMarker(tail, CLUSTER_END_MARKER, 'pg_dumpall')
  }

  /** Relations, partitioned tables and extensions of `database`, and what this server could not take back (needs.ts). */
  restoreNeeds(database: string, _observed: DumpObservation, signal: AbortSignal): Promise<RestoreNeeds> {
    return measureRestoreNeeds(this.source, database, signal)
  }

  /**
   * The check that needs the whole raw content: for the custom format pg_restore reads the
   * archive; a plain dump is proven by its end marker alone. Undefined when good, else the reason.
   */
  verifyContent(raw: Readable, signal?: AbortSignal): Promise<string | undefined> {
    if (this.source.pgFormat === 'custom') return verifyCustomArchiveStream(raw, signal)
    raw.resume()
    return Promise.resolve(undefined)
  }

  /**
   * Restores one decompressed backup of this source into an existing, new database, statement by
   * statement: on failure the caller drops that database (what ran before the error stays in it).
   */
  restore(input: Readable, database: string, signal?: AbortSignal): Promise<void> {
    const restore = this.source.pgFormat === 'custom' ? restoreCustom : restorePlain
    return restore(this.source, this.workDir, input, database, signal)
  }

  /** Restores the decompressed `_globals` backup; "role … already exists" is expected and passes. */
  restoreGlobals(input: Readable, signal?: AbortSignal): Promise<void> {
    return restoreGlobals(this.source, this.workDir, input, signal)
  }

  createDatabase(name: string, signal?: AbortSignal): Promise<void> {
    return createDatabase(this.source, name, signal)
  }

  dropDatabase(name: string, signal?: AbortSignal): Promise<void> {
    return dropDatabase(this.source, name, signal)
  }

  /**
   * An Engine view of the globals backup, for the run orchestration: dump() ignores its database
   * argument and runs pg_dumpall; file it under GLOBALS_DATABASE with contentExt `sql`.
   */
  globalsEngine(): Engine {
    return {
      kind: 'postgres',
      contentExt: 'sql',
      probe: (signal) => this.probe(signal),
      dump: (_database, signal) => this.dumpGlobals(signal),
      checkContent: (head, tail) => this.checkGlobalsContent(head, tail),
    }
  }

  /** DBnn_PG_GLOBALS=true: roles and tablespaces as their own backup, under `_globals`. */
  companions(): { database: string; engine: Engine }[] {
    return this.source.pgGlobals ? [{ database: GLOBALS_DATABASE, engine: this.globalsEngine() }] : []
  }

  private run(tool: 'pg_dump' | 'pg_dumpall', args: string[], signal: AbortSignal): DumpProcess {
    let creds: ReturnType<typeof toolCredentials>
    try {
      creds = toolCredentials(this.source, this.workDir)
    } catch (error) {
      // The work directory vanished or is full: fail the dump, not the caller's synchronous code.
      const stdout = new PassThrough()
      stdout.end()
      const done = Promise.reject(toDbkeeperError(error, `${this.source.id}: writing the password file for ${tool}`))
      done.catch(() => {})
      return { stdout, done }
    }
    return spawnDump(tool, args, {
      env: creds.env,
      signal,
      options: args,
      judge: (exit) => judgeToolExit(this.source, tool, exit),
      cleanup: creds.cleanup,
    })
  }
}

export { GLOBALS_DATABASE }
