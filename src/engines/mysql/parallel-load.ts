/**
 * A sectioned dump (sections.ts; one gzip member per table) loaded over several connections at
 * once. The server applies SQL on one connection at about one core's pace (docs/PERFORMANCE.md,
 * Restore): with the tables on N clients, N tables are inflated and applied at a time.
 *
 * Every client is fed the dump's head first — its session settings (FOREIGN_KEY_CHECKS=0,
 * UNIQUE_CHECKS=0, SQL_MODE, TIME_ZONE, NAMES) are per connection — then tables from one queue,
 * the largest first, so that the last table to finish is a small one. The tail (events, routines,
 * the final structure of views, which name the tables) goes on one more client once every table
 * is loaded. A head that does more than set session variables (a MySQL dump with
 * `SET @@GLOBAL.GTID_PURGED`) must run once: such a dump is loaded on one client, in order.
 * The first client to fail stops the others; the caller drops what was loaded.
 */
import { availableParallelism } from 'node:os'
import type { Readable, Transform } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import type { ContentSection, ContentSections } from '../restore-driver.js'

/** Clients at once: one per core, at least 2 (the server and the inflate overlap), at most 4. */
export const LOAD_CONNECTIONS = Math.min(4, Math.max(2, availableParallelism()))

/** Runs one client fed from `input`; rejects with the judged error, or ABORTED when `signal` stops it. */
export type RunClient = (input: Readable, signal: AbortSignal) => Promise<unknown>

export async function loadSections(
  sections: ContentSections,
  run: RunClient,
  /** What the bytes pass through on their way to a client (the view-qualifier rewrite). */
  makeInput: () => Transform,
  signal: AbortSignal,
  connections = LOAD_CONNECTIONS,
): Promise<void> {
  const head = await sections.head()
  const stop = new AbortController()
  const onAbort = () => stop.abort(signal.reason)
  signal.addEventListener('abort', onAbort, { once: true })
  let first: unknown
  const fail = (error: unknown) => {
    first ??= error
    stop.abort(error)
  }
  try {
    if (!sessionOnly(head)) {
      // The head must run once: everything on one client, in the dump's order.
      const all = [...sections.tables, sections.tail]
      await client(head, () => all.shift(), run, makeInput, stop.signal).catch(fail)
    } else {
      const queue = [...sections.tables].sort((a, b) => b.size - a.size)
      await Promise.all(
        Array.from({ length: Math.min(Math.max(1, connections), Math.max(1, queue.length)) }, () =>
          client(head, () => queue.shift(), run, makeInput, stop.signal).catch(fail),
        ),
      )
      if (first === undefined && !stop.signal.aborted) {
        const tail = [sections.tail]
        await client(head, () => tail.shift(), run, makeInput, stop.signal).catch(fail)
      }
    }
    if (first !== undefined) throw first instanceof Error ? first : new Error('the load failed', { cause: first })
  } finally {
    signal.removeEventListener('abort', onAbort)
  }
}

/** One client: the head, then sections from `next` until there are none (or the load stops). */
async function client(
  head: Buffer,
  next: () => ContentSection | undefined,
  run: RunClient,
  makeInput: () => Transform,
  signal: AbortSignal,
): Promise<void> {
  const input = makeInput()
  // This client's own stop: the load's, or its client dying (the rest of the queue is not drained into it).
  const local = new AbortController()
  const onStop = () => local.abort(signal.reason)
  signal.addEventListener('abort', onStop, { once: true })
  const running = run(input, signal)
  running.catch(() => local.abort())
  const feeding = (async () => {
    await write(input, head)
    for (let section = next(); section && !local.signal.aborted; section = next()) {
      await pipeline(section.open(), input, { end: false, signal: local.signal })
    }
    input.end()
  })().catch((error: unknown) => {
    // A section that cannot be read: the client's input fails, so the client stops (never waits for more).
    input.destroy(error instanceof Error ? error : new Error(String(error)))
    throw error
  })
  try {
    // The client's verdict first: a client that died stops its input, not the other way round.
    const [ran, fed] = await Promise.allSettled([running, feeding])
    if (ran.status === 'rejected') throw ran.reason
    if (fed.status === 'rejected') throw fed.reason
  } finally {
    signal.removeEventListener('abort', onStop)
  }
}

function write(stream: Transform, bytes: Buffer): Promise<void> {
  return new Promise((resolve, reject) => stream.write(bytes, (error) => (error ? reject(error) : resolve())))
}

/**
 * Whether a dump's head only sets session variables and comments: lines of `--` comments and
 * `/*!…*\/;` version comments (mysqldump's `SET @OLD_…=@@…, …` and `SET NAMES`), nothing global.
 * Such a head may run on every connection.
 */
export function sessionOnly(head: Buffer): boolean {
  const text = head.toString('latin1')
  if (/@@GLOBAL|SQL_LOG_BIN|GTID_PURGED/i.test(text)) return false
  return text.split('\n').every((raw) => {
    const line = raw.trim()
    return line === '' || line.startsWith('--') || (line.startsWith('/*') && /\*\/;?$/.test(line))
  })
}
