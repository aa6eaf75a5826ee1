/**
 * A restore drill: proof that a backup restores to what it holds. The backup is verified, restored
 * into a scratch target (MySQL/PostgreSQL: a database `dbkeeper_drill_<random>` on the source's
 * server, or on the DRILL_HOST server for sources of its kind; SQLite: a file in the work directory), checked against the manifest's tables, dumped
 * again with the same engine, and the two dumps compared line by line: identical, or the drill
 * fails naming the first line that differs. The scratch target is removed afterwards, always.
 */
import { randomUUID } from 'node:crypto'
import { rm } from 'node:fs/promises'
import { join } from 'node:path'
import type { CatalogEntry } from '../catalog/catalog.js'
import { STATE_DIR } from '../catalog/naming.js'
import type { Config } from '../config/types.js'
import { createRestoreDriver, restoreKind, type Redumped } from '../engines/index.js'
import { DbkeeperError } from '../runtime/errors.js'
import { failpoint } from '../runtime/failpoint.js'
import type { Logger } from '../runtime/logger.js'
import { ensureDir } from '../runtime/durable.js'
import { compareTables } from './check.js'
import { compareDumps, type Comparison } from './compare.js'
import { backupFacts, openContent, verifyBackup } from './content.js'
import { DRILL_TARGET, drillTarget, forgetScratch, recordScratch, scratchName } from './scratch.js'
import type { SourceConfig } from '../config/types.js'

export { drillTarget } from './scratch.js'

export interface DrillResult {
  /** The scratch database (or file) the backup was restored into; removed again. */
  scratch: string
  /** `host:port` of the DRILL_HOST server when the scratch database was there (not on the source's server). */
  server?: string
  tables: number
  /** Lines compared (MySQL/PostgreSQL) or tables compared by content digest (SQLite): `unit` says which. */
  compared: number
  unit: 'lines' | 'tables'
  durationMs: number
}

export async function drillBackup(args: {
  config: Config
  source: SourceConfig
  entry: CatalogEntry
  signal: AbortSignal
  logger: Logger
}): Promise<DrillResult> {
  const { config, entry, signal } = args
  const source = drillTarget(config, args.source)
  const m = entry.manifest
  const started = Date.now()
  const workDir = join(config.backupDir, STATE_DIR, 'tmp', `drill-${randomUUID().slice(0, 8)}`)
  await ensureDir(workDir)
  const name = scratchName(DRILL_TARGET, 'drill')
  const kind = restoreKind(m.engine)
  const scratch = kind.scratchTarget(name, workDir)
  const onServer = kind.onServer
  const backup = backupFacts(m)
  const driver = await createRestoreDriver(m.engine, { source, backup, target: scratch, replace: false, workDir })
  // Recorded before it exists: a drill killed from here on leaves a name the next run can drop (scratch.ts).
  if (onServer)
    await recordScratch(config.backupDir, source, { name, target: DRILL_TARGET, drillServer: source !== args.source })
  try {
    await verifyBackup(source, entry, workDir, signal, config.decryption)
    for (const line of (await driver.prepare?.(signal)) ?? [])
      args.logger.info({ backup: m.id, scratch }, `drill: ${line}`)
    await driver.load(openContent(entry, config.decryption), { exists: false, empty: true }, signal)
    failpoint('drill.loaded')
    const counted = await driver.count(signal)
    const check = compareTables(m.tables, counted.tables, driver.exactCounts, counted.problems)
    if (!check.ok) throw failed(entry, `restored into ${scratch}, but ${check.problems.join('; ')}`)
    await driver.commit?.(signal)
    const { compared, unit } = await compareRedump(
      entry,
      (stop) =>
        kind.redump({
          source,
          backup,
          openBackup: () => openContent(entry, config.decryption),
          scratch,
          workDir,
          signal: stop,
        }),
      signal,
    )
    return {
      scratch,
      ...(source === args.source ? {} : { server: `${source.host ?? ''}:${source.port ?? ''}` }),
      tables: counted.tables.length,
      compared,
      unit,
      durationMs: Date.now() - started,
    }
  } catch (error) {
    if (error instanceof DbkeeperError && error.code !== 'INTERNAL') {
      throw error.message.startsWith('drill')
        ? error
        : new DbkeeperError(error.code, `drill of ${m.id} failed: ${error.message}`, { hint: error.hint, cause: error })
    }
    throw error
  } finally {
    // Also after an abort: a fresh signal, so that the scratch database is dropped anyway.
    const dropped = await driver.discard(new AbortController().signal).then(
      () => true,
      (error: unknown) => {
        args.logger.error(
          { err: error, scratch },
          `could not remove the drill's scratch ${scratch}: the next backup run tries again`,
        )
        return false
      },
    )
    if (onServer && dropped) await forgetScratch(config.backupDir, source, name)
    await rm(workDir, { recursive: true, force: true })
  }
}

function failed(entry: CatalogEntry, why: string): DbkeeperError {
  return new DbkeeperError('RESTORE_FAILED', `drill of ${entry.manifest.id} failed: ${why}`, {
    hint: 'this backup does not restore to what it holds: take a new backup now (`dbkeeper backup`), and keep the older ones until a drill of a newer backup passes',
  })
}

/** Re-dumps the scratch target (engines/<kind>/redump.ts) and compares it with the backup: line by line, or as the engine compared it. */
async function compareRedump(
  entry: CatalogEntry,
  redump: (signal: AbortSignal) => Promise<Redumped>,
  signal: AbortSignal,
): Promise<{ compared: number; unit: 'lines' | 'tables' }> {
  const stop = new AbortController()
  const onAbort = () => stop.abort()
  signal.addEventListener('abort', onAbort, { once: true })
  let redumped: Redumped | undefined
  let result: Comparison
  try {
    redumped = await redump(stop.signal)
    if (redumped.kind === 'tables') {
      if (redumped.differences.length > 0)
        throw failed(entry, `the re-snapshot of the restored database differs: ${redumped.differences.join('; ')}`)
      return { compared: redumped.compared, unit: 'tables' }
    }
    const { backup, actual } = redumped
    result = await compareDumps(backup.stdout, actual.stdout)
    if (!result.difference) {
      await Promise.all([actual.done, backup.done])
      backup.assertComplete()
    }
  } finally {
    stop.abort()
    if (redumped?.kind === 'lines') redumped.backup.stdout.destroy()
    signal.removeEventListener('abort', onAbort)
  }
  const d = result.difference
  if (d)
    throw failed(
      entry,
      `the re-dump of the restored database differs from the backup at line ${d.line} of the backup:\n  backup:  ${d.expected}\n  re-dump: ${d.actual}`,
    )
  return { compared: result.lines, unit: 'lines' }
}
