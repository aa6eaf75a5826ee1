/**
 * Issue 21: `fetch` places a backup on the volume with the same commit as a run
 * (catalog/repository.ts), so a fetch that fails after its data file was linked into place leaves
 * nothing behind either: the volume fills up between the link and the manifest, the fetch exits 1
 * with a "no space" error, and no data file, `.sha256`, temporary file or manifest of that backup
 * stays. Once space is freed, the same fetch succeeds.
 *
 * Like the commit trials of disk-full.test.ts this needs a real full disk: a small tmpfs mounted
 * as BACKUP_DIR (we run as root in CI). The fetch stops itself at the failpoint `commit.linked`
 * (the data file is in place), the rest of the volume is filled, and the fetch goes on.
 */
import { execa } from 'execa'
import { mkdir, mkdtemp, open, readdir, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { BackupJson } from '../../src/cli/commands/backup.js'
import { runCli, startCli } from '../support/cli.js'
import { makeSqliteOfSize, s3Env, startS3, type TestS3 } from '../support/s3.js'
import { waitStopped } from '../support/faults/processes.js'
import { debrisOnDisk, tempFiles } from '../support/faults/volume-files.js'
import { trial } from '../support/faults/trials.js'

const FAULT = 'disk full'

let s3: TestS3
let dir: string
let vol: string
let mounted = false
let env: Record<string, string>
let id: string

beforeAll(async () => {
  s3 = await startS3()
  dir = await mkdtemp(join(tmpdir(), 'dbk-fetch-full-'))
  vol = join(dir, 'vol')
  await mkdir(vol, { mode: 0o700 })
  await execa('mount', ['-t', 'tmpfs', '-o', 'size=8m,mode=0700', 'tmpfs', vol])
  mounted = true
  makeSqliteOfSize(join(dir, 'shop.db'), 1)
  env = {
    BACKUP_DIR: vol,
    DB01_TYPE: 'sqlite',
    DB01_PATH: join(dir, 'shop.db'),
    DB01_LABEL: 'app',
    ...s3Env(s3.endpoint, 'fetch-full'),
  }
  const r = await runCli(['backup', '--json'], env)
  expect(r.exitCode, r.stderr).toBe(0)
  id = (JSON.parse(r.stdout) as BackupJson).results[0]!.id!
  // Off-site only: the volume loses its copy.
  for (const name of await readdir(join(vol, 'app', 'shop'))) await rm(join(vol, 'app', 'shop', name))
}, 300_000)

afterAll(async () => {
  if (mounted) await execa('umount', [vol]).catch(() => execa('umount', ['-l', vol]))
  await s3?.destroy()
  if (dir) await rm(dir, { recursive: true, force: true })
})

const FILLER = () => join(vol, 'filler')

/** Writes until the tmpfs answers ENOSPC. */
async function fill(): Promise<void> {
  const handle = await open(FILLER(), 'a')
  const chunk = Buffer.alloc(64 * 1024, 0x5a)
  try {
    for (;;) await handle.write(chunk)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOSPC') throw error
  } finally {
    await handle.close()
  }
}

describe('fetch onto a full volume (tmpfs of 8 MiB)', () => {
  it('the volume fills up after the data file was linked into place: nothing of the fetch stays', async () => {
    await trial(FAULT, 'fetch from S3: data in place, the manifest cannot be written (tmpfs of 8 MiB)', async () => {
      const child = startCli(['fetch', id, '--source', 'app'], { ...env, DBKEEPER_FAILPOINTS: 'commit.linked' })
      let ended = false
      const done = child.then((r) => {
        ended = true
        return r
      })
      await waitStopped(child.pid!, () => ended, 'commit.linked')
      await fill()
      process.kill(child.pid!, 'SIGCONT')
      const r = await done
      expect(r.exitCode, String(r.stderr).slice(-3000)).toBe(1)
      expect(String(r.stderr)).toMatch(/ENOSPC|no space/i)
      await rm(FILLER())
      // Nothing of it: no data file, no .sha256, no manifest, no temporary file.
      expect((await readdir(join(vol, 'app', 'shop'))).filter((n) => n.includes(id))).toEqual([])
      expect(await tempFiles(vol)).toEqual([])
      expect(await debrisOnDisk(vol)).toEqual([])
    })
  }, 120_000)

  it('once space is freed, the same fetch succeeds', async () => {
    const r = await runCli(['fetch', id, '--source', 'app', '--json'], env)
    expect(r.exitCode, r.stderr).toBe(0)
    expect((await readdir(join(vol, 'app', 'shop'))).filter((n) => n.includes(id)).sort()).toEqual([
      `${id}.db.gz`,
      `${id}.db.gz.manifest.json`,
      `${id}.db.gz.sha256`,
    ])
    expect(await debrisOnDisk(vol)).toEqual([])
  }, 120_000)
})
