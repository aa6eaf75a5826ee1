/** ensureDir's `within`: a directory chain is created below it, never it or above it. */
import { existsSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { DIR_MODE, ensureDir } from '../../src/runtime/durable.js'

let tmp: string
beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'dbk-durable-'))
})
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true })
})

describe('ensureDir within', () => {
  it('creates the whole chain below `within`', async () => {
    await ensureDir(join(tmp, 'vol', 'a', 'b'), DIR_MODE, tmp)
    expect(existsSync(join(tmp, 'vol', 'a', 'b'))).toBe(true)
  })

  it('refuses with ENOENT, creating nothing, when `within` itself is missing (a volume gone mid-run)', async () => {
    const gone = join(tmp, 'gone')
    await expect(ensureDir(join(gone, 'backups', '.dbkeeper'), DIR_MODE, gone)).rejects.toMatchObject({
      code: 'ENOENT',
      path: gone,
    })
    expect(existsSync(gone)).toBe(false)
  })

  it('refuses a path outside `within` that would need creating', async () => {
    await expect(ensureDir(join(tmp, 'elsewhere', 'x'), DIR_MODE, join(tmp, 'vol'))).rejects.toMatchObject({
      code: 'ENOENT',
    })
    expect(existsSync(join(tmp, 'elsewhere'))).toBe(false)
  })
})
