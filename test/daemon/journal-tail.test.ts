/**
 * JournalTail on a real state directory: new bytes only, a journal that appears after the start,
 * and a rotation that cuts an oversized file (a new inode for runs.1.jsonl, the old one gone).
 */
import { mkdtemp, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { appendRun, readRuns } from '../../src/catalog/journal.js'
import { STATE_DIR } from '../../src/catalog/naming.js'
import { JournalTail } from '../../src/daemon/journal-tail.js'
import { fakeRun } from '../support/backups.js'

let dir: string
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'dbk-tail-'))
})
afterAll(async () => rm(dir, { recursive: true, force: true }))

const ids = (runs: { runId: string }[]) => runs.map((r) => r.runId)

describe('JournalTail', () => {
  it('starts on a volume without a journal, then reads each appended run once', async () => {
    const tail = new JournalTail(join(dir, STATE_DIR))
    expect(await tail.start(100)).toEqual([])
    expect(await tail.poll()).toEqual([])
    const a = fakeRun(new Date(), [{}])
    const b = fakeRun(new Date(), [{}])
    await appendRun(dir, a)
    expect(ids(await tail.poll())).toEqual([a.runId])
    await appendRun(dir, b)
    expect(ids(await tail.poll())).toEqual([b.runId])
    expect(await tail.poll()).toEqual([])
  })

  it('starts with the last runs only, and after a rotation that cut the file reads the kept tail again', async () => {
    const tail = new JournalTail(join(dir, STATE_DIR))
    expect(await tail.start(1)).toHaveLength(1)
    const before = fakeRun(new Date(), [{}])
    await appendRun(dir, before)
    const size = (await stat(join(dir, STATE_DIR, 'runs.jsonl'))).size
    // Over twice the limit: rotateIfDue keeps the file's last bytes in a new runs.1.jsonl.
    const after = fakeRun(new Date(), [{}])
    await appendRun(dir, after, { maxBytes: Math.floor(size / 3), keepFiles: 4, keepDays: 400 })
    const seen = ids(await tail.poll())
    // The kept tail may hold runs seen before (RunHistory drops them); the new one is there, last.
    expect(seen.at(-1)).toBe(after.runId)
    // Whatever the cut kept besides is what the journal holds now: nothing invented, nothing skipped.
    const onDisk = ids(await readRuns(dir))
    expect(onDisk.slice(-seen.length)).toEqual(seen)
    expect(await tail.poll()).toEqual([])
  })
})
