import type { Secret } from '../runtime/secrets.js'
import type { DaemonConfig, NotifyConfig } from './daemon.js'
import type { RestoreConfig } from './restore.js'
import type { S3Config } from './s3.js'

export type EngineKind = 'mysql' | 'postgres' | 'sqlite'
export type CompressionKind = 'gzip' | 'zstd' | 'none'
export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'silent'
export type LogFormat = 'json' | 'pretty'

/**
 * A retention policy with restic's `forget` field names. Counts are n > 0 or -1 (unlimited);
 * an absent field is an unused rule. `keepWithin` is a duration such as `30d`, `1y2m` or `12h`.
 */
export interface RetentionPolicy {
  keepLast?: number
  keepHourly?: number
  keepDaily?: number
  keepWeekly?: number
  keepMonthly?: number
  keepYearly?: number
  keepWithin?: string
}

export interface SourceConfig {
  /** The variable prefix, e.g. `DB01`. */
  readonly id: string
  /** The `<source>` directory name on the volume. */
  readonly label: string
  readonly engine: EngineKind
  readonly host: string | undefined
  readonly port: number | undefined
  readonly user: string | undefined
  readonly password: Secret | undefined
  /** Database names, or 'ALL' for every non-system database. SQLite: one name, the file's. */
  readonly databases: readonly string[] | 'ALL'
  /** SQLite: the live database file. */
  readonly path: string | undefined
  readonly extraOpts: readonly string[]
  readonly pgFormat: 'plain' | 'custom'
  readonly pgGlobals: boolean
  readonly retention: Readonly<RetentionPolicy>
}

export interface Config {
  readonly backupDir: string
  readonly compression: { readonly kind: CompressionKind; readonly level: number }
  readonly log: { readonly level: LogLevel; readonly format: LogFormat | undefined }
  readonly tz: string
  readonly retention: Readonly<RetentionPolicy>
  readonly sources: readonly SourceConfig[]
  readonly daemon: DaemonConfig
  readonly notify: NotifyConfig
  readonly restore: RestoreConfig
  /** The off-site copy; absent when S3_BUCKET is not set. */
  readonly s3?: S3Config
}
