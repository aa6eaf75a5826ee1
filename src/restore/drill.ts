/**
 * A restore drill: proof that a backup restores to what it holds. The backup is verified, restored
 * into a scratch target (MySQL/PostgreSQL: a database `dbkeeper_drill_<random>` on the source's
 * server, or on the DRILL_HOST server for sources of its kind; SQLite: a file in the work directory), checked against the manifest's tables, dumped
 * again with the same engine, and the two dumps compared line by line: identical, or the drill
 * fails naming the first line that differs. The scratch target is removed afterwards, always.
 */
import { randomUUID } from 'node:crypto'
import { createWriteStream } from 'node:fs'
import { rm } from 'node:fs/promises'
import { join } from 'node:path'
import { pipeline as pipe } from 'node:stream/promises'
import { pipeline } from 'node:stream'
import type { CatalogEntry } from '../catalog/catalog.js'
import { STATE_DIR } from '../catalog/naming.js'
import type { Config } from '../config/types.js'
import { SqliteEngine } from '../engines/sqlite/engine.js'
import { DbkeeperError } from '../runtime/errors.js'
import { failpoint } from '../runtime/failpoint.js'
import type { Logger } from '../runtime/logger.js'
import { ensureDir } from '../storage/local/files.js'
import { compareTables } from './check.js'
import { compareDumps, type Comparison } from './compare.js'
import { openContent, verifyBackup } from './content.js'
import { createDriver } from './drivers.js'
import { ViewQualifierRewrite } from './mysql-rewrite.js'
import { backupAsSql, redump } from './redump.js'
import { DRILL_TARGET, drillTarget, forgetScratch, recordScratch, scratchName } from './scratch.js'
import { inspectSqliteFile, type Inspection } from './sqlite.js'
import type { SourceConfig } from '../config/types.js'

export { drillTarget } from './scratch.js'

export interface DrillResult {
  /** The scratch database (or file) the backup was restored into; removed again. */
  scratch: string
  /** `host:port` of the DRILL_HOST server when the scratch database was there (not on the source's server). */
  server?: string
  tables: number
  /** Lines compared (MySQL/PostgreSQL) or tables compared by content digest (SQLite). */
  compared: number
  durationMs: number
}

export async function drillBackup(args: { config: Config; source: SourceConfig; entry: CatalogEntry; signal: AbortSignal; logger: Logger }): Promise<DrillResult> {
  const { config, entry, signal } = args
  const source = drillTarget(config, args.source)
  const m = entry.manifest
  const started = Date.now()
  const workDir = join(config.backupDir, STATE_DIR, 'tmp', `drill-${randomUUID().slice(0, 8)}`)
  await ensureDir(workDir)
  const name = scratchName(DRILL_TARGET, 'drill')
  const scratch = m.engine === 'sqlite' ? join(workDir, `${name}.db`) : name
  const onServer = m.engine !== 'sqlite'
  const driver = createDriver({ source, manifest: m, target: scratch, replace: false, workDir })
  // Recorded before it exists: a drill killed from here on leaves a name the next run can drop (scratch.ts).
  if (onServer) await recordScratch(config.backupDir, source, { name, target: DRILL_TARGET, drillServer: source !== args.source })
  try {
    await verifyBackup(source, entry, workDir, signal)
    for (const line of (await driver.prepare?.(signal)) ?? []) args.logger.info({ backup: m.id, scratch }, `drill: ${line}`)
    await driver.load(openContent(entry), { exists: false, empty: true }, signal)
    failpoint('drill.loaded')
    const counted = await driver.count(signal)
    const check = compareTables(m.tables, counted.tables, driver.exactCounts, counted.problems)
    if (!check.ok) throw failed(entry, `restored into ${scratch}, but ${check.problems.join('; ')}`)
    await driver.commit?.(signal)
    const compared = m.engine === 'sqlite'
      ? await compareSqlite(entry, source, scratch, workDir, signal)
      : await compareServer(entry, source, scratch, workDir, signal)
    return { scratch, ...(source === args.source ? {} : { server: `${source.host ?? ''}:${source.port ?? ''}` }), tables: counted.tables.length, compared, durationMs: Date.now() - started }
  } catch (error) {
    if (error instanceof DbkeeperError && error.code !== 'INTERNAL') {
      throw error.message.startsWith('drill') ? error : new DbkeeperError(error.code, `drill of ${m.id} failed: ${error.message}`, { hint: error.hint, cause: error })
    }
    throw error
  } finally {
    // Also after an abort: a fresh signal, so that the scratch database is dropped anyway.
    const dropped = await driver.discard(new AbortController().signal).then(() => true, (error: unknown) => {
      args.logger.error({ err: error, scratch }, `could not remove the drill's scratch ${scratch}: the next backup run tries again`)
      return false
    })
    if (onServer && dropped) await forgetScratch(config.backupDir, source, name)
    await rm(workDir, { recursive: true, force: true })
  }
}

function failed(entry: CatalogEntry, why: string): DbkeeperError {
  return new DbkeeperError('RESTORE_FAILED', `drill of ${entry.manifest.id} failed: ${why}`, {
    hint: 'this backup does not restore to what it holds: take a new backup now (`dbkeeper backup`), and keep the older ones until a drill of a newer backup passes',
  })
}

/** Re-dumps the scratch database and compares it with the backup, line by line. */
async function compareServer(entry: CatalogEntry, source: SourceConfig, scratch: string, workDir: string, signal: AbortSignal): Promise<number> {
  const stop = new AbortController()
  const onAbort = () => stop.abort()
  signal.addEventListener('abort', onAbort, { once: true })
  const backup = backupAsSql(entry, stop.signal)
  let result: Comparison
  try {
    const dump = await redump(source, entry.manifest, scratch, workDir, stop.signal)
    // A view the server prints with its database's name inside (mysql-rewrite.ts) names the scratch database in the re-dump.
    const actual = entry.manifest.engine === 'mysql' ? pipeline(dump.stdout, new ViewQualifierRewrite(scratch, entry.manifest.database), () => {}) : dump.stdout
    result = await compareDumps(backup.stdout, actual)
    if (!result.difference) {
      await Promise.all([dump.done, backup.done])
      backup.assertComplete()
    }
  } finally {
    stop.abort()
    backup.stdout.destroy()
    signal.removeEventListener('abort', onAbort)
  }
  const d = result.difference
  if (d) throw failed(entry, `the re-dump of the restored database differs from the backup at line ${d.line} of the backup:\n  backup:  ${d.expected}\n  re-dump: ${d.actual}`)
  return result.lines
}

/** Snapshots the restored file again with the SQLite engine and compares schema and every table's content. */
async function compareSqlite(entry: CatalogEntry, source: SourceConfig, scratch: string, workDir: string, signal: AbortSignal): Promise<number> {
  const database = entry.manifest.database
  const engine = new SqliteEngine({ ...source, path: scratch, databases: [database] }, workDir)
  const again = join(workDir, 'redump.db')
  const dump = engine.dump(database, signal)
  await Promise.all([pipe(dump.stdout, createWriteStream(again, { mode: 0o600 })), dump.done])
  const [restored, redumped] = await Promise.all([inspectSqliteFile(scratch, workDir, signal), inspectSqliteFile(again, workDir, signal)])
  const problems = sqliteDifferences(restored, redumped)
  if (problems.length > 0) throw failed(entry, `the re-snapshot of the restored database differs: ${problems.join('; ')}`)
  return restored.tables.length
}

export function sqliteDifferences(a: Inspection, b: Inspection): string[] {
  const out = [...a.integrity, ...b.integrity].map((p) => `integrity_check: ${p}`)
  if (a.schemaSha256 !== b.schemaSha256) out.push('the schema differs')
  const other = new Map(b.tables.map((t) => [t.name, t]))
  for (const t of a.tables) {
    const u = other.get(t.name)
    if (!u) out.push(`table ${t.name} is missing`)
    else if (u.rows !== t.rows) out.push(`table ${t.name}: ${t.rows} rows vs ${u.rows}`)
    else if (u.sha256 !== t.sha256) out.push(`table ${t.name}: content differs`)
  }
  return out
}
