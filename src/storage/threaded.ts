/**
 * A Target whose calls run in a worker thread (threaded-worker.ts serves them there). Why: the
 * AWS SDK costs ~0.3 s of CPU to load and ~10 MB of heap, and on the main thread every garbage
 * collection the backup pipeline triggers then scans that heap too — measured, an S3 upload during
 * the dump nearly doubled the main thread's GC time. In a worker the SDK, its request signing and
 * its HTTP traffic run beside the pipeline instead of inside it.
 *
 * The worker starts on the first call (or `warm()`), holds the process open only while calls are
 * pending, and exits after IDLE_MS without any.
 */
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { PassThrough, Readable } from 'node:stream'
import { pathToFileURL } from 'node:url'
import { Worker } from 'node:worker_threads'
import type { ErrorCode } from '../runtime/errors.js'
import {
  StorageError,
  type ObjectHead,
  type ObjectInfo,
  type PutBody,
  type PutOptions,
  type PutResult,
  type Target,
} from './target.js'
import { CHUNK_WINDOW, ownBytes, type FromWorker, type SerializedError, type ToWorker } from './threaded-worker.js'

const IDLE_MS = 10_000

interface Call {
  resolve(value: unknown): void
  reject(error: Error): void
  onMessage?(m: FromWorker): void
}

function rebuild(e: SerializedError): Error {
  if (e.code) return new StorageError(e.code as ErrorCode, e.message, { retryable: e.retryable, hint: e.hint })
  return Object.assign(new Error(e.message), { name: e.name })
}

/** tsx's loader API, for running a worker from TypeScript sources (never in the built image). */
function tsxApi(): string {
  const pkg = createRequire(import.meta.url).resolve('tsx/package.json')
  const exports = (
    JSON.parse(readFileSync(pkg, 'utf8')) as { exports: Record<string, { import: { default: string } }> }
  ).exports
  return pathToFileURL(join(dirname(pkg), exports['./esm/api']!.import.default)).href
}

export interface ThreadedTarget extends Target {
  /** Starts the worker (and so the loading of what it needs) ahead of the first call. */
  warm(): void
}

/** `entry` serves one target with serveTarget(); `data` is its workerData (plain values only). */
export function threadedTarget(
  entry: URL,
  data: unknown,
  description: string,
  url: (key: string) => string,
): ThreadedTarget {
  let worker: Worker | undefined
  let idle: NodeJS.Timeout | undefined
  let nextId = 1
  const calls = new Map<number, Call>()

  const fail = (error: Error) => {
    for (const call of calls.values()) call.reject(error)
    calls.clear()
    worker = undefined
  }
  const start = (): Worker => {
    if (worker) return worker
    // From source (tests, `tsx`): the worker registers tsx itself, then loads the .ts entry.
    const w = entry.pathname.endsWith('.ts')
      ? new Worker(
          `import(${JSON.stringify(tsxApi())}).then((tsx) => { tsx.register(); return import(${JSON.stringify(entry.href)}) })`,
          { eval: true, workerData: data },
        )
      : new Worker(entry, { workerData: data })
    w.on('message', (m: FromWorker) => {
      const call = calls.get(m.id)
      if (!call) return
      if (m.op === 'ok') {
        calls.delete(m.id)
        call.resolve(m.value)
      } else if (m.op === 'err') {
        calls.delete(m.id)
        call.reject(rebuild(m.error))
      } else call.onMessage?.(m)
      if (calls.size === 0) idleSoon()
    })
    w.on('error', (error: Error) =>
      fail(new StorageError('IO', `the S3 worker thread failed: ${error.message}`, { retryable: false, cause: error })),
    )
    w.on('exit', (code) => fail(new StorageError('IO', `the S3 worker thread exited (${code})`, { retryable: false })))
    w.unref()
    worker = w
    return w
  }
  const idleSoon = () => {
    worker?.unref()
    clearTimeout(idle)
    idle = setTimeout(() => void worker?.terminate(), IDLE_MS).unref()
  }
  const post = (m: ToWorker) => start().postMessage(m)
  /** For messages of a call in progress: never restarts a worker for a call that is over. */
  const postFor = (id: number, m: ToWorker) => {
    if (calls.has(id)) worker?.postMessage(m)
  }
  /** Sends one call; `send` posts its first message(s) once the call is registered. */
  const call = <T>(send: (id: number) => void, onMessage?: Call['onMessage']): Promise<T> => {
    const id = nextId++
    clearTimeout(idle)
    start().ref()
    return new Promise<T>((resolve, reject) => {
      calls.set(id, { resolve, reject, ...(onMessage ? { onMessage } : {}) })
      send(id)
    })
  }

  /** Streams `body` to the worker, at most CHUNK_WINDOW bytes ahead of what it has taken. */
  const pump = async (id: number, body: Readable, acked: { bytes: number; wake?: () => void }) => {
    let sent = 0
    try {
      for await (const chunk of body as AsyncIterable<Buffer>) {
        if (!calls.has(id)) return
        sent += chunk.length
        postFor(id, { op: 'chunk', id, data: ownBytes(chunk) })
        while (sent - acked.bytes > CHUNK_WINDOW && calls.has(id))
          await new Promise<void>((wake) => (acked.wake = wake))
      }
      postFor(id, { op: 'end', id })
    } catch (error) {
      postFor(id, { op: 'bodyError', id, message: (error as Error).message })
    }
  }

  return {
    description,
    url,
    warm: () => void start(),
    put(key: string, body: PutBody, opts: PutOptions = {}): Promise<PutResult> {
      const { signal, finalMetadata, ...plain } = opts
      const stream = typeof body === 'function' ? body() : body
      const acked: { bytes: number; wake?: () => void } = { bytes: 0 }
      const onAbort = (id: number) => () => postFor(id, { op: 'abort', id })
      let abortListener: (() => void) | undefined
      return call<PutResult>(
        (id) => {
          const kind =
            stream instanceof Readable ? { kind: 'stream' as const } : { kind: 'data' as const, data: stream }
          post({ op: 'put', id, key, opts: plain, final: finalMetadata !== undefined, body: kind })
          if (signal) signal.addEventListener('abort', (abortListener = onAbort(id)), { once: true })
          if (stream instanceof Readable) void pump(id, stream, acked)
        },
        (m) => {
          if (m.op === 'ack') {
            acked.bytes += m.bytes
            acked.wake?.()
          } else if (m.op === 'final?' && finalMetadata) {
            finalMetadata().then(
              (metadata) => postFor(m.id, { op: 'final', id: m.id, metadata }),
              (error: unknown) => postFor(m.id, { op: 'final', id: m.id, error: (error as Error).message }),
            )
          }
        },
      ).finally(() => {
        if (abortListener) signal?.removeEventListener('abort', abortListener)
        acked.wake?.()
        if (stream instanceof Readable && !stream.readableEnded) stream.destroy()
      })
    },
    get(key: string, signal?: AbortSignal): Promise<Readable> {
      const out = new PassThrough({ highWaterMark: CHUNK_WINDOW })
      return new Promise<Readable>((resolve, reject) => {
        let opened = false
        call<void>(
          (id) => {
            post({ op: 'get', id, key })
            signal?.addEventListener('abort', () => postFor(id, { op: 'abort', id }), { once: true })
            // A reader that stops early (destroys the stream) must not leave the worker waiting.
            out.once('close', () => postFor(id, { op: 'abort', id }))
          },
          (m) => {
            if (m.op === 'opened') {
              opened = true
              resolve(out)
            } else if (m.op === 'data') {
              const data = Buffer.from(m.data.buffer, m.data.byteOffset, m.data.byteLength)
              out.write(data, () => postFor(m.id, { op: 'ack', id: m.id, bytes: data.length }))
            }
          },
        ).then(
          () => out.end(),
          (error: Error) => (opened ? out.destroy(error) : reject(error)),
        )
      })
    },
    head: (key) => call<ObjectHead | undefined>((id) => post({ op: 'head', id, key })),
    async *list(prefix: string): AsyncIterable<ObjectInfo> {
      yield* await call<ObjectInfo[]>((id) => post({ op: 'list', id, prefix }))
    },
    remove: (keys) => call<void>((id) => post({ op: 'remove', id, keys: [...keys] })),
    restore: (key, days) => call<'started' | 'in progress'>((id) => post({ op: 'restore', id, key, days })),
  }
}
