/**
 * The SQLite archive read back: a Litestream file replica, read where it lies (no running
 * Litestream needed, so `status` and `restore --at` work from another process).
 *
 *   <replica>/generations/<generation>/snapshots/<index>.snapshot.lz4
 *   <replica>/generations/<generation>/wal/<index>_<offset>.wal.lz4
 *
 * A file's mtime is when Litestream wrote it (what `litestream wal` shows as "created"), and every
 * change in a segment was committed before it. A generation is one range: from its oldest kept
 * snapshot to its newest file; Litestream starts a new one when it lost its position in the WAL,
 * so two generations have a gap between them.
 */
import { open, rm, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { FILE_MODE } from '../../runtime/durable.js'
import { DbkeeperError } from '../../runtime/errors.js'
import { asyncReads, listingOnce, type FileReads } from '../../runtime/file-reads.js'
import type { Secret } from '../../runtime/secrets.js'
import type { Archive, ArchiveRange, ArchiveState, Materialized } from '../archive.js'
import { childEnv, describeExit, lastLines, runTool, runToolForOutput } from '../subprocess.js'
import { litestreamBinary, litestreamRestoreConfig } from './litestream.js'
import { SQLITE_SIDE_FILES } from './replace.js'
import { inspectSqliteFile } from './restore-driver.js'
import { archivedEveryCommit } from './wal-position.js'

async function names(dir: string, reads: FileReads = asyncReads): Promise<string[]> {
  return reads.readdir(dir).catch(() => [])
}

async function mtimes(dir: string, suffix: string, reads: FileReads): Promise<number[]> {
  const out: number[] = []
  for (const name of await names(dir, reads)) {
    if (!name.endsWith(suffix)) continue
    const s = await reads.stat(join(dir, name)).catch(() => undefined)
    if (s?.isFile()) out.push(s.mtimeMs)
  }
  return out
}

/** The oldest snapshot's mtime: its millisecond, and the instant to the nanosecond (RFC 3339). */
async function oldestSnapshotTime(dir: string): Promise<{ ms: number; iso: string } | undefined> {
  let oldest: bigint | undefined
  for (const name of await names(dir)) {
    if (!name.endsWith('.snapshot.lz4')) continue
    const s = await stat(join(dir, name), { bigint: true }).catch(() => undefined)
    if (s?.isFile() && (oldest === undefined || s.mtimeNs < oldest)) oldest = s.mtimeNs
  }
  if (oldest === undefined) return undefined
  const ms = Number(oldest / 1_000_000n)
  const fraction = String(oldest % 1_000_000_000n).padStart(9, '0')
  return { ms, iso: new Date(ms).toISOString().replace(/\.\d{3}Z$/, `.${fraction}Z`) }
}

/**
 * When the newest WAL segment was written. Segments are named `<index>_<offset>` in fixed-width
 * hex, so the greatest name is the newest: one stat, not one per segment (a busy week is 600 000).
 */
async function newestSegment(dir: string, reads: FileReads): Promise<number | undefined> {
  const segments = (await names(dir, reads)).filter((n) => n.endsWith('.wal.lz4')).sort()
  for (let i = segments.length - 1; i >= 0; i--) {
    const s = await reads.stat(join(dir, segments[i]!)).catch(() => undefined)
    if (s?.isFile()) return s.mtimeMs
  }
  return undefined
}

/** When the live database last changed: its WAL (the database file itself when not in WAL mode yet). */
async function liveChangedAt(path: string, reads: FileReads): Promise<number | undefined> {
  const wal = await reads.stat(`${path}-wal`).catch(() => undefined)
  if (wal) return wal.mtimeMs
  return (await reads.stat(path).catch(() => undefined))?.mtimeMs
}

/** The private keys an age-encrypted archive is read with (AGE_IDENTITY_FILE, `--identity`). */
export interface ArchiveKeys {
  identities: readonly Secret[]
  /** For messages: `AGE_IDENTITY_FILE (/run/secrets/key)`. */
  from?: string | undefined
}

const AGE_MAGIC = Buffer.from('age-encryption.org/v1')

/** Whether a generation's files are age-encrypted (Litestream's `age:` setting): its first snapshot's header says. */
async function encrypted(generation: string): Promise<boolean> {
  const snapshot = (await names(join(generation, 'snapshots'))).find((n) => n.endsWith('.snapshot.lz4'))
  if (!snapshot) return false
  const fh = await open(join(generation, 'snapshots', snapshot), 'r').catch(() => undefined)
  if (!fh) return false
  try {
    const head = Buffer.alloc(AGE_MAGIC.length)
    const { bytesRead } = await fh.read(head, 0, head.length, 0)
    return bytesRead === head.length && head.equals(AGE_MAGIC)
  } finally {
    await fh.close()
  }
}

/**
 * How much earlier than the asked time segments are cut (rollForward). A file's mtime comes from the
 * kernel's coarse clock, at most one tick (≤ 10 ms at HZ=100) behind the time the bytes were
 * written; 50 ms covers it with room. Rows committed in those 50 ms before T are left out, which the
 * promise (every change up to T − 5 s, none after T) allows.
 */
export const MTIME_SLACK_MS = 50

export class SqliteArchive implements Archive {
  constructor(
    /** The live database file. */
    private readonly path: string,
    /** The replica directory. */
    private readonly dir: string,
    private readonly keys?: ArchiveKeys,
    /** How `state` reads the replica and the live file's times (runtime/file-reads.ts). */
    private readonly reads: FileReads = asyncReads,
  ) {}

  async state(now: Date): Promise<ArchiveState> {
    // The newest segment of each generation and the position check below list the same wal/: once.
    const reads = listingOnce(this.reads)
    const generationsDir = join(this.dir, 'generations')
    const ranges: ArchiveRange[] = []
    for (const base of await names(generationsDir, reads)) {
      const snapshots = await mtimes(join(generationsDir, base, 'snapshots'), '.snapshot.lz4', reads)
      // Without a snapshot nothing of a generation can be restored.
      if (snapshots.length === 0) continue
      const wal = await newestSegment(join(generationsDir, base, 'wal'), reads)
      ranges.push({
        base,
        from: new Date(Math.min(...snapshots)),
        to: new Date(Math.max(...snapshots, wal ?? 0)),
      })
    }
    ranges.sort((a, b) => a.from.getTime() - b.from.getTime())
    const newest = ranges.reduce<number | undefined>((m, r) => Math.max(m ?? 0, r.to.getTime()), undefined)
    if (newest === undefined) return { ranges, archivedAt: undefined, lagMs: undefined }
    // By position when Litestream's state beside the file tells (wal-position.ts): a segment newer
    // than the last change need not hold it. By file times only without that state (Litestream never
    // ran on this host, an encrypted replica).
    const archived = await archivedEveryCommit(this.path, this.dir, reads)
    let behind = archived === false
    if (archived === undefined) {
      const changed = await liveChangedAt(this.path, reads)
      behind = changed !== undefined && changed > newest
    }
    const lagMs = behind ? Math.max(0, now.getTime() - newest) : 0
    // Caught up: nothing changed since the newest segment, so the newest range reaches now.
    const last = ranges.at(-1)!
    if (!behind && last.to.getTime() === newest) last.to = new Date(Math.max(newest, now.getTime()))
    return { ranges, archivedAt: new Date(newest), lagMs }
  }

  /**
   * `litestream restore -timestamp T` applies the segments written up to T, but refuses a T after
   * the generation's newest file ("no matching backups found"), though nothing changed since. Such a
   * T restores the newest state instead; if a segment newer than T appeared meanwhile (it may have
   * been read), that restore is redone with -timestamp, which now accepts T.
   */
  async materialize(
    at: Date,
    range: ArchiveRange,
    outFile: string,
    workDir: string,
    signal: AbortSignal,
  ): Promise<Materialized> {
    await this.rollForward(at, range, outFile, workDir, signal)
    const inspected = await inspectSqliteFile(outFile, workDir, signal)
    // Read in WAL mode, the file got an (empty) -wal and -shm: they must not follow it.
    for (const suffix of SQLITE_SIDE_FILES) await rm(`${outFile}${suffix}`, { force: true })
    if (inspected.integrity.length > 0) {
      throw new DbkeeperError(
        'RESTORE_FAILED',
        `the database as of ${at.toISOString()} fails integrity_check (${inspected.integrity.slice(0, 3).join('; ')}); nothing was changed`,
        { hint: 'choose another time, or restore a scheduled backup (dbkeeper list)' },
      )
    }
    const version = await runToolForOutput(litestreamBinary(), ['version'], { env: childEnv() }).catch(() => undefined)
    return {
      format: 'db',
      tables: inspected.tables.map((t) => ({ name: t.name, rows: t.rows })),
      tool: `litestream ${version?.stdout.trim() || '?'}`,
    }
  }

  private async rollForward(
    at: Date,
    range: ArchiveRange,
    outFile: string,
    workDir: string,
    signal: AbortSignal,
  ): Promise<void> {
    const generation = join(this.dir, 'generations', range.base)
    const newest = async () =>
      Math.max(
        (await newestSegment(join(generation, 'wal'), this.reads)) ?? 0,
        ...(await mtimes(join(generation, 'snapshots'), '.snapshot.lz4', this.reads)),
      )
    // Segments are chosen by mtime, which the kernel takes from a coarse clock (up to a tick behind
    // the real time): a segment stamped just before T may hold a commit made just after it. So the
    // cut is MTIME_SLACK_MS before T — never before the range's snapshot.
    const cutoff = new Date(Math.max(range.from.getTime(), at.getTime() - MTIME_SLACK_MS))
    if ((await newest()) <= cutoff.getTime()) {
      await this.restore(range.base, undefined, outFile, workDir, signal)
      if ((await newest()) <= cutoff.getTime()) return
      await rm(outFile, { force: true })
    }
    // A cut in the snapshot's millisecond is the snapshot's own time, to the nanosecond: Litestream
    // refuses a -timestamp before it ("no matching backups found"), and `from` is only the millisecond.
    const snapshot = await oldestSnapshotTime(join(generation, 'snapshots'))
    const exact = snapshot && cutoff.getTime() <= snapshot.ms ? snapshot.iso : cutoff.toISOString()
    await this.restore(range.base, exact, outFile, workDir, signal)
  }

  /**
   * An encrypted archive is read through a configuration (0600, in the private work directory,
   * removed after) that carries the identities: never argv.
   */
  private async restore(
    base: string,
    at: string | undefined,
    outFile: string,
    workDir: string,
    signal: AbortSignal,
  ): Promise<void> {
    const binary = litestreamBinary()
    const args = ['restore', '-no-expand-env', '-generation', base, ...(at ? ['-timestamp', at] : [])]
    let replica = [`file://${this.dir}`]
    let configFile: string | undefined
    if (await encrypted(join(this.dir, 'generations', base))) {
      const identities = this.keys?.identities ?? []
      if (identities.length === 0)
        throw new DbkeeperError(
          'AUTH',
          `the point-in-time archive ${this.dir} is encrypted (age), and no key to decrypt it is set; nothing was changed`,
          { hint: 'set AGE_IDENTITY_FILE to the private key file of one of AGE_RECIPIENTS, or pass --identity FILE' },
        )
      configFile = join(workDir, `litestream-restore-${base}.yml`)
      await writeFile(
        configFile,
        litestreamRestoreConfig(
          this.path,
          this.dir,
          identities.map((i) => i.reveal()),
        ),
        { mode: FILE_MODE, flag: 'wx' },
      )
      replica = ['-config', configFile, this.path]
    }
    try {
      await this.#run(binary, [...args, '-o', outFile, ...replica], signal, configFile !== undefined)
    } finally {
      if (configFile) await rm(configFile, { force: true })
    }
  }

  async #run(binary: string, args: string[], signal: AbortSignal, withKeys: boolean): Promise<void> {
    await runTool(binary, args, {
      env: childEnv(),
      signal,
      // Litestream logs its errors ("no matching backups found", a failed decryption) to stdout.
      logsToStdout: true,
      installHint: `reinstall dbkeeper's dependencies (npm ci): ${binary} comes in the npm package @flydotio/litestream-linux-x64`,
      abortedMessage: 'litestream restore was stopped: the restore was aborted',
      judge: (exit) =>
        exit.exitCode === 0
          ? undefined
          : new DbkeeperError(
              'RESTORE_FAILED',
              `litestream restore ${describeExit(exit)}: ${litestreamError(exit.stderr) || 'no output'}`,
              {
                ...(exit.stderr ? { output: lastLines(exit.stderr, 10) } : {}),
                // The key is blamed only when the tool's own words point at it.
                hint:
                  withKeys && /age|decrypt|identit|recipient|no (matching )?key/i.test(exit.stderr)
                    ? `the archive ${this.dir} is encrypted: is ${this.keys?.from ?? 'the key given'} the private key of one of its recipients? (docs/RESTORE.md)`
                    : `the archive is ${this.dir}; run \`litestream restore\` by hand with the same arguments (docs/RESTORE.md)`,
              },
            ),
    })
  }
}

/**
 * The reason in Litestream's log, else its last lines: `level=ERROR … error="…"` (its logger, on
 * stdout, with a configuration file) or `2026/12/07 01:44:55 ERROR failed to run error="…"` (stderr).
 */
export function litestreamError(log: string): string {
  const lines = log.split('\n').filter((l) => l.trim() !== '')
  const error = lines.findLast((l) => /\blevel=ERROR\b|^\S+ \S+ ERROR /.test(l))
  const reason = error && /\berror="((?:[^"\\]|\\.)*)"/.exec(error)?.[1]
  return reason ? reason.replace(/\\"/g, '"') : lines.slice(-3).join(' ')
}
