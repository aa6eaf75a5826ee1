/**
 * The backup volume as a Target (restic's "local is a backend"): key `a/b/c` is the file
 * `<root>/a/b/c`. A put writes a temporary file beside its final name, fsyncs it, renames it into
 * place and fsyncs the directory, so after a crash a key holds its old object, its new one, or
 * nothing; a failed or aborted put removes its temporary file before it rejects.
 *
 * Not stored here: user metadata. The volume keeps a backup's facts in its manifest and `.sha256`
 * files, and a sidecar per object would be one more file to place atomically beside each one, so
 * `head` returns `metadata: {}`; `finalMetadata` is still awaited before the rename (a rejection
 * leaves nothing under the key). A key is a file, never a directory: `a` and `a/b` cannot both
 * exist (S3 allows it; no dbkeeper layout uses it).
 */
import { createReadStream } from 'node:fs'
import { open, rename, rm, unlink, type FileHandle } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { Readable } from 'node:stream'
import { toDbkeeperError } from '../../runtime/errors.js'
import {
  StorageError,
  type ObjectHead,
  type ObjectInfo,
  type PutBody,
  type PutOptions,
  type PutResult,
  type Target,
} from '../target.js'
import { byKey, checkKey, checkPrefix, refuseKey } from '../keys.js'
import { DIR_MODE, ensureDir, FILE_MODE, fsyncDir } from '../../runtime/durable.js'
import { asyncReads, type FileReads } from '../../runtime/file-reads.js'
import { ARCHIVE_DIR, STATE_DIR, TEMP_SUFFIX, isTempName } from './names.js'

/** The shared key rules, plus the names this target keeps for itself. */
function checkLocalKey(key: string): void {
  checkKey(key)
  for (const segment of key.split('/')) {
    if (isTempName(segment)) refuseKey(key, `"${segment}" is a temporary file name`)
  }
  if (key === STATE_DIR || key.startsWith(`${STATE_DIR}/`)) refuseKey(key, `${STATE_DIR}/ holds dbkeeper's own state`)
}

/** The abort as every target reports it: StorageError ABORTED, whatever reason the signal carries. */
function aborted(what: string, cause?: unknown): StorageError {
  return new StorageError('ABORTED', `${what}: aborted`, { retryable: false, cause })
}

/**
 * Copies `source` into the file chunk by chunk: each write awaited (backpressure), the signal
 * checked between chunks, and a source that stalls destroyed when the signal fires.
 */
async function writeStream(handle: FileHandle, source: Readable, signal: AbortSignal | undefined): Promise<void> {
  const onAbort = () => source.destroy(aborted('the body'))
  signal?.addEventListener('abort', onAbort, { once: true })
  try {
    for await (const chunk of source as AsyncIterable<Buffer | string>) {
      if (signal?.aborted) throw aborted('the body', signal.reason)
      await handle.write(typeof chunk === 'string' ? Buffer.from(chunk) : chunk)
    }
    if (signal?.aborted) throw aborted('the body', signal.reason)
  } finally {
    signal?.removeEventListener('abort', onAbort)
  }
}

function notAFile(path: string): Error {
  return Object.assign(new Error(`${path} is not a file`), { code: 'ENOENT' })
}

function fsError(error: unknown, what: string): StorageError {
  if (error instanceof StorageError) return error
  const e = toDbkeeperError(error, what)
  return new StorageError(e.code, e.message, { retryable: false, ...(e.hint ? { hint: e.hint } : {}), cause: error })
}

export class LocalTarget implements Target {
  readonly description: string

  /**
   * `reads`: how `list`, `getSmall` and `head` read the volume (runtime/file-reads.ts): fs/promises
   * when not given; `dbkeeper status` passes node:fs's synchronous calls. Writes, removals and
   * `get`'s stream always go through fs/promises.
   */
  constructor(
    readonly root: string,
    private readonly reads: FileReads = asyncReads,
  ) {
    this.description = join(root, '/')
  }

  /** The file's path, for messages (the same as `path` for a valid key, unchecked). */
  url(key: string): string {
    return join(this.root, key)
  }

  /** The file that holds `key` (after checking the key). */
  path(key: string): string {
    checkLocalKey(key)
    return join(this.root, key)
  }

  async put(key: string, body: PutBody, opts: PutOptions = {}): Promise<PutResult> {
    const final = this.path(key)
    const dir = dirname(final)
    // node:crypto loaded on the first write, not at import: `dbkeeper status` never writes.
    const random = process.getBuiltinModule('node:crypto').randomBytes(6).toString('hex')
    const tmp = join(dir, `.${final.slice(dir.length + 1)}.${random}${TEMP_SUFFIX}`)
    const source = typeof body === 'function' ? body() : body
    let created = false
    try {
      if (opts.signal?.aborted) throw aborted('the body', opts.signal.reason)
      await ensureDir(dir, DIR_MODE, dirname(this.root))
      const handle = await open(tmp, 'wx', FILE_MODE)
      created = true
      try {
        if (source instanceof Readable) {
          await writeStream(handle, source, opts.signal)
        } else {
          await handle.writeFile(source)
        }
        await handle.sync()
      } finally {
        await handle.close()
      }
      if (opts.finalMetadata) await opts.finalMetadata()
      if (opts.signal?.aborted) throw aborted('the body', opts.signal.reason)
      await rename(tmp, final)
      created = false
      await fsyncDir(dir)
    } catch (error) {
      if (source instanceof Readable && !source.destroyed) source.destroy()
      if (created) await rm(tmp, { force: true }).catch(() => undefined)
      if (error instanceof StorageError && error.code === 'ABORTED') throw aborted(`writing ${this.url(key)}`, error)
      throw fsError(error, `writing ${this.url(key)}`)
    }
    return { key }
  }

  async get(key: string, signal?: AbortSignal): Promise<Readable> {
    const path = this.path(key)
    let handle
    try {
      handle = await open(path, 'r')
      if (!(await handle.stat()).isFile()) throw notAFile(path)
    } catch (error) {
      await handle?.close()
      throw this.readError(error, key)
    }
    return createReadStream('', { fd: handle, ...(signal ? { signal } : {}) })
  }

  /**
   * A manifest or a sidecar in one read, no FileHandle or stream: `dbkeeper status` (the
   * HEALTHCHECK) reads every manifest, through the target's `reads` (node:fs's synchronous calls
   * there), so fs/promises is never loaded.
   */
  async getSmall(key: string, limit: number): Promise<Buffer | undefined> {
    const path = this.path(key)
    try {
      const s = await this.reads.stat(path)
      if (!s.isFile()) throw notAFile(path)
      return s.size > limit ? undefined : await this.reads.readFile(path)
    } catch (error) {
      throw this.readError(error, key)
    }
  }

  /** A failed read as get reports it: a missing file (or not a file) is NOT_FOUND. */
  private readError(error: unknown, key: string): StorageError {
    const code = (error as NodeJS.ErrnoException).code
    if (code === 'ENOENT' || code === 'ENOTDIR')
      return new StorageError('NOT_FOUND', `no object ${this.url(key)}`, { retryable: false, cause: error })
    return fsError(error, `reading ${this.url(key)}`)
  }

  async head(key: string): Promise<ObjectHead | undefined> {
    const path = this.path(key)
    try {
      const s = await this.reads.stat(path)
      if (!s.isFile()) return undefined
      return { key, size: s.size, lastModified: s.mtime, metadata: {} }
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code
      if (code === 'ENOENT' || code === 'ENOTDIR') return undefined
      throw fsError(error, `HEAD of ${this.url(key)}`)
    }
  }

  async *list(prefix: string): AsyncIterable<ObjectInfo> {
    checkPrefix(prefix)
    // Walk from the deepest directory the prefix names in full; filter names by the rest.
    const cut = prefix.lastIndexOf('/') + 1
    const found: ObjectInfo[] = []
    await this.#walk(prefix.slice(0, cut), prefix, found)
    yield* found.sort(byKey)
  }

  async #walk(dirKey: string, prefix: string, out: ObjectInfo[]): Promise<void> {
    let entries
    try {
      entries = await this.reads.readdirEntries(join(this.root, dirKey))
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code
      // A missing directory holds no keys; the root itself being a file is a real error.
      if (code === 'ENOENT' || (code === 'ENOTDIR' && dirKey !== '')) return
      throw fsError(error, `listing of ${this.url(dirKey)}`)
    }
    for (const e of entries) {
      const key = `${dirKey}${e.name}`
      if (isTempName(e.name) || (dirKey === '' && e.name === STATE_DIR)) continue
      if (e.name === ARCHIVE_DIR && dirKey !== '' && dirKey.indexOf('/') === dirKey.length - 1) continue
      if (e.isDirectory()) {
        const sub = `${key}/`
        if (sub.startsWith(prefix) || prefix.startsWith(sub)) await this.#walk(sub, prefix, out)
      } else if (e.isFile() && key.startsWith(prefix)) {
        // Gone between readdir and stat (a concurrent remove): not listed.
        const s = await this.reads.stat(join(this.root, key)).catch(() => undefined)
        if (s?.isFile()) out.push({ key, size: s.size, lastModified: s.mtime })
      }
    }
  }

  async remove(keys: readonly string[]): Promise<void> {
    const paths = keys.map((k) => this.path(k))
    for (const [i, path] of paths.entries()) {
      try {
        await unlink(path)
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code
        if (code === 'ENOENT' || code === 'ENOTDIR') continue
        throw fsError(error, `deletion of ${this.url(keys[i]!)}`)
      }
      // Durable before the next key: the order given (manifest first) is the order a crash sees.
      await fsyncDir(dirname(path)).catch((error: unknown) => {
        throw fsError(error, `deletion of ${this.url(keys[i]!)}`)
      })
    }
  }
}
