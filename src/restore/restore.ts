/**
 * One restore, step by step, each step printed: look at the target → take the volume lock → ask →
 * fetch it from S3 when it is off-site only → prove the backup (nothing has been touched yet) →
 * safety backup of the current content → load → check tables and row counts against the manifest.
 * A failure at any step names what state the target is in and the way back (the safety backup's id).
 * A driver that loads aside (MySQL: a new database beside the target) takes the backup's proof as
 * it loads — one read instead of two — and the safety backup after the load and the check, right
 * before the swap: a backup refused at the end of its load has changed nothing and saved nothing.
 */
import { randomUUID } from 'node:crypto'
import { rm } from 'node:fs/promises'
import { join } from 'node:path'
import type { Manifest } from '../catalog/manifest.js'
import { STATE_DIR } from '../catalog/naming.js'
import type { Config, EngineKind, SourceConfig } from '../config/types.js'
import {
  createRestoreDriver,
  restoreKind,
  type BackupContent,
  type BackupFacts,
  type RollForward,
  type TableInfo,
} from '../engines/index.js'
import { formatBytes, formatDuration } from '../pipeline/progress.js'
import { DbkeeperError, toDbkeeperError } from '../runtime/errors.js'
import type { Logger } from '../runtime/logger.js'
import { ensureDir } from '../runtime/durable.js'
import { compareTables, describeCheck, type CheckResult } from './check.js'
import { confirm, type ConfirmOptions } from './confirm.js'
import {
  assertKeysOpen,
  backupFacts,
  checkBeforeLoad,
  openContent,
  openProvingContent,
  verifyBackup,
} from './content.js'
import { scratchLedger } from './scratch.js'
import type { Located } from './locate.js'
import { takeSafetyBackup } from './safety-backup.js'
import { pruneSafetyBackups } from './safety-prune.js'

export interface RestoreRequest {
  config: Config
  source: SourceConfig
  /**
   * The backup (locate.ts findBackup): on the volume, or off-site — then it is fetched onto the
   * volume under this restore's lock, after the confirmation (the lock is not taken twice).
   */
  backup: Located
  /** A database name other than the backup's (MySQL, PostgreSQL): must be absent or empty. */
  into?: string | undefined
  safetyBackup: boolean
  /** Restore only when the target does not exist (an SQLite file, a database). */
  ifMissing: boolean
  /** SQLite: restore onto DBnn_PATH even when the backup was taken from another file (engines/sqlite/path.ts). */
  forcePath?: boolean
  confirm: ConfirmOptions
  /** Takes the volume lock (LOCKED when held); called after the --if-missing check. */
  lock: () => Promise<{ release(): Promise<void> }>
  print: (line: string) => void
  logger: Logger
  signal: AbortSignal
  progress?: boolean
}

/**
 * What a restore puts back, however it was found: a proven backup (located by id or `latest`), or
 * the state an archive held at a time (at-time.ts). The steps after it are the same for both.
 */
export interface RestoreItem {
  /** For messages: a backup id, or `<database>@<time>`. */
  id: string
  engine: EngineKind
  /** The database it holds. */
  database: string
  facts: BackupFacts
  /** What the confirmation says it is. */
  describe: string[]
  /**
   * Under the lock, after the confirmation: everything that makes its content trustworthy (fetch
   * and verify a backup; roll an archive forward and check it). Returns the content and the
   * tables and exact row counts the restored target must show.
   */
  prove(
    workDir: string,
    print: (line: string) => void,
    signal: AbortSignal,
    /** The driver loads aside and awaits the content's verdict: the proof may be taken as it loads. */
    asItLoads?: boolean,
  ): Promise<ProvenContent>
  /** Checked before the confirmation; a refusal here changes nothing. */
  beforeConfirm?(): Promise<void>
  /** A restore to a time of a server database: rolls the loaded base forward before the check (DriverTarget.rollForward). */
  rollForward?: RollForward
}

export interface ProvenContent {
  open(): BackupContent
  tables: readonly TableInfo[]
  /** Proven as it loads (the content's verdict, awaited by the driver), not before. */
  asItLoads?: boolean
}

export interface RestoreOutcome {
  status: 'restored' | 'skipped'
  /** What was restored into: "database `shop` on db:3306". */
  target: string
  safety?: Manifest
  check?: CheckResult
  durationMs: number
}

export async function restoreBackup(req: RestoreRequest): Promise<RestoreOutcome> {
  return restoreItem({ ...req, item: backupItem(req.config, req.source, req.backup) })
}

/** A proven backup as a RestoreItem: fetched from S3 when off-site only, then verified in full. */
function backupItem(config: Config, source: SourceConfig, backup: Located): RestoreItem {
  const m = backup.manifest
  const taken = new Date(m.startedAt)
  const local = config.tz === 'UTC' ? '' : ` (${taken.toLocaleString('sv-SE', { timeZone: config.tz })} ${config.tz})`
  return {
    id: m.id,
    engine: m.engine,
    database: m.database,
    facts: backupFacts(m),
    describe: [
      `  backup  ${m.source}/${m.database} ${m.id}, taken ${m.startedAt.slice(0, 19).replace('T', ' ')} UTC${local}, ${formatBytes(m.raw.size)}, ${m.tables.length} tables`,
      ...(backup.remote ? [`  from    ${backup.remote.url} (not on the volume: fetched and checked first)`] : []),
    ],
    async prove(workDir, print, signal, asItLoads) {
      let entry = backup.entry
      if (!entry) {
        print(`fetching ${m.id} from ${backup.remote!.url}: ${formatBytes(m.compressed.size)} …`)
        entry = await backup.remote!.fetch()
        print(`fetched ${m.id} onto the volume (${entry.dataPath}), sha256 and content checked`)
      }
      const proven = entry
      const reader = asItLoads ? await checkBeforeLoad(source, proven, workDir, config.decryption) : undefined
      if (reader) {
        print(
          `proving ${m.id} as it loads: ${formatBytes(m.compressed.size)} read once, its sha256 and content checked before anything is put in place`,
        )
        return {
          open: () => openProvingContent(reader, proven, config.decryption),
          tables: m.tables,
          asItLoads: true,
        }
      }
      print(
        `verifying ${m.id}: reading ${formatBytes(m.compressed.size)} and decompressing ${formatBytes(m.raw.size)} …`,
      )
      await verifyBackup(source, entry, workDir, signal, config.decryption)
      print('verified: sha256 of the file and of its content match the manifest, the dump is complete')
      return { open: () => openContent(proven, config.decryption), tables: m.tables }
    },
    // An encrypted backup on the volume: the key is checked before the question (off-site: after the fetch).
    async beforeConfirm() {
      if (backup.entry) await assertKeysOpen(backup.entry, config.decryption)
    },
  }
}

/** One restore of an item (a backup, or an archive's state at a time), step by step. */
export async function restoreItem(
  req: Omit<RestoreRequest, 'backup'> & { item: RestoreItem },
): Promise<RestoreOutcome> {
  const started = Date.now()
  const { config, source, item, signal, print } = req
  const m = item
  const workDir = join(config.backupDir, STATE_DIR, 'tmp', `restore-${randomUUID().slice(0, 8)}`)
  const target = req.into ?? restoreKind(m.engine).inPlaceTarget(source, m.database)
  const replace = req.into === undefined || req.into === m.database
  const driver = await createRestoreDriver(m.engine, {
    source,
    backup: item.facts,
    target,
    replace,
    forcePath: req.forcePath,
    workDir,
    scratch: scratchLedger(config.backupDir, source),
    rollForward: item.rollForward,
    warn: (line) => req.logger.warn(line),
  })

  if (req.ifMissing && (await driver.inspect(signal)).exists) {
    print(`${driver.label} exists: nothing restored (--if-missing)`)
    return { status: 'skipped', target: driver.label, durationMs: Date.now() - started }
  }
  const lock = await req.lock()
  try {
    await ensureDir(workDir)
    const state = await driver.inspect(signal)
    if (!replace && state.exists && !state.empty) {
      throw new DbkeeperError(
        'USAGE',
        `--into ${target}: ${driver.label} exists and is not empty; nothing was changed`,
        {
          hint: `--into only fills a new or empty database: choose a new name, drop ${target} first, or restore without --into to replace ${m.database}`,
        },
      )
    }
    // What the backup needs of the target (and, SQLite, that it is the file the backup was taken from), before the question: a refusal here changes nothing.
    for (const line of (await driver.prepare?.(signal)) ?? []) print(line)
    const saving = req.safetyBackup && state.exists && !state.empty
    // Before the question: what must hold for the item to be restorable (an encrypted backup's key).
    await item.beforeConfirm?.()
    await confirm(plan(item, driver.label, state.exists && !state.empty, saving), req.confirm)

    const content = await item.prove(workDir, print, signal, driver.loadsAside === true)

    let safety: Manifest | undefined
    const saveCurrent = async (): Promise<void> => {
      if (saving) {
        print(`safety backup of the current ${driver.label} …`)
        safety = (
          await takeSafetyBackup({
            config,
            source,
            database: replace ? m.database : target,
            workDir,
            signal,
            progress: req.progress,
          })
        ).manifest
        print(
          `safety backup ${safety.id} committed (kept ${config.restore.safetyKeepDays} days; restore it by id to undo this restore)`,
        )
      } else {
        print(
          state.exists && !state.empty
            ? 'no safety backup (--no-safety-backup): the current content will be lost'
            : `no safety backup: ${driver.label} ${state.exists ? 'is empty' : 'does not exist yet'}`,
        )
      }
      // Every restore (under the lock) expires the safety backups of earlier ones, volume-wide.
      await pruneSafetyBackups(config.backupDir, config.restore.safetyKeepDays, new Date(), req.logger)
    }
    // Loaded aside, the target is untouched until the commit: its safety backup waits for a proven, checked load.
    if (!driver.loadsAside) await saveCurrent()

    print(`restoring into ${driver.label} …`)
    try {
      await driver.load(content.open(), state, signal)
    } catch (error) {
      throw withWayBack(error, safety, source)
    }
    if (content.asItLoads)
      print('verified as it loaded: sha256 of the file and of its content match the manifest, the dump is complete')
    let check: CheckResult
    try {
      const counted = await driver.count(signal)
      check = compareTables(content.tables, counted.tables, driver.exactCounts, counted.problems)
      print(describeCheck(check))
      if (!check.ok) {
        // A driver with `commit` has not touched the target yet: the loaded copy is removed, the target is as it was.
        const where = driver.commit
          ? `the restored copy of ${m.id} does not match the backup, so ${driver.label} was not changed`
          : `${driver.label} was restored from ${m.id}, but does not match the backup`
        throw new DbkeeperError('RESTORE_FAILED', `${where}: ${check.problems.join('; ')}`, {
          hint: `look at the tables named; \`dbkeeper verify ${m.id} --source ${source.label} --drill\` compares the backup with a fresh restore line by line`,
        })
      }
      if (driver.loadsAside) await saveCurrent()
      for (const line of (await driver.commit?.(signal)) ?? []) print(line)
    } catch (error) {
      await driver.abandon?.(signal)
      throw withWayBack(error, safety, source)
    }
    print(`restored ${m.id} into ${driver.label} in ${formatDuration(Date.now() - started)}`)
    return {
      status: 'restored',
      target: driver.label,
      ...(safety ? { safety } : {}),
      check,
      durationMs: Date.now() - started,
    }
  } finally {
    await rm(workDir, { recursive: true, force: true })
    await lock.release()
  }
}

/** The confirmation text: server, database, backup time, what happens to the current content. */
function plan(item: RestoreItem, target: string, hasContent: boolean, saving: boolean): string {
  return [
    'About to restore:',
    ...item.describe,
    `  into    ${target}${hasContent ? ' — its current content will be REPLACED' : ''}`,
    ...(hasContent
      ? [
          saving
            ? '  first   a safety backup of the current content (restore it by id to undo)'
            : '  first   NO safety backup (--no-safety-backup): the current content is lost',
        ]
      : []),
  ].join('\n')
}

/** Adds the way back (the safety backup) to a failure's hint. */
function withWayBack(error: unknown, safety: Manifest | undefined, source: SourceConfig): DbkeeperError {
  const e = toDbkeeperError(error)
  if (!safety) return e
  const back = `the content from before the restore is in safety backup ${safety.id}: dbkeeper restore ${safety.id} --source ${source.label} --database ${safety.database} --yes`
  return new DbkeeperError(e.code, e.message, { hint: e.hint ? `${e.hint}; ${back}` : back, cause: e })
}
