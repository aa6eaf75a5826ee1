/**
 * How loadSections (parallel-load.ts) hands a sectioned dump to its clients: the head first on
 * each, the tables largest first over N clients, the tail on one more once all of them are done;
 * a head that must run once puts everything on one client in the dump's order; a failing client
 * stops the others. The clients here only record what they were fed (the real `mariadb` is in
 * test/restore/mysql-parallel.test.ts).
 */
import { PassThrough, Readable, type Transform } from 'node:stream'
import { describe, expect, it } from 'vitest'
import { loadSections, type RunClient } from '../../../src/engines/mysql/parallel-load.js'
import type { ContentSections } from '../../../src/engines/restore-driver.js'

const HEAD = '/*!40101 SET NAMES utf8mb4 */;\n/*!40014 SET FOREIGN_KEY_CHECKS=0 */;\n'

function sections(head: string, tables: string[], tail: string): ContentSections {
  return {
    head: () => Promise.resolve(Buffer.from(head)),
    tables: tables.map((t) => ({ size: t.length, open: () => Readable.from([Buffer.from(t)]) })),
    tail: { size: tail.length, open: () => Readable.from([Buffer.from(tail)]) },
  }
}

/** Clients that read their input to the end and keep it; `failing` (0-based start order) exits 1 after reading. */
function recorder(failing?: number) {
  const fed: { text: string; started: number; ended: number }[] = []
  let clock = 0
  const run: RunClient = async (input, signal) => {
    const me = { text: '', started: clock++, ended: -1 }
    const index = fed.push(me) - 1
    for await (const chunk of input) {
      if (signal.aborted) throw new Error('ABORTED')
      me.text += String(chunk)
      await new Promise((r) => setTimeout(r, 1))
    }
    me.ended = clock++
    if (index === failing) throw new Error(`client ${index} exited 1`)
  }
  return { fed, run }
}
const input = (): Transform => new PassThrough()

describe('loadSections', () => {
  const tables = ['T1'.repeat(10), 'T2'.repeat(300), 'T3'.repeat(100), 'T4'.repeat(5)]

  it('feeds every client the head first, spreads the tables largest first, and the tail last on one more', async () => {
    const { fed, run } = recorder()
    await loadSections(sections(HEAD, tables, 'TAIL'), run, input, new AbortController().signal, 2)
    expect(fed).toHaveLength(3)
    for (const c of fed) expect(c.text.startsWith(HEAD)).toBe(true)
    const [a, b, tail] = fed as [(typeof fed)[0], (typeof fed)[0], (typeof fed)[0]]
    // Every table exactly once over the two table clients; the largest (T2) on the first.
    const loaded = a.text.slice(HEAD.length) + b.text.slice(HEAD.length)
    for (const t of tables) expect(loaded.split(t).length - 1).toBe(1)
    expect(a.text.slice(HEAD.length).startsWith('T2')).toBe(true)
    expect(b.text.slice(HEAD.length).startsWith('T3')).toBe(true)
    expect(tail.text).toBe(`${HEAD}TAIL`)
    expect(tail.started).toBeGreaterThan(Math.max(a.ended, b.ended))
  })

  it('a head that must run once (a global setting): everything on one client, in the dump order', async () => {
    const { fed, run } = recorder()
    const head = `${HEAD}SET @@GLOBAL.GTID_PURGED='x:1-5';\n`
    await loadSections(sections(head, tables, 'TAIL'), run, input, new AbortController().signal, 4)
    expect(fed.map((c) => c.text)).toEqual([`${head}${tables.join('')}TAIL`])
  })

  it('a client that fails stops the load with its error: no tail, the others stopped', async () => {
    const { fed, run } = recorder(1)
    const many = Array.from({ length: 12 }, (_, i) => `T${i}`.repeat(200))
    await expect(
      loadSections(sections(HEAD, many, 'TAIL'), run, input, new AbortController().signal, 2),
    ).rejects.toThrow('client 1 exited 1')
    expect(fed.some((c) => c.text.endsWith('TAIL'))).toBe(false)
    expect(fed).toHaveLength(2)
  })
})
