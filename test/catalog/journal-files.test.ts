/**
 * The journal's backward reader (src/catalog/journal-files.ts, linesBackward) over both of its file
 * reads: `asyncReads` (fs/promises; the daemon and every command) and `syncReads` (node:fs's
 * synchronous calls; `dbkeeper status`, src/runtime/sync-reads.ts). The same lines, in the same
 * order, and the same errors, from real files.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { linesBackward } from '../../src/catalog/journal-files.js'
import { asyncReads, type FileReads } from '../../src/runtime/file-reads.js'
import { syncReads } from '../../src/runtime/sync-reads.js'

let dir: string
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'dbk-journal-files-'))
})
afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true })
})

async function collect(path: string, reads: FileReads): Promise<string[]> {
  const lines: string[] = []
  for await (const line of linesBackward(path, reads)) lines.push(line)
  return lines
}

describe.each([
  ['asyncReads', asyncReads],
  ['syncReads', syncReads],
])('linesBackward with %s', (_, reads) => {
  it('yields every line from the last to the first, across 64 KiB chunks and multi-byte characters', async () => {
    // ~400 KiB: lines of 1–300 characters, some of 2- and 3-byte ones, cut anywhere by the chunks.
    const lines = Array.from({ length: 3000 }, (_, i) => `${i}:${'ä€x'.repeat(i % 100)}`)
    const path = join(dir, 'lines.jsonl')
    for (const tail of ['\n', '']) {
      await writeFile(path, lines.join('\n') + tail)
      expect(await collect(path, reads)).toEqual((lines.join('\n') + tail).split('\n').reverse())
    }
  })

  it('skips a line longer than 8 MiB, unread, and keeps the lines around it', async () => {
    const path = join(dir, 'long.jsonl')
    await writeFile(path, `first\n${'y'.repeat(9 * 1024 * 1024)}\nlast\n`)
    expect(await collect(path, reads)).toEqual(['', 'last', 'first'])
  })

  it('yields nothing for a missing file or an empty one, and rejects a directory with EISDIR', async () => {
    expect(await collect(join(dir, 'missing.jsonl'), reads)).toEqual([])
    await writeFile(join(dir, 'empty.jsonl'), '')
    expect(await collect(join(dir, 'empty.jsonl'), reads)).toEqual([])
    await expect(collect(dir, reads)).rejects.toMatchObject({ code: 'EISDIR' })
  })
})
