/**
 * Follows the run journal like `tail -F`: the history once at start (its last runs, read from the
 * end backwards), afterwards only the bytes appended since the last look. A rotation (runs.jsonl
 * renamed to runs.1.jsonl, a new runs.jsonl begun) is noticed by the inode: the rest of the old file
 * is read from where we were, then the new one from its start. Each poll costs one stat when
 * nothing changed, so the page, /healthz and /metrics can look before every answer.
 */
import { open, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { journalFiles, linesBackward } from '../catalog/journal-files.js'
import { parseRunRecord, type RunRecord } from '../catalog/journal.js'

const CHUNK_BYTES = 1024 * 1024

export class JournalTail {
  private ino: number | undefined
  private offset = 0
  /** The start of a line whose newline has not been written yet. */
  private partial: Buffer = Buffer.alloc(0)
  private readonly current: string

  constructor(private readonly stateDir: string) {
    this.current = join(stateDir, 'runs.jsonl')
  }

  /**
   * The last `limit` runs, oldest first, read from the journal's end backwards (a journal of any
   * size, even one from before rotation, costs the same); following starts at the size seen here.
   * A line appended meanwhile may come again from the next poll: callers drop runs seen before.
   */
  async start(limit: number): Promise<RunRecord[]> {
    const now = await stat(this.current).catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') return undefined
      throw error
    })
    if (now) {
      this.ino = now.ino
      this.offset = now.size
    }
    const newestFirst: RunRecord[] = []
    for (const file of await journalFiles(this.stateDir)) {
      for await (const line of linesBackward(file)) {
        if (newestFirst.length >= limit) return newestFirst.reverse()
        const rec = parseRunRecord(line)
        if (rec) newestFirst.push(rec)
      }
    }
    return newestFirst.reverse()
  }

  /**
   * The records appended since the last call, oldest first (empty when the journal did not change);
   * after a rotation that cut the file, possibly some seen before.
   */
  async poll(): Promise<RunRecord[]> {
    const now = await stat(this.current).catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') return undefined
      throw error
    })
    const out: RunRecord[] = []
    if (this.ino !== undefined && now?.ino !== this.ino) {
      // Rotated away: finish the old file under its new name, then start the new one from 0.
      // A file far over the limit is cut rather than renamed (rotateIfDue): its kept tail is a new
      // file, read whole; the caller drops the records it has already seen.
      const moved = await this.findByInode(this.ino)
      const from = moved ? this.offset : 0
      const file = moved ?? (await journalFiles(this.stateDir)).find((f) => f !== this.current)
      this.reset(undefined)
      if (file) out.push(...(await this.readFrom(file, from)))
      this.partial = Buffer.alloc(0)
      this.offset = 0
    }
    if (!now) return out
    if (this.ino === undefined) this.reset(now.ino)
    if (now.size < this.offset) this.reset(now.ino) // truncated or replaced in place: start over
    if (now.size > this.offset) out.push(...(await this.readFrom(this.current, this.offset)))
    return out
  }

  private reset(ino: number | undefined): void {
    this.ino = ino
    this.offset = 0
    this.partial = Buffer.alloc(0)
  }

  private async findByInode(ino: number): Promise<string | undefined> {
    for (const f of await journalFiles(this.stateDir)) {
      if (f === this.current) continue
      const s = await stat(f).catch(() => undefined)
      if (s?.ino === ino) return f
    }
    return undefined
  }

  /** Reads `path` from `from` to its end in chunks; complete lines become records, the rest waits. */
  private async readFrom(path: string, from: number): Promise<RunRecord[]> {
    const handle = await open(path, 'r').catch(() => undefined)
    if (!handle) return []
    const out: RunRecord[] = []
    try {
      let pos = from
      const buf = Buffer.alloc(CHUNK_BYTES)
      for (;;) {
        const { bytesRead } = await handle.read(buf, 0, buf.length, pos)
        if (bytesRead === 0) break
        pos += bytesRead
        let data = Buffer.concat([this.partial, buf.subarray(0, bytesRead)])
        let nl = data.indexOf(10)
        while (nl !== -1) {
          const rec = parseRunRecord(data.subarray(0, nl).toString('utf8'))
          if (rec) out.push(rec)
          data = data.subarray(nl + 1)
          nl = data.indexOf(10)
        }
        this.partial = Buffer.from(data)
      }
      this.offset = pos
    } finally {
      await handle.close()
    }
    return out
  }
}
