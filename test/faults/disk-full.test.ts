/**
 * Issue 10, fault 4: the backup volume fills up — during the dump stream (gzip, zstd), during the
 * SQLite snapshot, at the commit (the .sha256, the manifest), and before the run even starts.
 * Every time: exit 1 with a clear "no space" error naming the file and BACKUP_DIR, nothing of the
 * failed backup left on the volume (temporary file included), nothing pruned, the earlier backups
 * intact and verifying; once space is freed, the next run succeeds.
 *
 * The volume is a small real tmpfs mounted as BACKUP_DIR (we run as root in CI). Where mounting
 * is impossible (not root, no CAP_SYS_ADMIN) the fallback injects the failure instead: the run
 * gets an RLIMIT_FSIZE (`prlimit --fsize`), so its writes fail with EFBIG; the commit trials need
 * a real full disk and run only on tmpfs. FAULTS_DISK_FULL=prlimit forces the fallback.
 */
import { execa } from 'execa'
import { mkdir, mkdtemp, open, rm, statfs } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import { listJson, runCli, startCli, type CliResult } from '../support/cli.js'
import { uniqueName } from '../support/servers.js'
import { rootQuery } from '../backup/mysql-support.js'
import { makeSqliteDb } from '../support/sqlite.js'
import { trial } from '../support/faults/trials.js'
import { assessLoss } from '../support/faults/loss-accounting.js'
import { debrisOnDisk, tempFiles } from '../support/faults/volume-files.js'
import { waitStopped } from '../support/faults/processes.js'
import type { ListedBackup } from '../../src/cli/commands/list.js'
import type { BackupJson } from '../../src/cli/commands/backup.js'

const FAULT = 'disk full'

async function canMountTmpfs(): Promise<boolean> {
  if (process.env.FAULTS_DISK_FULL === 'prlimit') return false
  const probe = await mkdtemp(join(tmpdir(), 'dbk-mount-probe-'))
  try {
    await execa('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', probe])
    await execa('umount', [probe])
    return true
  } catch {
    return false
  } finally {
    await rm(probe, { recursive: true, force: true })
  }
}

const MODE: 'tmpfs' | 'prlimit' = (await canMountTmpfs()) ? 'tmpfs' : 'prlimit'
const HOW = MODE === 'tmpfs' ? 'tmpfs of 8 MiB' : 'RLIMIT_FSIZE via prlimit'
/** prlimit mode: the file size limit of the run (bytes): the dumps and the SQLite snapshot outgrow it. */
const FSIZE_LIMIT = 256 * 1024

let dir: string
let vol: string
let mounted = false
let env: Record<string, string>
const maria = {
  db: uniqueName('full'),
  user: uniqueName('full_bk'),
  password: `full-${Math.random().toString(36).slice(2)}`,
}
let current: ListedBackup[] = []

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'dbk-full-'))
  vol = join(dir, 'vol')
  await mkdir(vol, { mode: 0o700 })
  if (MODE === 'tmpfs') {
    await execa('mount', ['-t', 'tmpfs', '-o', 'size=8m,mode=0700', 'tmpfs', vol])
    mounted = true
  }
  makeSqliteDb(join(dir, 'app.db'), 3000)
  // ~5 MB of SQL, ~2 MB gzipped: two backups fit on the volume, with room to spare.
  await rootQuery(`CREATE DATABASE \`${maria.db}\``)
  await rootQuery('CREATE TABLE t (id INT PRIMARY KEY, label VARCHAR(100), payload VARBINARY(32))', [], maria.db)
  await rootQuery(
    "INSERT INTO t SELECT seq, CONCAT('row ', seq, ' ', MD5(seq)), UNHEX(SHA2(seq, 256)) FROM seq_1_to_40000",
    [],
    maria.db,
  )
  await rootQuery("CREATE USER ?@'%' IDENTIFIED BY ?", [maria.user, maria.password])
  await rootQuery(`GRANT SELECT, SHOW VIEW, TRIGGER, EVENT, LOCK TABLES ON \`${maria.db}\`.* TO ?@'%'`, [maria.user])
  await rootQuery("GRANT SELECT ON mysql.proc TO ?@'%'", [maria.user])
  const info = inject('mariadb')
  env = {
    BACKUP_DIR: vol,
    TZ: 'UTC',
    KEEP_LAST: '2',
    DB01_TYPE: 'sqlite',
    DB01_PATH: join(dir, 'app.db'),
    DB01_LABEL: 'app',
    DB02_TYPE: 'mariadb',
    DB02_HOST: info.host,
    DB02_PORT: String(info.port),
    DB02_USER: maria.user,
    DB02_PASS: maria.password,
    DB02_NAME: maria.db,
    DB02_LABEL: 'maria',
  }
  // Two proven backups of each database. The faulty runs keep only one (KEEP_LAST=1): a run
  // that pruned although its backup failed would show.
  for (let i = 0; i < 2; i++) {
    const r = await runCli(['backup'], env)
    expect(r.exitCode, r.all.slice(-3000)).toBe(0)
  }
  current = await listJson(env)
  expect(current).toHaveLength(4)
}, 300_000)

afterAll(async () => {
  if (mounted) {
    // Always unmount, even when a process still holds a file there (lazy as a last resort).
    await execa('umount', [vol]).catch(() => execa('umount', ['-l', vol]))
    mounted = false
  }
  await rootQuery(`DROP DATABASE IF EXISTS \`${maria.db}\``).catch(() => undefined)
  await rootQuery("DROP USER IF EXISTS ?@'%'", [maria.user]).catch(() => undefined)
  if (dir) await rm(dir, { recursive: true, force: true })
})

const FILLER = () => join(vol, 'filler')

/** tmpfs: takes all free space but `leave` bytes (with `leave` 0, writes until ENOSPC). */
async function fill(leave: number): Promise<void> {
  const s = await statfs(vol)
  let todo = Number(s.bavail) * Number(s.bsize) - leave
  const handle = await open(FILLER(), 'a')
  const chunk = Buffer.alloc(64 * 1024, 0x5a)
  try {
    while (todo > 0) {
      const { bytesWritten } = await handle.write(chunk, 0, Math.min(chunk.length, todo))
      todo -= bytesWritten
    }
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOSPC' || leave > 0) throw error
  } finally {
    await handle.close()
  }
}

async function unfill(): Promise<void> {
  await rm(FILLER(), { force: true })
}

/** `dbkeeper backup ARGS` on the volume: as is on tmpfs, under `prlimit --fsize` in the fallback. */
async function runFull(args: string[], extra: Record<string, string> = {}, limit = FSIZE_LIMIT): Promise<CliResult> {
  return runCli(args, { ...env, ...extra }, MODE === 'tmpfs' ? {} : { under: ['prlimit', `--fsize=${limit}`, '--'] })
}

/**
 * What must hold after a run the full volume failed: exit 1, a NO_SPACE error that names the
 * file (`writing`) and BACKUP_DIR, nothing left of it, nothing pruned, earlier backups verifying.
 */
async function expectCleanFailure(r: CliResult, writing: RegExp, json = true): Promise<number> {
  expect(r.exitCode, r.all.slice(-3000)).toBe(1)
  let said: string
  if (json) {
    const failed = (JSON.parse(r.stdout) as BackupJson).results.filter((x) => !x.ok)
    expect(failed).toHaveLength(1)
    expect(failed[0]!.error?.code).toBe('NO_SPACE')
    said = `${failed[0]!.error!.message} — ${failed[0]!.error!.hint ?? ''}`
  } else {
    said = r.stderr
  }
  expect(said).toMatch(writing)
  expect(said).toMatch(MODE === 'tmpfs' ? /ENOSPC|disk is full|no space/i : /EFBIG|file size limit|too large/i)
  expect(said).toContain('BACKUP_DIR')
  await unfill()
  // Nothing of the failed backup stays: no temporary file, no data file, checksum or manifest.
  expect(await tempFiles(vol)).toEqual([])
  expect(await debrisOnDisk(vol)).toEqual([])
  // Nothing pruned (the faulty run keeps only one, KEEP_LAST=1), and everything verifies.
  const before = current
  const after = await listJson(env)
  expect(after.map((b) => b.id).sort()).toEqual(before.map((b) => b.id).sort())
  const { lost, details } = await assessLoss(env, before, after)
  expect(details).toEqual([])
  return lost
}

const VOL = () => vol.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')

describe(`disk full (${HOW})`, () => {
  it('the dump stream (mysqldump → gzip) fills the volume', async () => {
    await trial(FAULT, `during the dump stream, gzip (${HOW})`, async () => {
      if (MODE === 'tmpfs') await fill(256 * 1024)
      const r = await runFull(['backup', 'maria', '--json'], { KEEP_LAST: '1' })
      return expectCleanFailure(r, new RegExp(`writing ${VOL()}/maria/.*\\.sql\\.gz\\.dbk-tmp failed`))
    })
  }, 120_000)

  it('the dump stream (mysqldump → zstd) fills the volume', async () => {
    await trial(FAULT, `during the dump stream, zstd (${HOW})`, async () => {
      if (MODE === 'tmpfs') await fill(256 * 1024)
      const r = await runFull(['backup', 'maria', '--json'], { KEEP_LAST: '1', COMPRESSION: 'zstd' })
      return expectCleanFailure(r, new RegExp(`writing ${VOL()}/maria/.*\\.sql\\.zst\\.dbk-tmp failed`))
    })
  }, 120_000)

  // SQLite reports a file size limit as an I/O error, not as a full disk: tmpfs only.
  if (MODE === 'tmpfs')
    it('the SQLite snapshot fills the volume', async () => {
      await trial(FAULT, `during the SQLite snapshot (${HOW})`, async () => {
        if (MODE === 'tmpfs') await fill(64 * 1024)
        const r = await runFull(['backup', 'app', '--json'], { KEEP_LAST: '1' })
        // The snapshot is taken in the run's work directory on the volume.
        return expectCleanFailure(
          r,
          MODE === 'tmpfs' ? new RegExp(`snapshot in ${VOL()}/\\.dbkeeper/tmp/`) : /SQLite snapshot/,
        )
      })
    }, 120_000)

  it('the volume is already full when the run starts', async () => {
    await trial(FAULT, `before the run: the lock cannot be written (${HOW})`, async () => {
      if (MODE === 'tmpfs') await fill(0)
      const r = await runFull(['backup', '--json'], { KEEP_LAST: '1' }, 0)
      return expectCleanFailure(r, new RegExp(`creating the lock file ${VOL()}/\\.dbkeeper/lock`), false)
    })
  }, 120_000)

  if (MODE === 'tmpfs') {
    // The volume fills up at the commit: the run is stopped at a failpoint, the rest of the
    // volume is filled, and the run goes on into the full disk.
    for (const [point, failpoint, writing] of [
      ['at the commit: writing the .sha256', 'backup.verified', /writing .*\.db\.gz\.sha256 failed/],
      ['at the commit: writing the manifest', 'backup.renamed', /writing .*\.db\.gz\.manifest\.json failed/],
    ] as const) {
      it(`the volume fills up ${point.slice(3)}`, async () => {
        await trial(FAULT, `${point} (${HOW})`, async () => {
          const child = startCli(['backup', 'app', '--json'], {
            ...env,
            KEEP_LAST: '1',
            DBKEEPER_FAILPOINTS: failpoint,
          })
          let ended = false
          const done = child.then((r) => {
            ended = true
            return r
          })
          await waitStopped(child.pid!, () => ended, failpoint)
          await fill(0)
          process.kill(child.pid!, 'SIGCONT')
          const r = await done
          return expectCleanFailure(
            {
              exitCode: r.exitCode ?? -1,
              stdout: String(r.stdout),
              stderr: String(r.stderr),
              all: `${String(r.stdout)}\n${String(r.stderr)}`,
            },
            writing,
          )
        })
      }, 120_000)
    }
  }

  it('once space is freed, the next run succeeds', async () => {
    const r = await runCli(['backup'], env)
    expect(r.exitCode, r.all.slice(-3000)).toBe(0)
    expect(await debrisOnDisk(vol)).toEqual([])
  }, 120_000)
})
