/**
 * Litestream 0.3.13, the SQLite archiver: where its binary is, and its configuration for one
 * database, pure. The binary comes in the npm package @flydotio/litestream-linux-x64 (an
 * optional dependency, published for linux-x64 only: the image gets it through `npm ci`); a
 * `litestream` on PATH is the fallback elsewhere.
 */
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'

export const LITESTREAM_PACKAGE = '@flydotio/litestream-linux-x64'

export function litestreamBinary(): string {
  try {
    return join(dirname(createRequire(import.meta.url).resolve(`${LITESTREAM_PACKAGE}/package.json`)), 'litestream')
  } catch {
    return 'litestream'
  }
}

/** Ships the WAL about once a second: the measured p99 age of the newest archived change is 2.9 s. */
export const SYNC_INTERVAL_MS = 1000
const MINUTE_MS = 60_000
const DAY_MS = 86_400_000

export interface LitestreamSettings {
  snapshotIntervalMs: number
  retentionMs: number
  retentionCheckIntervalMs: number
}

/**
 * What PITR_WINDOW asks of Litestream. A restore to a time replays the WAL from the snapshot
 * before it: a snapshot every window/7 (at most daily, at least every minute) bounds that replay;
 * keeping window + one interval means the oldest time inside the window always has a snapshot
 * before it (Litestream removes WAL older than its oldest kept snapshot).
 */
export function litestreamSettings(windowMs: number): LitestreamSettings {
  const snapshotIntervalMs = Math.min(DAY_MS, Math.max(MINUTE_MS, Math.floor(windowMs / 7)))
  return {
    snapshotIntervalMs,
    retentionMs: windowMs + snapshotIntervalMs,
    retentionCheckIntervalMs: Math.min(3_600_000, snapshotIntervalMs),
  }
}

/** Go's time.ParseDuration reads `1500ms`. */
const goDuration = (ms: number) => `${Math.round(ms)}ms`

/**
 * A second replica in an S3 bucket (the first off-site target that may delete: Litestream removes
 * what falls out of its retention). Credentials never go into the file: the child gets them in its
 * environment (AWS_ACCESS_KEY_ID …), which the AWS SDK inside Litestream reads.
 */
export interface LitestreamS3Replica {
  bucket: string
  /** The key prefix: `<S3_PREFIX><source>/.pitr/<database>`, the volume's layout below BACKUP_DIR. */
  path: string
  region: string
  endpoint: string | undefined
  forcePathStyle: boolean
}

/**
 * The YAML for one database, its file replica and, with `s3`, its replica in a bucket. Strings are written as JSON (valid YAML, any
 * path quoted); litestream is started with -no-expand-env, so a `$` in a path stays a `$`.
 */
export function litestreamConfig(
  dbPath: string,
  replicaDir: string,
  windowMs: number,
  s3?: LitestreamS3Replica,
  recipients: readonly string[] = [],
): string {
  const s = litestreamSettings(windowMs)
  const timing = [
    ...ageLines({ recipients }),
    `        sync-interval: ${goDuration(SYNC_INTERVAL_MS)}`,
    `        snapshot-interval: ${goDuration(s.snapshotIntervalMs)}`,
    `        retention: ${goDuration(s.retentionMs)}`,
    `        retention-check-interval: ${goDuration(s.retentionCheckIntervalMs)}`,
  ]
  const bucket = s3
    ? [
        '      - type: s3',
        '        name: s3',
        `        bucket: ${JSON.stringify(s3.bucket)}`,
        `        path: ${JSON.stringify(s3.path)}`,
        `        region: ${JSON.stringify(s3.region)}`,
        ...(s3.endpoint ? [`        endpoint: ${JSON.stringify(s3.endpoint)}`] : []),
        ...(s3.forcePathStyle ? ['        force-path-style: true'] : []),
        ...timing,
      ]
    : []
  return [
    '# Written by dbkeeper for DBnn_PITR (rewritten at each daemon start: edits are lost).',
    'dbs:',
    `  - path: ${JSON.stringify(dbPath)}`,
    '    replicas:',
    '      - type: file',
    '        name: file',
    `        path: ${JSON.stringify(replicaDir)}`,
    ...timing,
    ...bucket,
    '',
  ].join('\n')
}

/**
 * ENCRYPTION=age: every snapshot and WAL segment written with these X25519 recipients (Litestream
 * encrypts with age itself); a restore is given the identities. Nothing when both are empty.
 */
export function ageLines(keys: { recipients?: readonly string[]; identities?: readonly string[] }): string[] {
  const list = (items: readonly string[]) => `[${items.map((x) => JSON.stringify(x)).join(', ')}]`
  const lines: string[] = []
  if (keys.identities?.length) lines.push(`          identities: ${list(keys.identities)}`)
  if (keys.recipients?.length) lines.push(`          recipients: ${list(keys.recipients)}`)
  return lines.length > 0 ? ['        age:', ...lines] : []
}

/** The configuration a restore reads an age-encrypted file replica with: the identities, in a 0600 file. */
export function litestreamRestoreConfig(dbPath: string, replicaDir: string, identities: readonly string[]): string {
  return [
    '# Written by dbkeeper for one restore, then removed.',
    'dbs:',
    `  - path: ${JSON.stringify(dbPath)}`,
    '    replicas:',
    '      - type: file',
    `        path: ${JSON.stringify(replicaDir)}`,
    ...ageLines({ identities }),
    '',
  ].join('\n')
}
