import { execa } from 'execa'
import { mkdtemp, readFile, writeFile, mkdir } from 'node:fs/promises'
import { hostname, tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { acquireLock, lockPath } from '../../src/catalog/lock.js'

function bootId(): string {
  return (require('node:fs') as typeof import('node:fs')).readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim()
}
import { createRequire } from 'node:module'
const require = createRequire(import.meta.url)

describe('the volume lock', () => {
  it('is exclusive: a second taker gets LOCKED naming the holder, and gets it after release', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'dbk-lock-'))
    const first = await acquireLock(dir, { command: 'backup' })
    const err = await acquireLock(dir, { command: 'backup' }).catch((e: unknown) => e)
    expect((err as { code: string }).code).toBe('LOCKED')
    expect(String(err)).toContain(`pid ${process.pid}`)
    await first.release()
    const second = await acquireLock(dir, { command: 'backup' })
    await second.release()
  })

  it('takes over the lock of a process that is gone', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'dbk-lock-'))
    const child = execa('true')
    const deadPid = child.pid
    await child
    await mkdir(join(dir, '.dbkeeper'), { recursive: true })
    const stale = {
      pid: deadPid,
      host: hostname(),
      bootId: bootId(),
      procStart: '1',
      startedAt: '2020-01-01T00:00:00Z',
      command: 'backup',
    }
    await writeFile(lockPath(dir), JSON.stringify(stale))
    const warnings: string[] = []
    const logger = { warn: (_o: unknown, msg: string) => warnings.push(msg) } as never
    const lock = await acquireLock(dir, { command: 'backup', logger })
    expect(JSON.parse(await readFile(lockPath(dir), 'utf8')).pid).toBe(process.pid)
    expect(warnings.join()).toMatch(/stale lock: process \d+ is not running/)
    await lock.release()
  })

  it('does not take over the lock of a live process, and --wait gets it once released', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'dbk-lock-'))
    const holder = await acquireLock(dir, { command: 'daemon' })
    let got = false
    const waiting = acquireLock(dir, { command: 'backup', wait: true }).then((l) => {
      got = true
      return l
    })
    await new Promise((r) => setTimeout(r, 1200))
    expect(got).toBe(false)
    await holder.release()
    const l = await waiting
    expect(got).toBe(true)
    await l.release()
  })

  it('treats a pid reused by another process as stale', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'dbk-lock-'))
    await mkdir(join(dir, '.dbkeeper'), { recursive: true })
    // Our parent is alive, but its start time differs from the one recorded: the pid was reused.
    const reused = {
      pid: process.ppid,
      host: hostname(),
      bootId: bootId(),
      procStart: '12345',
      startedAt: '2020-01-01T00:00:00Z',
      command: 'backup',
    }
    await writeFile(lockPath(dir), JSON.stringify(reused))
    const lock = await acquireLock(dir, { command: 'backup' })
    await lock.release()
  })
})
