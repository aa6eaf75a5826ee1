/**
 * One backup run: every configured source (or the ones named), every database of each, under the
 * volume lock. A failing database never stops the others; the run is recorded in the journal.
 */
import { randomUUID } from 'node:crypto'
import { rm } from 'node:fs/promises'
import { hostname } from 'node:os'
import { dirname, join } from 'node:path'
import { cleanDebris } from '../catalog/debris.js'
import { appendRun, type DatabaseResult, type RunRecord, type RunTrigger } from '../catalog/journal.js'
import { STATE_DIR } from '../catalog/naming.js'
import type { Config, SourceConfig } from '../config/types.js'
import type { Engine, ProbeResult } from '../engines/engine.js'
import { createEngine } from '../engines/index.js'
import { DbkeeperError, toDbkeeperError } from '../runtime/errors.js'
import { failpoint } from '../runtime/failpoint.js'
import type { Logger } from '../runtime/logger.js'
import { DIR_MODE, ensureDir } from '../runtime/durable.js'
import { backupDatabase, type CommittedBackup } from './backup.js'
import { createCompression, type Compression } from './compression.js'
import { createEncryption, type Encryption } from './encryption.js'
import { openOffsite, recordOffsite, type Offsite } from './offsite.js'
import { applyRetentionAfterBackup, type RetentionOutcome } from './retention-step.js'

export interface RunOptions {
  config: Config
  logger: Logger
  trigger: RunTrigger
  /** Source labels to back up; all when empty. */
  only?: string[]
  signal: AbortSignal
  progress?: boolean
}

export interface DatabaseOutcome extends DatabaseResult {
  committed?: CommittedBackup
  retention?: RetentionOutcome
}

export interface RunReport {
  record: RunRecord
  outcomes: DatabaseOutcome[]
}

export function selectSources(config: Config, only: string[] = []): SourceConfig[] {
  if (only.length === 0) return [...config.sources]
  const unknown = only.filter((o) => !config.sources.some((s) => s.label === o || s.id === o))
  if (unknown.length > 0) {
    const known = config.sources.map((s) => `${s.label} (${s.id})`).join(', ')
    throw new DbkeeperError('USAGE', `unknown source ${unknown.join(', ')}`, { hint: `configured sources: ${known}` })
  }
  return config.sources.filter((s) => only.includes(s.label) || only.includes(s.id))
}

/** Runs the backups. The caller holds the lock. Never throws for one database's failure. */
export async function runBackups(opts: RunOptions): Promise<RunReport> {
  const { config, logger } = opts
  const startedAt = new Date()
  const runId = `${startedAt.toISOString().replace(/[-:.]/g, '')}-${randomUUID().slice(0, 8)}`
  const sources = selectSources(config, opts.only)
  const outcomes: DatabaseOutcome[] = []

  await cleanDebris(config.backupDir, logger)
  const workDir = join(config.backupDir, STATE_DIR, 'tmp', runId)
  await ensureDir(workDir, DIR_MODE, dirname(config.backupDir))
  const compression = createCompression(config.compression.kind, config.compression.level)
  const encryption = config.encryption ? createEncryption(config.encryption) : undefined
  const offsite = openOffsite(config, logger, opts.signal)
  try {
    for (const source of sources) {
      if (opts.signal.aborted) break
      outcomes.push(
        ...(await backupSource(opts, source, join(workDir, source.id), { compression, encryption }, offsite)),
      )
    }
  } finally {
    await rm(workDir, { recursive: true, force: true })
  }

  const record: RunRecord = {
    runId,
    trigger: opts.trigger,
    host: hostname(),
    pid: process.pid,
    startedAt: startedAt.toISOString(),
    finishedAt: new Date().toISOString(),
    ok: outcomes.length > 0 && outcomes.every((o) => o.ok && (o.retention?.ok ?? true)),
    results: outcomes.map(({ committed: _c, retention: _r, ...r }) => r),
  }
  failpoint('run.before-journal')
  await appendRun(config.backupDir, record).catch((error: unknown) =>
    logger.error({ err: error }, 'could not append to the run journal'),
  )
  failpoint('run.journal-written')
  return { record, outcomes }
}

async function backupSource(
  opts: RunOptions,
  source: SourceConfig,
  workDir: string,
  codecs: { compression: Compression; encryption: Encryption | undefined },
  offsite: Offsite | undefined,
): Promise<DatabaseOutcome[]> {
  const { config, logger } = opts
  await ensureDir(workDir, DIR_MODE, dirname(config.backupDir))
  const engine = await createEngine(source, workDir)
  const log = logger.child({ source: source.label })
  let probe
  const probeStart = Date.now()
  try {
    probe = await engine.probe(opts.signal)
    log.info(
      {
        server: probe.serverVersion,
        tool: `${probe.tool.name} ${probe.tool.version}`,
        databases: probe.databases.map((d) => d.name),
      },
      'source reachable',
    )
  } catch (error) {
    const e = toDbkeeperError(error, `source ${source.label}`)
    log.error({ code: e.code, hint: e.hint }, e.message)
    const names = source.databases === 'ALL' ? ['*'] : source.databases
    await engine.close?.()
    return names.map((database) => failed(source, database, e, Date.now() - probeStart))
  }
  if (probe.databases.length === 0) log.warn('no databases to back up on this source')

  try {
    return await backupJobs(opts, source, engine, probe, codecs, offsite, log)
  } finally {
    await engine.close?.()
  }
}

async function backupJobs(
  opts: RunOptions,
  source: SourceConfig,
  engine: Engine,
  probe: ProbeResult,
  codecs: { compression: Compression; encryption: Encryption | undefined },
  offsite: Offsite | undefined,
  log: Logger,
): Promise<DatabaseOutcome[]> {
  const { config } = opts
  const out: DatabaseOutcome[] = []
  const jobs = [...probe.databases.map((d) => ({ database: d.name, engine })), ...(engine.companions?.() ?? [])]
  for (const job of jobs) {
    const db = { name: job.database }
    if (opts.signal.aborted) break
    const started = Date.now()
    const remote = offsite?.begin(source, db.name)
    try {
      const committed = await backupDatabase({
        backupDir: config.backupDir,
        source,
        engine: job.engine,
        probe,
        database: db.name,
        ...codecs,
        signal: opts.signal,
        progress: opts.progress,
        tee: remote?.copy?.tee,
      })
      const m = committed.manifest
      log.info(
        {
          database: db.name,
          file: committed.dataPath,
          rawSize: m.raw.size,
          size: m.compressed.size,
          durationMs: m.durationMs,
          tables: m.tables.length,
        },
        'backup committed',
      )
      // Proven, but the source server as configured now could not take it back: say how to fix it.
      for (const warning of m.restoreNeeds?.warnings ?? [])
        log.warn({ database: db.name, id: m.id }, `backup ${m.id} restores only after a change: ${warning}`)
      const outcome: DatabaseOutcome = {
        source: source.label,
        database: db.name,
        ok: true,
        id: m.id,
        path: committed.dataPath,
        finishedAt: m.finishedAt,
        size: m.compressed.size,
        rawSize: m.raw.size,
        durationMs: Date.now() - started,
        committed,
      }
      // Off-site before the local retention: catch-up must see local backups the local policy is about to drop.
      if (offsite && remote) recordOffsite(outcome, await offsite.afterCommit(remote, committed, source))
      // Retention runs only for a database whose backup this run committed.
      outcome.retention = await applyRetentionAfterBackup({ config, source, database: db.name, logger: log })
      out.push(outcome)
    } catch (error) {
      await remote?.copy?.cancel()
      const e = toDbkeeperError(error, `backup of ${source.label}/${db.name}`)
      log.error({ database: db.name, code: e.code, hint: e.hint }, e.message)
      out.push(failed(source, db.name, e, Date.now() - started))
    }
  }
  return out
}

function failed(source: SourceConfig, database: string, e: DbkeeperError, durationMs: number): DatabaseOutcome {
  return {
    source: source.label,
    database,
    ok: false,
    durationMs,
    error: {
      code: e.code,
      message: e.message,
      ...(e.hint ? { hint: e.hint } : {}),
      ...(e.output ? { output: e.output } : {}),
    },
  }
}
