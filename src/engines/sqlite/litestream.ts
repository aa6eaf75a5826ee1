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
 * The YAML for one database and its file replica. Strings are written as JSON (valid YAML, any
 * path quoted); litestream is started with -no-expand-env, so a `$` in a path stays a `$`.
 */
export function litestreamConfig(dbPath: string, replicaDir: string, windowMs: number): string {
  const s = litestreamSettings(windowMs)
  return [
    '# Written by dbkeeper for DBnn_PITR (rewritten at each daemon start: edits are lost).',
    'dbs:',
    `  - path: ${JSON.stringify(dbPath)}`,
    '    replicas:',
    '      - type: file',
    `        path: ${JSON.stringify(replicaDir)}`,
    `        sync-interval: ${goDuration(SYNC_INTERVAL_MS)}`,
    `        snapshot-interval: ${goDuration(s.snapshotIntervalMs)}`,
    `        retention: ${goDuration(s.retentionMs)}`,
    `        retention-check-interval: ${goDuration(s.retentionCheckIntervalMs)}`,
    '',
  ].join('\n')
}
