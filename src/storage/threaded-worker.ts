/**
 * The worker side of threaded.ts: serves one Target's calls from a message port. Bodies arrive
 * as chunks, each acknowledged once the target has taken it (the sender's flow control); object
 * bytes go back the same way. Errors travel as plain data and are rebuilt on the other side.
 */
import { PassThrough, type Readable } from 'node:stream'
import type { MessagePort } from 'node:worker_threads'
import { StorageError, type PutOptions, type Target } from './target.js'

/** Bytes sent but not acknowledged before a sender waits (both directions). */
export const CHUNK_WINDOW = 8 * 1024 * 1024

export interface SerializedError {
  name: string
  message: string
  code?: string
  hint?: string
  retryable: boolean
}

export type ToWorker =
  | {
      op: 'put'
      id: number
      key: string
      opts: Omit<PutOptions, 'signal' | 'finalMetadata'>
      final: boolean
      body: { kind: 'stream' } | { kind: 'data'; data: string | Uint8Array }
    }
  | { op: 'chunk'; id: number; data: Uint8Array }
  | { op: 'end'; id: number }
  | { op: 'bodyError'; id: number; message: string }
  | { op: 'final'; id: number; metadata?: Record<string, string>; error?: string }
  | { op: 'abort'; id: number }
  | { op: 'get' | 'head'; id: number; key: string }
  | { op: 'list'; id: number; prefix: string }
  | { op: 'remove'; id: number; keys: string[] }
  | { op: 'restore'; id: number; key: string; days: number }
  | { op: 'ack'; id: number; bytes: number }

export type FromWorker =
  | { op: 'ok'; id: number; value?: unknown }
  | { op: 'err'; id: number; error: SerializedError }
  | { op: 'ack'; id: number; bytes: number }
  | { op: 'final?'; id: number }
  | { op: 'opened'; id: number }
  | { op: 'data'; id: number; data: Uint8Array }

/**
 * A chunk as it should cross the thread boundary: structured clone copies a view's whole
 * ArrayBuffer, and a stream's chunk is often a small slice of a large pooled one.
 */
export function ownBytes(chunk: Buffer): Uint8Array {
  return chunk.byteOffset === 0 && chunk.byteLength === chunk.buffer.byteLength
    ? chunk
    : Uint8Array.prototype.slice.call(chunk)
}

export function serializeError(error: unknown): SerializedError {
  const e = error instanceof Error ? error : new Error(String(error))
  const s = e as Partial<StorageError>
  return {
    name: e.name,
    message: e.message,
    retryable: e instanceof StorageError && e.retryable,
    ...(s.code ? { code: s.code } : {}),
    ...(s.hint ? { hint: s.hint } : {}),
  }
}

export function serveTarget(target: Target, port: MessagePort): void {
  const post = (m: FromWorker) => port.postMessage(m)
  const bodies = new Map<number, PassThrough>()
  const finals = new Map<number, { resolve: (m: Record<string, string>) => void; reject: (e: Error) => void }>()
  const aborts = new Map<number, AbortController>()
  const credits = new Map<number, { unacked: number; wake?: () => void }>()
  const settle = (id: number, work: Promise<unknown>) => {
    work
      .then(
        (value) => post({ op: 'ok', id, value }),
        (error: unknown) => post({ op: 'err', id, error: serializeError(error) }),
      )
      .finally(() => {
        bodies.delete(id)
        finals.delete(id)
        aborts.delete(id)
        credits.delete(id)
      })
  }

  const put = (m: Extract<ToWorker, { op: 'put' }>) => {
    const abort = new AbortController()
    aborts.set(m.id, abort)
    let body: string | Buffer | Readable
    if (m.body.kind === 'stream') {
      const stream = new PassThrough({ highWaterMark: 1024 * 1024 })
      stream.on('error', () => undefined)
      bodies.set(m.id, stream)
      body = stream
    } else body = typeof m.body.data === 'string' ? m.body.data : Buffer.from(m.body.data)
    const opts: PutOptions = { ...m.opts, signal: abort.signal }
    if (m.final) {
      opts.finalMetadata = () =>
        new Promise((resolve, reject) => {
          finals.set(m.id, { resolve, reject })
          post({ op: 'final?', id: m.id })
        })
    }
    settle(m.id, target.put(m.key, body, opts))
  }

  const get = (id: number, key: string) => {
    const abort = new AbortController()
    aborts.set(id, abort)
    const credit: { unacked: number; wake?: () => void } = { unacked: 0 }
    credits.set(id, credit)
    settle(
      id,
      (async () => {
        const body = await target.get(key, abort.signal)
        post({ op: 'opened', id })
        for await (const chunk of body as AsyncIterable<Buffer>) {
          credit.unacked += chunk.length
          post({ op: 'data', id, data: ownBytes(chunk) })
          if (credit.unacked > CHUNK_WINDOW) await new Promise<void>((wake) => (credit.wake = wake))
          credit.wake = undefined
          // The reader went away (it read what it needed, or failed): stop, do not wait for credit.
          if (abort.signal.aborted)
            throw Object.assign(new Error('download stopped by the reader'), { name: 'AbortError' })
        }
      })(),
    )
  }

  port.on('message', (m: ToWorker) => {
    switch (m.op) {
      case 'put':
        return put(m)
      case 'chunk': {
        const data = Buffer.from(m.data.buffer, m.data.byteOffset, m.data.byteLength)
        bodies.get(m.id)?.write(data, () => post({ op: 'ack', id: m.id, bytes: data.length }))
        return
      }
      case 'end':
        return void bodies.get(m.id)?.end()
      case 'bodyError':
        return void bodies.get(m.id)?.destroy(new Error(m.message))
      case 'final': {
        const waiting = finals.get(m.id)
        if (m.metadata) waiting?.resolve(m.metadata)
        else waiting?.reject(new Error(m.error ?? 'no final metadata'))
        return
      }
      case 'abort':
        aborts.get(m.id)?.abort()
        return credits.get(m.id)?.wake?.()
      case 'ack': {
        const credit = credits.get(m.id)
        if (!credit) return
        credit.unacked -= m.bytes
        if (credit.unacked <= CHUNK_WINDOW) credit.wake?.()
        return
      }
      case 'get':
        return get(m.id, m.key)
      case 'head':
        return settle(m.id, target.head(m.key))
      case 'list':
        return settle(
          m.id,
          (async () => {
            const all = []
            for await (const o of target.list(m.prefix)) all.push(o)
            return all
          })(),
        )
      case 'remove':
        return settle(m.id, target.remove(m.keys))
      case 'restore':
        return settle(
          m.id,
          target.restore
            ? target.restore(m.key, m.days)
            : Promise.reject(new Error('this target has no archive tier to restore from')),
        )
    }
  })
}
