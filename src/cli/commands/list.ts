import { listBackups, type BackupEntry } from '../../catalog/catalog.js'
import { futureWarning, isFromTheFuture, newestFirst } from '../../catalog/order.js'
import { verifyBackup, verifyCiphertext, withoutKey } from '../../restore/content.js'
import { findSource } from '../../restore/locate.js'
import { describeError, toDbkeeperError } from '../../runtime/errors.js'
import { openRemoteTargets } from '../../pipeline/remote-targets.js'
import { formatBytes } from '../../pipeline/progress.js'
import type { Command } from '../command.js'
import { parseCommandArgs } from '../args.js'
import { printable } from '../../runtime/printable.js'

/**
 * `list --json`: an array, newest first, of ListedBackup. Stable: scripts depend on it.
 */
export interface ListedBackup {
  id: string
  source: string
  database: string
  engine: string
  kind: string
  /** ISO 8601, the start of the dump. */
  time: string
  path: string
  size: number
  sha256: string
  rawSize: number
  rawSha256: string
  compression: string
  /** Encrypted backups: the kind and the public keys it was encrypted to (passphrase: none, `passphrase: true`). */
  encryption?: { kind: string; recipients: string[]; passphrase?: true }
  /** Where copies are: on the volume, off-site (S3), or both. `path` is the local path, else the S3 URL. */
  location: 'local' | 's3' | 'both'
  /** Present when the backup is damaged (data file missing or of the wrong size, checksums that disagree; with --verify anything the read-back finds). */
  problem?: string
  /** Present when the backup is stamped in the future (a clock that was ahead): never used as `latest`. */
  warning?: string
}

export function toListed(e: BackupEntry, now = new Date()): ListedBackup {
  const m = e.manifest
  return {
    id: m.id,
    source: m.source,
    database: m.database,
    engine: m.engine,
    kind: m.kind,
    time: m.startedAt,
    path: e.target.url(e.dataKey),
    size: m.compressed.size,
    sha256: m.compressed.sha256,
    rawSize: m.raw.size,
    rawSha256: m.raw.sha256,
    compression: m.compression.kind,
    ...(m.encryption
      ? {
          encryption: {
            kind: m.encryption.kind,
            recipients: m.encryption.recipients,
            ...(m.encryption.passphrase ? { passphrase: true as const } : {}),
          },
        }
      : {}),
    location: 'local',
    ...(e.problem ? { problem: e.problem } : {}),
    ...(isFromTheFuture(m, now) ? { warning: 'stamped in the future (clock skew): never used as latest' } : {}),
  }
}

/** Adds the off-site copies: a local backup also off-site becomes `both`; one only off-site (volume lost) is listed with its S3 URL. */
export function mergeRemote(listed: ListedBackup[], remote: readonly BackupEntry[]): ListedBackup[] {
  const byFile = new Map(
    listed.map((b) => [`${b.source}/${b.database}/${b.path.slice(b.path.lastIndexOf('/') + 1)}`, b]),
  )
  const out = [...listed]
  for (const r of remote) {
    const m = r.manifest
    const local = byFile.get(`${m.source}/${m.database}/${m.file}`)
    if (local && r.problem === undefined) local.location = 'both'
    else if (!local)
      out.push({ ...toListed({ ...r, ...(r.problem ? { problem: `off-site: ${r.problem}` } : {}) }), location: 's3' })
  }
  return out.sort((a, b) => newestFirst({ startedAt: a.time, id: a.id }, { startedAt: b.time, id: b.id }))
}

export const listCommand: Command = {
  name: 'list',
  usage: `Usage: dbkeeper list [SOURCE] [--database NAME] [--json]

Lists the backups that were proven and committed (only those with a manifest), on the
volume and, when S3_BUCKET is set, off-site: WHERE is local, s3 or both. Backups only in S3
(after the volume was lost) are listed too; \`dbkeeper fetch\` brings one back.
Damaged ones (data file missing or of the wrong size, a .sha256 file that disagrees with the
manifest) are marked. Exit code 1 when S3 could not be listed (the local backups are still
printed), or with --verify when a backup is damaged.

  --database NAME  only this database
  --verify         also read every local backup back in full, as \`dbkeeper verify\` does (sha256
                   of the file and of its content, end marker), and mark those that fail: the
                   only way to find a flipped bit without restoring
  --json           an array of {id, source, database, engine, kind, time, path, size,
                   sha256, rawSize, rawSha256, compression[, encryption], location[, problem]
                   [, warning]}; encryption is {kind, recipients[, passphrase]}: the public
                   keys an encrypted backup can be read with (the table shows them shortened);
                   location is "local", "s3" or "both"; path is the S3 URL for "s3";
                   warning: stamped in the future (a clock that was ahead)`,
  needsConfig: true,
  usesVolume: true,
  async run(ctx) {
    const { values, positionals } = parseCommandArgs('list', ctx.args, {
      json: { type: 'boolean' },
      database: { type: 'string' },
      verify: { type: 'boolean' },
    })
    const onDamaged = (path: string, reason: string) =>
      ctx.logger.warn(
        { manifest: path, reason },
        `damaged manifest ${path}: ${reason} — this backup is not listed and cannot be restored from the volume; restore another one, or inspect the file`,
      )
    // A source by label or DBnn id; a label no longer configured still lists the backups it left.
    const wanted = positionals[0]
    const configured = ctx.config.sources.find((s) => s.label === wanted || s.id === wanted)
    const sourceLabel = configured?.label ?? wanted
    const entries = await listBackups(ctx.config.backupDir, {
      source: sourceLabel,
      database: values.database,
      onDamaged,
    })
    let damaged = false
    if (values.verify) {
      for (const e of entries) {
        const source = ctx.config.sources.find((s) => s.label === e.manifest.source)
        if (e.problem === undefined && source) {
          try {
            // Encrypted and no key here: the file's sha256 still finds a flipped bit.
            if (withoutKey(e.manifest, ctx.config.decryption)) await verifyCiphertext(source, e, ctx.signal)
            else await verifyBackup(source, e, ctx.config.backupDir, ctx.signal, ctx.config.decryption)
          } catch (error) {
            const err = toDbkeeperError(error)
            if (err.code === 'ABORTED') throw err
            e.problem = `does not verify: ${err.message}`
          }
        }
        damaged ||= e.problem !== undefined
      }
    }
    const now = new Date()
    let listed = entries.map((e) => toListed(e, now))
    let s3Failed = false
    const remote = openRemoteTargets(ctx.config, { logger: ctx.logger, signal: ctx.signal })
    if (remote) {
      try {
        listed = mergeRemote(listed, await remote.list(sourceLabel, values.database))
      } catch (error) {
        s3Failed = true
        ctx.logger.error(
          `cannot list the off-site backups in ${remote.description}: ${describeError(error)}; showing the local ones only`,
        )
      }
    }
    // Neither configured nor found: a typo, refused like `backup nosuch` (exit 2, the sources named).
    if (wanted !== undefined && !configured && listed.length === 0 && !s3Failed) findSource(ctx.config, wanted)
    if (values.json) {
      ctx.print(JSON.stringify(listed, null, 2))
      return s3Failed || damaged ? 1 : 0
    }
    if (listed.length === 0) {
      ctx.print(`no backups in ${ctx.config.backupDir}${ctx.config.s3 ? ` or ${ctx.config.s3.bucket}` : ''}`)
      return s3Failed ? 1 : 0
    }
    const rows = listed.map((b) => [
      b.time.slice(0, 19).replace('T', ' '),
      `${b.source}/${b.database}`,
      b.id,
      formatBytes(b.size),
      formatBytes(b.rawSize),
      b.location,
      b.kind === 'backup' ? '' : b.kind,
      [
        b.encryption
          ? `${b.encryption.kind}: ${b.encryption.passphrase ? 'passphrase' : b.encryption.recipients.map(shortKey).join(' ')}`
          : '',
        b.problem ? `DAMAGED: ${b.problem}` : '',
        b.warning ? 'FUTURE: clock skew' : '',
      ]
        .filter(Boolean)
        .join('; '),
    ])
    ctx.print(table([['TIME (UTC)', 'SOURCE/DATABASE', 'ID', 'SIZE', 'RAW', 'WHERE', 'KIND', ''], ...rows]))
    const future = listed.filter((b) => b.warning !== undefined)
    if (future.length > 0)
      ctx.print(
        `\n${futureWarning(
          future.map((b) => ({ ...b, startedAt: b.time, file: b.path })),
          now,
        )}`,
      )
    return s3Failed || damaged ? 1 : 0
  },
}

/** `age1qyz…mcac8p`: enough of a public key to tell which one it is (`--json` has them whole). */
function shortKey(recipient: string): string {
  return `${recipient.slice(0, 8)}…${recipient.slice(-6)}`
}

export function table(raw: string[][]): string {
  const rows = raw.map((r) => r.map(printable))
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)))
  return rows
    .map((r) =>
      r
        .map((c, i) => c.padEnd(widths[i]!))
        .join('  ')
        .trimEnd(),
    )
    .join('\n')
}
