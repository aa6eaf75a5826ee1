import type { LogFormat, LogLevel } from '../runtime/logger.js'
import type { Secret } from '../runtime/secrets.js'
import type { CompressionKind } from './codecs.js'
import type { DaemonConfig, NotifyConfig } from './daemon.js'
import type { DecryptionKeys, EncryptionConfig } from './encryption.js'

export type { DecryptionKeys, EncryptionConfig } from './encryption.js'

export type EngineKind = 'mysql' | 'postgres' | 'sqlite'
/** The compression kinds are the rows of the codec table (codecs.ts). */
export type { CompressionKind } from './codecs.js'

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
  /** DBnn_TYPE as the operator wrote it, lower-cased (`mariadb`, `postgresql`): what `config` shows. */
  readonly type: string
  /** The engine that type maps to (`mariadb` → `mysql`): what the code switches on. */
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
  /** DBnn_PITR: continuous archiving between the scheduled dumps (SQLite only, so far). */
  readonly pitr: boolean
}

/** Point-in-time recovery, for the sources with DBnn_PITR=true (pitr.ts). */
export interface PitrConfig {
  /** PITR_WINDOW: how far back a restore to a time must stay possible. */
  readonly windowMs: number
  /** PITR_MAX_LAG: an archive further behind than this is unhealthy. */
  readonly maxLagMs: number
}

export interface Config {
  readonly backupDir: string
  readonly compression: { readonly kind: CompressionKind; readonly level: number }
  /** ENCRYPTION=age: the stage after compression; absent when backups are not encrypted. */
  readonly encryption?: EncryptionConfig
  /** What reads encrypted backups (AGE_IDENTITY_FILE, the passphrase); empty when none is set. */
  readonly decryption: DecryptionKeys
  readonly log: { readonly level: LogLevel; readonly format: LogFormat | undefined }
  readonly tz: string
  readonly retention: Readonly<RetentionPolicy>
  readonly sources: readonly SourceConfig[]
  readonly daemon: DaemonConfig
  readonly notify: NotifyConfig
  readonly restore: RestoreConfig
  readonly pitr: PitrConfig
  /** The first off-site target (`S3_*`); absent when S3_BUCKET is not set. The same object as `s3Targets[0]`. */
  readonly s3?: S3Config
  /** Every off-site target in the order recovery looks in them: `S3_*`, then `S3_2_*`, `S3_3_*`, …; empty without S3_BUCKET. */
  readonly s3Targets: readonly S3Config[]
}

export type S3Sse = 'AES256' | 'aws:kms'

export type ObjectLockMode = 'GOVERNANCE' | 'COMPLIANCE'

export interface S3Config {
  /** The variable prefix without its `_`: `S3` for target 1, `S3_2` for target 2. Names the target in messages and metrics. */
  readonly id: string
  readonly bucket: string
  /** '' or `a/b/`: no leading slash, one trailing slash, no empty, `.` or `..` segment. */
  readonly prefix: string
  readonly region: string
  /** A custom endpoint (MinIO, R2, B2, Ceph); undefined for AWS itself. */
  readonly endpoint: string | undefined
  readonly forcePathStyle: boolean
  /** Both or neither; neither: the SDK's default chain (an IAM role of the instance or task). */
  readonly accessKeyId: Secret | undefined
  readonly secretAccessKey: Secret | undefined
  readonly sessionToken: Secret | undefined
  /** For data objects only; manifests and checksums stay STANDARD so that listing can read them. */
  readonly storageClass: string | undefined
  readonly sse: S3Sse | undefined
  readonly sseKmsKeyId: string | undefined
  /** `S3_KEEP_*` / `S3_RETENTION_DAYS` over the global policy; undefined: each source's own policy. */
  readonly retention: Readonly<RetentionPolicy> | undefined
  /** `S3_OBJECT_LOCK_MODE` + `S3_OBJECT_LOCK_DAYS`: every object uploaded with a retain-until date. */
  readonly objectLock: { readonly mode: ObjectLockMode; readonly days: number } | undefined
  /** `S3_NO_DELETE=true`: the credentials cannot delete; nothing is ever deleted on this target. */
  readonly noDelete: boolean
}

export interface RestoreConfig {
  /**
   * Days a `pre-restore` safety backup is kept. Normal retention never counts or removes them;
   * `dbkeeper restore` removes the expired ones (src/restore/safety-prune.ts).
   */
  readonly safetyKeepDays: number
  /** A cron pattern (in TZ) for the daemon's restore drills of each source's latest backup; undefined = no drills. */
  readonly drillSchedule: string | undefined
  /**
   * DRILL_HOST …: a scratch server for the drills of the sources of one kind (MySQL/MariaDB or
   * PostgreSQL), instead of each source's own server; undefined = drills run on the source's server.
   */
  readonly drillServer: DrillServer | undefined
}

export interface DrillServer {
  /** The sources it serves: those of this engine (DRILL_TYPE, or the one kind of server configured). */
  readonly engine: Exclude<EngineKind, 'sqlite'>
  readonly host: string
  readonly port: number
  /** undefined: each source's own DBnn_USER and DBnn_PASS. */
  readonly user: string | undefined
  readonly password: Secret | undefined
}
