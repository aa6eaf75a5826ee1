/**
 * The daemon's archivers, from the daemon's start to its stop, beside the scheduled dumps (a
 * manual `dbkeeper backup` runs beside them too):
 * - an SQLite source: one Litestream per database, into `<BACKUP_DIR>/<source>/.pitr/<database>/`;
 * - a MySQL/MariaDB source: one binlog archiver for the whole source (the server writes one binlog
 *   for all its databases), into `<BACKUP_DIR>/<source>/.pitr/.binlog/`. A server that cannot be
 *   reached at start is tried again every `retryMs` until it can, or the daemon stops.
 */
import { relative, sep } from 'node:path'
import { archiveDir, binlogArchiveDir } from '../catalog/naming.js'
import type { Config, S3Config, SourceConfig } from '../config/types.js'
import { startArchiver, type ArchiveOffsite, type Archiver } from '../engines/index.js'
import { describeError } from '../runtime/errors.js'
import { openS3Target } from '../storage/s3/index.js'
import { binlogOffsiteTarget, startBinlogOffsite, type BinlogOffsite } from './binlog-offsite.js'
import { pitrDatabases } from './pitr-status.js'
import type { Logger } from '../runtime/logger.js'

export interface RunningArchivers {
  /** `database` is undefined for a MySQL source's binlog archiver, which archives all its databases. */
  readonly archivers: readonly { source: string; database: string | undefined; archiver: Archiver }[]
  stop(): Promise<void>
}

/**
 * The bucket an archive is copied to as well: the first off-site target that may delete, since
 * Litestream removes what falls out of PITR_WINDOW (a target with Object Lock or S3_NO_DELETE
 * would refuse it). Keyed as on the volume: `<S3_PREFIX><source>/.pitr/<database>`.
 */
export function archiveOffsite(
  targets: readonly S3Config[],
  backupDir: string,
  dir: string,
): ArchiveOffsite | undefined {
  const cfg = targets.find((t) => t.objectLock === undefined && !t.noDelete)
  if (!cfg) return undefined
  const path = `${cfg.prefix}${relative(backupDir, dir).split(sep).join('/')}`
  return {
    name: `${cfg.id} (s3://${cfg.bucket}/${path}/)`,
    replica: {
      bucket: cfg.bucket,
      path,
      region: cfg.region,
      endpoint: cfg.endpoint,
      forcePathStyle: cfg.forcePathStyle,
    },
    credentials:
      cfg.accessKeyId && cfg.secretAccessKey
        ? { accessKeyId: cfg.accessKeyId, secretAccessKey: cfg.secretAccessKey, sessionToken: cfg.sessionToken }
        : undefined,
  }
}

export async function startArchivers(
  config: Pick<Config, 'backupDir' | 'sources' | 'pitr' | 's3Targets' | 'encryption'>,
  logger: Logger,
  opts: { backoff?: { initialMs?: number; maxMs?: number; resetAfterMs?: number }; retryMs?: number } = {},
): Promise<RunningArchivers> {
  const archivers: { source: string; database: string | undefined; archiver: Archiver }[] = []
  const binlogs = startBinlogArchivers(config, logger, opts.retryMs ?? BINLOG_RETRY_MS, opts.backoff, (a) =>
    archivers.push(a),
  )
  for (const { source, database } of pitrDatabases(config.sources).filter((d) => d.source.engine === 'sqlite')) {
    const dir = archiveDir(config.backupDir, source.label, database)
    const offsite = archiveOffsite(config.s3Targets, config.backupDir, dir)
    if (!offsite && config.s3Targets.length > 0)
      logger.warn(
        { source: source.label, database },
        `point-in-time archive of ${source.label}/${database} stays on the volume: every off-site target has Object Lock or S3_NO_DELETE, and Litestream must delete what falls out of PITR_WINDOW`,
      )
    try {
      const archiver = await startArchiver({
        source,
        database,
        dir,
        windowMs: config.pitr.windowMs,
        logger,
        ...(offsite ? { offsite } : {}),
        ...(config.encryption ? { recipients: config.encryption.recipients } : {}),
        ...(opts.backoff ? { backoff: opts.backoff } : {}),
      })
      archivers.push({ source: source.label, database, archiver })
    } catch (error) {
      // The scheduled dumps go on; status shows the archive's lag growing, /healthz fails on it.
      logger.error(
        { source: source.label, database },
        `point-in-time archiving of ${source.label}/${database} could not start: ${describeError(error)}`,
      )
    }
  }
  const shippers = startBinlogShipping(config, logger)
  await binlogs.first
  return {
    archivers,
    stop: async () => {
      await binlogs.stop()
      await Promise.all(archivers.map((a) => a.archiver.stop()))
      await Promise.all(shippers.map((s) => s.stop()))
    },
  }
}

/** Off-site copies of each DBnn_PITR MySQL source's binlog archive (binlog-offsite.ts), when a target may take them. */
function startBinlogShipping(
  config: Pick<Config, 'backupDir' | 'sources' | 's3Targets' | 'encryption'>,
  logger: Logger,
): BinlogOffsite[] {
  const mysql = config.sources.filter((s) => s.pitr && s.engine === 'mysql')
  const cfg = binlogOffsiteTarget(config.s3Targets)
  if (mysql.length === 0 || config.s3Targets.length === 0) return []
  const labels = mysql.map((s) => s.label).join(', ')
  if (config.encryption) {
    logger.warn(
      { sources: mysql.map((s) => s.label) },
      `the binlog archive of ${labels} stays on the volume: binlogs are not encrypted yet, and ENCRYPTION is on (only the scheduled dumps go off-site)`,
    )
    return []
  }
  if (!cfg) {
    logger.warn(
      { sources: mysql.map((s) => s.label) },
      `the binlog archive of ${labels} stays on the volume: every off-site target has Object Lock or S3_NO_DELETE, and what falls out of PITR_WINDOW must be deleted`,
    )
    return []
  }
  const target = openS3Target(cfg)
  return mysql.map((source) =>
    startBinlogOffsite({
      source,
      dir: binlogArchiveDir(config.backupDir, source.label),
      target,
      targetId: cfg.id,
      logger,
    }),
  )
}

/** How long a binlog archiver that could not start waits before trying again. */
const BINLOG_RETRY_MS = 30_000

/**
 * One binlog archiver per DBnn_PITR MySQL source, each started now; one that fails (the server is
 * down, refuses) is logged and tried again every `retryMs` until it starts or `stop()` is called.
 * `first` settles when every first attempt has.
 */
function startBinlogArchivers(
  config: Pick<Config, 'backupDir' | 'sources' | 'pitr'>,
  logger: Logger,
  retryMs: number,
  backoff: { initialMs?: number; maxMs?: number; resetAfterMs?: number } | undefined,
  started: (a: { source: string; database: undefined; archiver: Archiver }) => void,
): { first: Promise<void>; stop(): Promise<void> } {
  const stopping = new AbortController()
  const attempts = new Set<Promise<void>>()
  const attempt = async (source: SourceConfig, tries: number): Promise<void> => {
    if (stopping.signal.aborted) return
    const dir = binlogArchiveDir(config.backupDir, source.label)
    try {
      const archiver = await startArchiver({
        source,
        database: '',
        dir,
        windowMs: config.pitr.windowMs,
        logger,
        ...(backoff ? { backoff } : {}),
      })
      // Stopped while starting: the new archiver must not outlive the daemon.
      if (stopping.signal.aborted) return void (await archiver.stop())
      started({ source: source.label, database: undefined, archiver })
      if (tries > 0) logger.info({ source: source.label }, `binlog archiving of ${source.label} started after all`)
    } catch (error) {
      logger.error(
        { source: source.label, retryInMs: retryMs },
        `point-in-time archiving of ${source.label} (its binlog) could not start: ${describeError(error)}; trying again in ${Math.round(retryMs / 1000)} s`,
      )
      // One abort listener per waiting retry, removed when it fires: a server down for hours
      // would otherwise pile one up every retryMs.
      const cancel = () => clearTimeout(timer)
      const timer = setTimeout(() => {
        stopping.signal.removeEventListener('abort', cancel)
        void track(attempt(source, tries + 1))
      }, retryMs)
      stopping.signal.addEventListener('abort', cancel, { once: true })
    }
  }
  const track = (p: Promise<void>) => {
    attempts.add(p)
    void p.finally(() => attempts.delete(p))
    return p
  }
  const mysql = config.sources.filter((s) => s.pitr && s.engine === 'mysql')
  const first = Promise.all(mysql.map((s) => track(attempt(s, 0)))).then(() => undefined)
  return {
    first,
    stop: async () => {
      stopping.abort()
      await Promise.all([...attempts])
    },
  }
}
