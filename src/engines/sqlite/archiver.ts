/**
 * The SQLite archiver: `litestream replicate` for one database file, supervised
 * (engines/supervisor.ts), its configuration written 0600 beside the replica, its log lines ours.
 * Litestream must run on the host that has the file (it reads the WAL and takes part in
 * checkpoints), and writes a `.<name>-litestream/` directory beside it.
 */
// node:fs's constants (the same object as fs/promises'): the status build, where this module is
// part of the engines chunk, would load fs/promises at start-up for a constant (scripts/build.mjs).
import { constants } from 'node:fs'
import { access, writeFile } from 'node:fs/promises'
import { basename, dirname } from 'node:path'
import type { SourceConfig } from '../../config/types.js'
import { ensureDir, FILE_MODE } from '../../runtime/durable.js'
import type { Logger } from '../../runtime/logger.js'
import type { Secret } from '../../runtime/secrets.js'
import type { Archiver } from '../archive.js'
import { childEnv, runToolForOutput } from '../subprocess.js'
import { supervise, type SuperviseOptions } from '../supervisor.js'
import { litestreamBinary, litestreamConfig, type LitestreamS3Replica } from './litestream.js'

export interface SqliteArchiverOptions {
  source: SourceConfig
  database: string
  /** The replica directory (catalog/naming.ts archiveDir). */
  dir: string
  windowMs: number
  logger: Logger
  /** Tests: a quicker backoff. */
  backoff?: SuperviseOptions['backoff']
  /** A second replica in a bucket; `name` (`S3_2 (s3://…)`) is for the log. */
  offsite?: ArchiveOffsite
  /** ENCRYPTION=age: the X25519 recipients every snapshot and segment is encrypted to. */
  recipients?: readonly string[]
}

export interface ArchiveOffsite {
  name: string
  replica: LitestreamS3Replica
  /** Undefined: the SDK's default chain (an instance or task role). */
  credentials?: { accessKeyId: Secret; secretAccessKey: Secret; sessionToken?: Secret | undefined } | undefined
}

/** The child's environment: the bucket's credentials, for the AWS SDK inside Litestream, never in argv or the file. */
function archiverEnv(offsite: ArchiveOffsite | undefined): Record<string, string> {
  const c = offsite?.credentials
  if (!c) return childEnv()
  return childEnv({
    AWS_ACCESS_KEY_ID: c.accessKeyId.reveal(),
    AWS_SECRET_ACCESS_KEY: c.secretAccessKey.reveal(),
    ...(c.sessionToken ? { AWS_SESSION_TOKEN: c.sessionToken.reveal() } : {}),
  })
}

/** `level=INFO msg="write wal segment" …`: Litestream's level picks ours. */
const LEVEL = /\blevel=(\w+)/

export async function startSqliteArchiver(opts: SqliteArchiverOptions): Promise<Archiver> {
  const { source, dir, logger } = opts
  await ensureDir(dir)
  const configPath = `${dir}.litestream.yml`
  await writeFile(
    configPath,
    litestreamConfig(source.path!, dir, opts.windowMs, opts.offsite?.replica, opts.recipients),
    {
      mode: FILE_MODE,
    },
  )
  const log = logger.child({ source: source.label, database: opts.database, archiver: 'litestream' })
  const binary = litestreamBinary()
  const to = opts.offsite ? `${dir} and ${opts.offsite.name}` : dir
  return supervise({
    command: binary,
    args: ['replicate', '-no-expand-env', '-config', configPath],
    env: archiverEnv(opts.offsite),
    ...(opts.backoff ? { backoff: opts.backoff } : {}),
    onStart: (pid) => log.info({ pid }, `litestream started for ${source.path}, replicating to ${to}`),
    onLine: (line) => {
      const level = LEVEL.exec(line)?.[1]?.toLowerCase()
      // Litestream logs each segment it writes at INFO (one a second): ours at debug.
      if (level === 'error') log.error(line)
      else if (level === 'warn') log.warn(line)
      else if (/wal segment (written|write)|write wal segment/.test(line)) log.debug(line)
      else log.info(line)
    },
    onExit: (exit, restartInMs) => {
      const how = exit.error
        ? `could not be started (${exit.error.code ?? exit.error.message}: ${binary}; reinstall dbkeeper's dependencies: npm ci)`
        : exit.signal
          ? `was killed by ${exit.signal}`
          : `exited ${exit.code}`
      log.error(
        { code: exit.code, signal: exit.signal, ranMs: exit.ranMs, restartInMs },
        `litestream ${how} after ${Math.round(exit.ranMs / 1000)} s: point-in-time archiving of ${source.label}/${opts.database} is stopped; restarting in ${Math.round(restartInMs / 1000)} s`,
      )
    },
  })
}

/**
 * `dbkeeper check` for a DBnn_PITR SQLite source: Litestream runs, and may write beside the file
 * (its `.<name>-litestream/` directory) — both would otherwise show only as a lag that grows.
 */
export async function checkSqliteArchiving(source: SourceConfig): Promise<string> {
  const binary = litestreamBinary()
  const version = await runToolForOutput(binary, ['version'], {
    env: childEnv(),
    installHint: `reinstall dbkeeper's dependencies (npm ci): ${binary} comes in the npm package @flydotio/litestream-linux-x64`,
  })
  if (version.exitCode !== 0) throw new Error(`${binary} version exited ${version.exitCode}: ${version.stderr}`)
  const dir = dirname(source.path!)
  await access(dir, constants.W_OK).catch(() => {
    throw new Error(
      `${dir} is not writable: Litestream keeps its .${basename(source.path!)}-litestream directory beside the file; mount it read-write`,
    )
  })
  return `litestream ${version.stdout.trim()}, ${dir} writable`
}
