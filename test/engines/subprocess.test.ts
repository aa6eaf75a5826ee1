/**
 * A tool's stdout belongs to its reader (engines/subprocess.ts): output that nobody has read yet
 * waits in the pipe, however late the reader comes, and none of it is thrown away.
 */
import { createHash } from 'node:crypto'
import { execFileSync } from 'node:child_process'
import { describe, expect, it } from 'vitest'
import { childEnv, spawnDump, startTool } from '../../src/engines/subprocess.js'

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex')

// 3.4 MB: many times what the pipe and the stream's buffer hold together.
const ARGS = ['1', '500000']
const expected = execFileSync('seq', ARGS, { maxBuffer: 16 << 20 })

async function readAll(stream: AsyncIterable<Buffer>): Promise<Buffer> {
  const chunks: Buffer[] = []
  for await (const chunk of stream) chunks.push(chunk)
  return Buffer.concat(chunks)
}

describe('a tool read late', () => {
  it('startTool: a reader that starts 200 ms later reads every byte, from the first', async () => {
    const tool = startTool('seq', ARGS, { env: childEnv() })
    await sleep(200)
    const out = await readAll(tool.stdout)
    await expect(tool.exit).resolves.toMatchObject({ exitCode: 0 })
    expect(out.length).toBe(expected.length)
    expect(sha256(out)).toBe(sha256(expected))
  })

  it('spawnDump: the dump tool waits on its pipe, unfinished, until it is read', async () => {
    const dump = spawnDump('seq', ARGS, {
      env: childEnv(),
      signal: new AbortController().signal,
      options: ARGS,
      judge: () => undefined,
    })
    let finished = false
    void dump.done.then(() => (finished = true))
    await sleep(200)
    expect(finished).toBe(false)
    const out = await readAll(dump.stdout)
    await expect(dump.done).resolves.toMatchObject({ options: ARGS })
    expect(sha256(out)).toBe(sha256(expected))
  })
})
