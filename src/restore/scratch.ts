/**
 * dbkeeper's scratch databases on a server (a drill's `dbkeeper_drill_…`, a restore's
 * `<target>_dbkrestore_…` / `<target>_dbkold_…`): their names, a record of each one, and the sweep
 * that drops those whose owner was killed. A killed drill used to leave its scratch database for
 * ever, and `DBnn_NAME=ALL` backed it up every run.
 *
 * Before a scratch database is created, `recordScratch` writes <BACKUP_DIR>/.dbkeeper/scratch/<id>.json
 * (name, server, owner pid and host), durably; once it is dropped, `forgetScratch` removes it.
 * `sweepScratch` runs under the volume lock (the backup run, next to the debris cleanup). Every
 * program that creates a scratch database (backup never does; drills, `verify --drill` and restores
 * do) holds that lock for as long as the database exists, so a record found under the lock belongs
 * to a process that is gone; the pid check on the same host is a second guard against a bug there.
 * Not by age: a drill of a large database takes hours, and no age tells a slow one from a dead one.
 *
 * A database is dropped only when BOTH hold: its name has our pattern (engines/scratch-names.ts),
 * and our record names it on that same server. A database that merely looks like ours is never
 * touched, and one we recorded but whose name does not match is not either. A `_dbkold_` database
 * whose target is missing is kept: a restore killed between its two renames left the only copy of
 * the old content there; the warning says how to rename it back.
 */
import { createHash } from 'node:crypto'
import { readdir, readFile, rm } from 'node:fs/promises'
import { hostname } from 'node:os'
import { dirname, join } from 'node:path'
import { STATE_DIR } from '../catalog/naming.js'
import type { Config, EngineKind, SourceConfig } from '../config/types.js'
import { restoreKind, type ScratchLedger } from '../engines/index.js'
import { parseScratchName } from '../engines/scratch-names.js'
import { describeError } from '../runtime/errors.js'
import type { Logger } from '../runtime/logger.js'
import { DIR_MODE, ensureDir } from '../runtime/durable.js'
import { writeFileAtomic } from '../storage/local/files.js'

export {
  DRILL_TARGET,
  isScratchName,
  parseScratchName,
  scratchName,
  type ScratchTag,
} from '../engines/scratch-names.js'
export type { ScratchLedger }

/** One scratch database as recorded before it was created. */
export interface ScratchRecord {
  name: string
  /** The database it stands in for or beside (`--into`/restore target; `dbkeeper` for drills). */
  target: string
  engine: EngineKind
  /** The source's label; with `drillServer`, the DRILL_HOST server of its kind instead of its own. */
  source: string
  drillServer: boolean
  /** `host:port`, to refuse a sweep against another server when the configuration changed. */
  server: string
  pid: number
  host: string
  at: string
}

/**
 * The server a source's drills restore into: DRILL_HOST (with DRILL_PORT, and DRILL_USER/DRILL_PASS
 * or else the source's own credentials) for sources of its kind, the source's own server otherwise.
 * Only the connection changes: the dump tools and their options stay the source's.
 */
export function drillTarget(config: Pick<Config, 'restore'>, source: SourceConfig): SourceConfig {
  const server = config.restore.drillServer
  if (!server || source.engine !== server.engine) return source
  const credentials = server.user === undefined ? {} : { user: server.user, password: server.password }
  return Object.freeze({ ...source, host: server.host, port: server.port, ...credentials })
}

function serverOf(source: SourceConfig): string {
  return `${source.host ?? 'localhost'}:${source.port ?? restoreKind(source.engine).server?.defaultPort ?? ''}`
}

function recordsDir(backupDir: string): string {
  return join(backupDir, STATE_DIR, 'scratch')
}

function recordPath(backupDir: string, server: string, name: string): string {
  return join(
    recordsDir(backupDir),
    `${createHash('sha256').update(`${server}\n${name}`).digest('hex').slice(0, 16)}.json`,
  )
}

/** Records `name` on `source`'s server (the one it will be created on), durably, BEFORE it is created. */
export async function recordScratch(
  backupDir: string,
  source: SourceConfig,
  scratch: { name: string; target: string; drillServer: boolean },
): Promise<void> {
  await ensureDir(recordsDir(backupDir), DIR_MODE, dirname(backupDir))
  const record: ScratchRecord = {
    ...scratch,
    engine: source.engine,
    source: source.label,
    server: serverOf(source),
    pid: process.pid,
    host: hostname(),
    at: new Date().toISOString(),
  }
  await writeFileAtomic(recordPath(backupDir, record.server, record.name), `${JSON.stringify(record)}\n`)
}

/** The record-and-forget pair for one source, handed to a restore driver (engines/restore-driver.ts DriverTarget). */
export function scratchLedger(backupDir: string, source: SourceConfig): ScratchLedger {
  return {
    record: (name, target) => recordScratch(backupDir, source, { name, target, drillServer: false }),
    forget: (name) => forgetScratch(backupDir, source, name),
  }
}

/** Forgets `name` once it was dropped (or never created). */
export async function forgetScratch(backupDir: string, source: SourceConfig, name: string): Promise<void> {
  await rm(recordPath(backupDir, serverOf(source), name), { force: true })
}

function isAlive(record: ScratchRecord): boolean {
  if (record.host !== hostname()) return false
  try {
    process.kill(record.pid, 0)
    return true
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/**
 * Drops the recorded scratch databases of processes that are gone; returns their names. THE CALLER
 * HOLDS THE VOLUME LOCK. Never throws: a server that is down keeps its records for the next run.
 */
export async function sweepScratch(
  config: Pick<Config, 'backupDir' | 'sources' | 'restore'>,
  logger: Logger,
  signal: AbortSignal,
): Promise<string[]> {
  const dir = recordsDir(config.backupDir)
  const files = await readdir(dir).catch(() => [] as string[])
  const dropped: string[] = []
  for (const file of files.filter((f) => f.endsWith('.json') && !f.startsWith('.'))) {
    const path = join(dir, file)
    let record: ScratchRecord
    try {
      record = JSON.parse(await readFile(path, 'utf8')) as ScratchRecord
    } catch {
      continue // unreadable: not ours to act on
    }
    const log = logger.child({ scratch: record.name, source: record.source, server: record.server, pid: record.pid })
    if (isAlive(record)) continue
    const parsed = parseScratchName(record.name)
    const configured = config.sources.find((s) => s.label === record.source && s.engine === record.engine)
    const source = configured && (record.drillServer ? drillTarget(config, configured) : configured)
    const server = source && restoreKind(source.engine).server
    if (!parsed || !source || !server || serverOf(source) !== record.server) {
      log.warn(
        `scratch database ${record.name} on ${record.server} was left by a killed process, but is not dropped: ${!parsed ? 'its name is not one of ours' : 'its source is no longer configured for that server'}; drop it by hand if it is ours, then delete ${path}`,
      )
      continue
    }
    try {
      if (!(await server.exists(source, record.name, signal))) {
        await rm(path, { force: true })
        continue
      }
      if (parsed.tag === 'dbkold' && !(await server.exists(source, record.target, signal))) {
        log.warn(
          `${record.name} on ${record.server} holds the old content of ${record.target}, which does not exist: a restore was killed between its two renames. Kept. Rename it back (${server.renameBack(record.name, record.target)}), then delete ${path}`,
        )
        continue
      }
      await server.drop(source, record.name, signal)
      await rm(path, { force: true })
      dropped.push(record.name)
      log.warn(
        `dropped scratch database ${record.name} on ${record.server}, left by a killed ${parsed.tag === 'drill' ? 'drill' : 'restore'} (pid ${record.pid} on ${record.host}, ${record.at})`,
      )
    } catch (error) {
      log.warn(
        `could not drop the leftover scratch database ${record.name} on ${record.server}: ${describeError(error)}; the next run tries again`,
      )
    }
  }
  return dropped
}
