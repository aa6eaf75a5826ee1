/**
 * Ships a MySQL source's binlog archive off-site, beside its binlog archiver: every ~10 s, to the
 * first off-site target that may delete (as archiveOffsite picks for Litestream), under
 * `<S3_PREFIX><source>/.pitr/.binlog/` (catalog/remote.ts remoteBinlogDir):
 *
 * - each closed file once proven (index.jsonl), read back after the upload and confirmed by size
 *   and sha256 against the proof; then recorded;
 * - the growing file, whenever it has grown: its new bytes as one more segment
 *   (`<file>.from-<offset>`, confirmed by size and the sha256 it was sent with), so each byte
 *   goes once while it grows, not the whole file every pass; once the file is closed and shipped
 *   whole, its segments are removed. By hand, `cat <file>.from-* > <file>` joins them;
 * - `offsite.<target>.jsonl` in the archive directory, append-only: the closed files on the
 *   target, so a restarted daemon sends none twice (the growing file's state is kept in memory).
 *
 * - what retention removed from the volume (a `removed` line of index.jsonl: no base inside
 *   PITR_WINDOW needs it, retention/binlog.ts) is removed from the target too, its segments with
 *   it, and recorded (`removedAt`). Only that record removes anything: a file merely missing on
 *   the volume (a lost volume) is never taken as a reason to delete its off-site copy.
 *
 * Binlogs are not encrypted yet: with ENCRYPTION on, nothing is shipped (a warning says so) and the
 * archive stays on the volume.
 */
import { createHash } from 'node:crypto'
import { appendFile, readFile } from 'node:fs/promises'
import { createReadStream } from 'node:fs'
import { join } from 'node:path'
import { pipeline } from 'node:stream/promises'
import type { Readable } from 'node:stream'
import { remoteBinlogDir } from '../catalog/remote.js'
import type { S3Config, SourceConfig } from '../config/types.js'
import { localBinlogs, readBinlogArchive, readBinlogIndex } from '../engines/index.js'
import { FILE_MODE } from '../runtime/durable.js'
import { describeError } from '../runtime/errors.js'
import type { Logger } from '../runtime/logger.js'
import type { Target } from '../storage/target.js'

export const BINLOG_OFFSITE_INTERVAL_MS = 10_000

/** A file on the target, confirmed: a line of `offsite.<target>.jsonl` when closed. */
export interface ShippedEntry {
  file: string
  size: number
  sha256: string
  /** A closed file, read back whole; else the growing file as it was. */
  closed: boolean
  shippedAt: string
  /** Removed from the target after retention removed it from the volume (then `closed` is false). */
  removedAt?: string
}

/** `binlog.000042.from-000000001024`: the growing file's bytes from that offset (zero-padded, so `cat <file>.from-*` joins them in order). */
const SEGMENT = '.from-'

export function segmentKey(remote: string, file: string, offset: number): string {
  return `${remote}${file}${SEGMENT}${String(offset).padStart(12, '0')}`
}

export function shippedLog(dir: string, targetId: string): string {
  return join(dir, `offsite.${targetId}.jsonl`)
}

export async function readShipped(dir: string, targetId: string): Promise<ShippedEntry[]> {
  const text = await readFile(shippedLog(dir, targetId), 'utf8').catch(() => '')
  return text.split('\n').flatMap((line) => {
    if (line.trim() === '') return []
    try {
      return [JSON.parse(line) as ShippedEntry]
    } catch {
      return [] // a torn last line
    }
  })
}

/** The target binlogs are shipped to: the first that may delete (none with Object Lock or S3_NO_DELETE). */
export function binlogOffsiteTarget(targets: readonly S3Config[]): S3Config | undefined {
  return targets.find((t) => t.objectLock === undefined && !t.noDelete)
}

export interface BinlogOffsiteOptions {
  source: SourceConfig
  /** The archive directory (binlogArchiveDir). */
  dir: string
  target: Target
  /** The target's id (S3, S3_2): names the record file. */
  targetId: string
  logger: Logger
  intervalMs?: number
}

export interface BinlogOffsite {
  /** Ends the loop after the pass under way. */
  stop(): Promise<void>
  /** One pass now (tests; the loop runs them on its own). */
  pass(): Promise<void>
}

async function sha256Of(body: Readable): Promise<string> {
  const hash = createHash('sha256')
  await pipeline(body, hash)
  return hash.digest('hex')
}

export function startBinlogOffsite(opts: BinlogOffsiteOptions): BinlogOffsite {
  const { dir, target, targetId, source } = opts
  const log = opts.logger.child({ source: source.label, target: targetId, archiver: 'binlog-offsite' })
  const remote = remoteBinlogDir(source.label)
  let shipped: Map<string, ShippedEntry> | undefined
  /** The growing file: how far it is on the target, as segments. */
  const growingAt = new Map<string, number>()
  let failing = false

  /** Uploads bytes [start, end) of the file under `key`; confirms the size and the sha256 it was sent with. */
  const put = async (key: string, file: string, start: number, end: number): Promise<string> => {
    const path = join(dir, file)
    const size = end - start
    const open = () => createReadStream(path, { start, end: end - 1 })
    const sha256 = size === 0 ? createHash('sha256').digest('hex') : await sha256Of(open())
    await target.put(key, size === 0 ? Buffer.alloc(0) : open, {
      size,
      metadata: { sha256 },
      contentType: 'application/octet-stream',
    })
    const head = await target.head(key)
    if (!head || head.size !== size)
      throw new Error(`${target.url(key)} holds ${head ? `${head.size} bytes` : 'nothing'} after sending ${size}`)
    if (head.metadata.sha256 !== sha256)
      throw new Error(`${target.url(key)} does not carry the sha256 it was sent with`)
    return sha256
  }

  /** The growing file's segments on the target, but `keep`. */
  const removeSegments = async (file: string, keep?: string) => {
    const stale: string[] = []
    for await (const o of target.list(`${remote}${file}${SEGMENT}`)) if (o.key !== keep) stale.push(o.key)
    if (stale.length > 0) await target.remove(stale)
  }

  /** A closed file whole, checked against its proof before and read back after; its segments go. */
  const shipClosed = async (c: { file: string; size: number; sha256: string }) => {
    const key = `${remote}${c.file}`
    const sha256 = await put(key, c.file, 0, c.size)
    if (sha256 !== c.sha256)
      throw new Error(`${c.file} on the volume no longer matches its proof in index.jsonl (sha256 ${sha256})`)
    const back = await sha256Of(await target.get(key))
    if (back !== sha256) throw new Error(`${target.url(key)} read back with sha256 ${back}, not ${sha256}`)
    // Its segments go before it is recorded: a daemon stopped in between ships it whole again on
    // its next pass, instead of leaving segments no pass will remove.
    await removeSegments(c.file)
    growingAt.delete(c.file)
    const e: ShippedEntry = { file: c.file, size: c.size, sha256, closed: true, shippedAt: new Date().toISOString() }
    await appendFile(shippedLog(dir, targetId), `${JSON.stringify(e)}\n`, { mode: FILE_MODE, flush: true })
    shipped!.set(c.file, e)
    log.info({ file: c.file, size: c.size, key: target.url(key) }, `binlog ${c.file} shipped off-site and confirmed`)
  }

  /**
   * The growing file's new bytes as one more segment, `<file>.from-<offset>`: each byte is sent once
   * while the file grows (not the whole file every pass). Kept in memory: after a restart the file
   * is sent again from 0 as one segment, and the older segments removed after it.
   */
  const shipGrowing = async (file: string, size: number) => {
    const from = growingAt.get(file)
    // A restarted tool fetches the file again from its start: the bytes up to `from` are the same.
    if (from !== undefined && size <= from) return
    const key = segmentKey(remote, file, from ?? 0)
    await put(key, file, from ?? 0, size)
    if (from === undefined) await removeSegments(file, key)
    growingAt.set(file, size)
  }

  /** A file retention removed from the volume: gone from the target too, segments and all, then recorded. */
  const removeRemoved = async (file: string) => {
    await target.remove([`${remote}${file}`])
    await removeSegments(file)
    const now = new Date().toISOString()
    const e: ShippedEntry = { file, size: 0, sha256: '', closed: false, shippedAt: now, removedAt: now }
    await appendFile(shippedLog(dir, targetId), `${JSON.stringify(e)}\n`, { mode: FILE_MODE, flush: true })
    shipped!.set(file, e)
    growingAt.delete(file)
    log.info(
      { file, key: target.url(`${remote}${file}`) },
      `binlog ${file} removed off-site, as retention removed it from the volume`,
    )
  }

  const pass = async () => {
    shipped ??= new Map((await readShipped(dir, targetId)).map((e) => [e.file, e]))
    const index = await readBinlogIndex(dir)
    const closed = new Map(index.flatMap((e) => (e.kind === 'closed' ? [[e.file, e] as const] : [])))
    // A file's last line decides: one numbered anew after RESET MASTER may be archived again after its namesake went.
    const last = new Map(index.flatMap((e) => (e.kind === 'gap' ? [] : [[e.file, e] as const])))
    const local = await localBinlogs(dir)
    for (const [file, e] of last)
      if (e.kind === 'removed' && shipped.get(file)?.removedAt === undefined && !local.some((l) => l.file === file))
        await removeRemoved(file)
    for (const c of closed.values()) {
      if (shipped.get(c.file)?.closed) continue
      if (!local.some((l) => l.file === c.file)) continue
      await shipClosed(c)
    }
    // The newest file of the newest run (never by number: RESET MASTER numbers anew).
    const newest = (await readBinlogArchive(dir, new Date())).runs.at(-1)?.files.at(-1)
    const growing = local.find((l) => l.file === newest)
    if (growing && !closed.has(growing.file)) await shipGrowing(growing.file, growing.size)
  }

  const guarded = async () => {
    try {
      await pass()
      if (failing) log.info('binlog off-site shipping works again')
      failing = false
    } catch (error) {
      if (!failing)
        log.error(
          `binlog off-site shipping of ${source.label} to ${target.description} failed: ${describeError(error)}; trying again every ${Math.round((opts.intervalMs ?? BINLOG_OFFSITE_INTERVAL_MS) / 1000)} s (the archive on the volume is complete)`,
        )
      failing = true
    }
  }

  let running: Promise<void> = guarded()
  const timer = setInterval(() => {
    running = running.then(guarded)
  }, opts.intervalMs ?? BINLOG_OFFSITE_INTERVAL_MS)
  timer.unref()
  return {
    pass: () => {
      const p = running.then(pass)
      running = p.catch(() => undefined)
      return p
    },
    stop: async () => {
      clearInterval(timer)
      await running
    },
  }
}
