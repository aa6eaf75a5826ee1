/**
 * Issue 10, fault 1: `dbkeeper backup` SIGKILLed at many points of a run — the dump (SQLite
 * snapshot, mysqldump), compression (gzip, zstd, none), verification, the commit's few
 * milliseconds, retention, the journal, and the off-site copy (S3: a real s3rver). Precise points
 * use the product's failpoints (src/runtime/failpoint.ts: the process stops itself there and is
 * SIGKILLed while stopped); the others are chosen by watching the run from /proc and the volume
 * (temporary file size, a child process).
 *
 * After every kill: nothing that is not proven is listed, every backup proven before still
 * verifies (`dbkeeper verify ID --source S`) unless the retention policy was entitled to remove it
 * in that run, its off-site copy too, and the next run succeeds and leaves no debris on the volume.
 *
 * Four volumes, so that each trial re-verifies only what its volume holds and the series run at
 * once: dump/compression (big SQLite + MariaDB), the commit, lock/debris/retention/journal (small
 * SQLite), the off-site copy (S3).
 */
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import { listJson, runCli, startCli } from '../support/cli.js'
import { readLockFile } from '../support/daemon.js'
import { makeSqliteOfSize, s3Env, startS3, type TestS3 } from '../support/s3.js'
import { uniqueName } from '../support/servers.js'
import { rootQuery } from '../backup/mysql-support.js'
import { makeSqliteDb } from '../support/sqlite.js'
import { trial } from '../support/faults/trials.js'
import { assessLoss, keyOf } from '../support/faults/loss-accounting.js'
import { cmdline, descendants, waitGone, waitStopped, whileRunning } from '../support/faults/processes.js'
import { debrisOnDisk, tempFiles } from '../support/faults/volume-files.js'
import type { ListedBackup } from '../../src/cli/commands/list.js'

const FAULT = 'SIGKILL of dbkeeper backup'
const MB = 1024 * 1024

let root: string
let s3: TestS3 | undefined
const maria = {
  db: uniqueName('kill'),
  user: uniqueName('kill_bk'),
  password: `kill-${Math.random().toString(36).slice(2)}`,
}
const running = new Set<number>()
/** The three volumes (set by their series' setup), for the trials' observations. */
let dump: Volume
let state: Volume

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'dbk-kill-'))
  // The SQLite sources, made here: better-sqlite3 is synchronous and would stall the other series.
  // ~16 MB that compresses to ~60%: a dump, a compression and a multipart upload long enough to be watched.
  makeSqliteOfSize(join(root, 'big.db'), 16)
  makeSqliteOfSize(join(root, 'large.db'), 16)
  makeSqliteDb(join(root, 'app.db'), 3000)
  makeSqliteDb(join(root, 'site.db'), 3000)
}, 120_000)

afterAll(async () => {
  for (const pid of running) {
    try {
      process.kill(pid, 'SIGKILL')
    } catch {
      // gone
    }
  }
  await s3?.destroy()
  await rootQuery(`DROP DATABASE IF EXISTS \`${maria.db}\``).catch(() => undefined)
  await rootQuery("DROP USER IF EXISTS ?@'%'", [maria.user]).catch(() => undefined)
  if (root) await rm(root, { recursive: true, force: true })
})

/** One backup volume and the environment of its runs; `current` is what it listed last. */
interface Volume {
  backupDir: string
  env: Record<string, string>
  /** KEEP_LAST of its runs, unless a trial says otherwise. */
  keep: number
  current: ListedBackup[]
}

async function makeVolume(name: string, keep: number, sources: Record<string, string>): Promise<Volume> {
  const backupDir = join(root, name)
  const env = { BACKUP_DIR: backupDir, TZ: 'UTC', KEEP_LAST: String(keep), ...sources }
  return { backupDir, env, keep, current: [] }
}

/** Takes `runs` backups of `sources` on the volume (must succeed) and records what is listed. */
async function baseline(v: Volume, runs: number, sources: string[] = []): Promise<void> {
  for (let i = 0; i < runs; i++) {
    const r = await runCli(['backup', ...sources], v.env)
    expect(r.exitCode, r.all.slice(-3000)).toBe(0)
  }
  v.current = await listJson(v.env)
}

interface KillTrial {
  point: string
  /** The sources the killed run backs up (and the next run). */
  sources: string[]
  /** DBKEEPER_FAILPOINTS for the killed run: it stops itself there. */
  failpoint?: string
  /** Instead of (or after) the failpoint: resolves when it is time to kill. */
  observe?: (pid: number, ended: () => boolean) => Promise<unknown>
  /** Extra environment of the killed run (COMPRESSION, KEEP_LAST). */
  env?: Record<string, string>
  /** Must the volume hold debris right after the kill? (shows where the kill landed) */
  debris?: boolean
  /** Runs before the killed run. */
  before?: () => Promise<void>
  /** Checks right after the kill (before anything else runs). */
  after?: () => Promise<void>
}

/** The newest `keep` backups of one database among `entries`. */
function newest(entries: readonly ListedBackup[], source: string, database: string, keep: number): Set<string> {
  const mine = entries
    .filter((e) => e.source === source && e.database === database)
    .sort((a, b) => b.time.localeCompare(a.time) || b.id.localeCompare(a.id))
  return new Set(mine.slice(0, keep).map(keyOf))
}

async function killTrial(v: Volume, t: KillTrial): Promise<number> {
  const before = v.current
  await t.before?.()
  const runEnv = { ...v.env, ...t.env, ...(t.failpoint ? { DBKEEPER_FAILPOINTS: t.failpoint } : {}) }
  const child = startCli(['backup', ...t.sources], runEnv)
  const pid = child.pid!
  running.add(pid)
  let ended = false
  const result = child.then((r) => {
    ended = true
    running.delete(pid)
    return r
  })
  try {
    if (t.failpoint) await waitStopped(pid, () => ended, t.failpoint)
    if (t.observe) await t.observe(pid, () => ended)
  } catch (error) {
    if (!ended) process.kill(pid, 'SIGKILL')
    const r = await result
    throw new Error(`${(error as Error).message}\n--- the run's output ---\n${String(r.stderr).slice(-3000)}`)
  }
  const orphans = descendants(pid)
  process.kill(pid, 'SIGKILL')
  const killed = await result
  expect(killed.signal, 'the run must have been killed, not have ended by itself').toBe('SIGKILL')
  // What a killed run leaves running (a dump tool, zstd, the SQLite child) ends by itself (EPIPE/EOF).
  await waitGone(orphans)

  // The run's own work directory is there while it runs: not what `debris` is about.
  const debris = (await debrisOnDisk(v.backupDir)).filter((d) => !d.startsWith('.dbkeeper/tmp/'))
  if (t.debris !== undefined)
    expect(debris.length > 0, `debris right after the kill: ${debris.join(', ')}`).toBe(t.debris)
  await t.after?.()

  const after = await listJson(v.env)
  // Retention may remove a backup only in a run that committed a new one of that database, and
  // only one the policy does not keep.
  const keep = Number(t.env?.KEEP_LAST ?? v.keep)
  const beforeKeys = new Set(before.map(keyOf))
  const mayGo = (b: ListedBackup) =>
    (t.sources.length === 0 || t.sources.includes(b.source)) &&
    after.some((a) => a.source === b.source && a.database === b.database && !beforeKeys.has(keyOf(a))) &&
    !newest([...before, ...after], b.source, b.database, keep).has(keyOf(b))
  const { lost, details } = await assessLoss(v.env, before, after, mayGo)
  expect(details).toEqual([])

  // The next run succeeds and removes the debris (of every database, whichever it backs up).
  const next = await runCli(['backup', ...t.sources], v.env)
  expect(next.exitCode, next.all.slice(-3000)).toBe(0)
  expect(await debrisOnDisk(v.backupDir)).toEqual([])
  expect(await readLockFile(v.backupDir)).toBeUndefined()
  v.current = await listJson(v.env)
  return lost
}

const hasTemp = async (v: Volume, min: number) => (await tempFiles(v.backupDir)).some((f) => f.size >= min)
const childMatching = (pid: number, pattern: RegExp) => descendants(pid).some((p) => pattern.test(cmdline(p)))

/**
 * One volume's trials, in order (each starts from what the one before left). The volumes are
 * independent, so their series run at once (it.concurrent): the file's wall time is the longest
 * series, not the sum. A failed trial ends its series: the volume's state is then unknown.
 */
function series(name: string, setup: () => Promise<Volume>, trials: KillTrial[]): void {
  SERIES.push(trials.length)
  it.concurrent(
    `${name}: ${trials.length} kill points`,
    async () => {
      const v = await setup()
      for (const t of trials) {
        try {
          await trial(FAULT, t.point, () => killTrial(v, t))
        } catch (error) {
          throw new Error(`killed at "${t.point}": ${(error as Error).message}`, { cause: error })
        }
      }
    },
    600_000,
  )
}

const SERIES: number[] = []

describe('SIGKILL of `dbkeeper backup`', () => {
  series(
    'during the dump, compression and verification (big SQLite, MariaDB)',
    async () => {
      // ~30 MB of SQL from mysqldump: long enough to be watched.
      await rootQuery(`CREATE DATABASE \`${maria.db}\``)
      await rootQuery('CREATE TABLE t (id INT PRIMARY KEY, label VARCHAR(100), payload VARBINARY(32))', [], maria.db)
      await rootQuery(
        "INSERT INTO t SELECT seq, CONCAT('row ', seq, ' ', MD5(seq)), UNHEX(SHA2(seq, 256)) FROM seq_1_to_250000",
        [],
        maria.db,
      )
      await rootQuery("CREATE USER ?@'%' IDENTIFIED BY ?", [maria.user, maria.password])
      await rootQuery(`GRANT SELECT, SHOW VIEW, TRIGGER, EVENT, LOCK TABLES ON \`${maria.db}\`.* TO ?@'%'`, [
        maria.user,
      ])
      await rootQuery("GRANT SELECT ON mysql.proc TO ?@'%'", [maria.user])
      const passFile = join(root, 'maria_password')
      await writeFile(passFile, maria.password, { mode: 0o600 })
      const info = inject('mariadb')
      const v = await makeVolume('dump', 1, {
        DB01_TYPE: 'sqlite',
        DB01_PATH: join(root, 'big.db'),
        DB01_LABEL: 'big',
        DB02_TYPE: 'mariadb',
        DB02_HOST: info.host,
        DB02_PORT: String(info.port),
        DB02_USER: maria.user,
        DB02_PASS_FILE: passFile,
        DB02_NAME: maria.db,
        DB02_LABEL: 'maria',
      })
      await baseline(v, 1)
      expect(v.current).toHaveLength(2)
      dump = v
      return v
    },
    [
      {
        point: 'dump: SQLite snapshot child running (observed)',
        sources: ['big'],
        observe: (pid, ended) =>
          whileRunning(ended, () => childMatching(pid, /snapshot-child/), 'the SQLite snapshot child'),
      },
      {
        point: 'dump + gzip: temporary file at 1 MB (observed)',
        sources: ['big'],
        observe: (pid, ended) => whileRunning(ended, () => hasTemp(dump, MB), 'a 1 MB temporary file'),
        debris: true,
      },
      {
        point: 'dump + zstd: temporary file at 2 MB (observed)',
        sources: ['big'],
        env: { COMPRESSION: 'zstd' },
        observe: (pid, ended) => whileRunning(ended, () => hasTemp(dump, 2 * MB), 'a 2 MB temporary file'),
        debris: true,
      },
      {
        // Stopped, not observed: the 16 MB dump is written in under a second, and a poll for a
        // 6 MB file missed that window on a loaded host (CI). The read-back follows the file as
        // it is written, so its 24th 256 KiB chunk means 6 MiB of it are on disk, uncommitted.
        point: 'dump, no compression: temporary file at 6 MB (the read-back at 6 MiB)',
        sources: ['big'],
        env: { COMPRESSION: 'none' },
        failpoint: 'backup.read-back:24',
        observe: async () => expect(await hasTemp(dump, 6 * MB), 'a 6 MB temporary file').toBe(true),
        debris: true,
      },
      {
        point: 'dump: mysqldump running, temporary file at 256 KB (observed)',
        sources: ['maria'],
        observe: (pid, ended) =>
          whileRunning(
            ended,
            async () => childMatching(pid, /mysqldump|mariadb-dump/) && (await hasTemp(dump, 256 * 1024)),
            'mysqldump writing',
          ),
        debris: true,
      },
      {
        // The read-back follows the file as it is written (verify.ts): stopped at its 3rd chunk.
        point: 'during verification: the read-back under way',
        sources: ['big'],
        failpoint: 'backup.read-back:3',
        debris: true,
      },
    ],
  )

  series(
    'taking the lock, cleaning debris, retention and the journal (small SQLite)',
    async () => {
      const v = await makeVolume('state', 2, {
        DB01_TYPE: 'sqlite',
        DB01_PATH: join(root, 'app.db'),
        DB01_LABEL: 'app',
      })
      await baseline(v, 2)
      expect(v.current).toHaveLength(2)
      state = v
      return v
    },
    [
      {
        point: 'taking the lock: written under its private name, not yet in place',
        sources: [],
        failpoint: 'lock.written',
        // Debris of the lock: the next run takes the lock and removes it.
        after: async () =>
          expect((await readdir(join(state.backupDir, '.dbkeeper'))).filter((f) => f.startsWith('lock'))).toEqual([
            expect.stringMatching(/^lock\.\d+\.tmp$/),
          ]),
      },
      {
        point: 'cleaning the debris of an earlier killed run',
        sources: [],
        failpoint: 'debris.removed',
        before: async () => {
          const db = join(state.backupDir, 'app', 'app')
          for (const name of [
            '.app_20200101T000000Z.db.gz.dbk-tmp',
            'app_20200101T000001Z.db.gz',
            'app_20200101T000001Z.db.gz.sha256',
          ])
            await writeFile(join(db, name), 'x')
        },
        debris: true,
      },
      {
        point: 'retention: manifest deleted, data file not yet',
        sources: [],
        failpoint: 'retention.manifest-removed',
        debris: true,
      },
      {
        point: 'retention: between two deletions',
        sources: [],
        failpoint: 'retention.backup-removed',
        env: { KEEP_LAST: '1' },
        debris: false,
      },
      {
        point: 'journal written, before the lock is released',
        sources: [],
        failpoint: 'run.journal-written',
        debris: false,
      },
    ],
  )

  series(
    'during verification and the commit (small SQLite)',
    async () => {
      const v = await makeVolume('commit', 2, {
        DB01_TYPE: 'sqlite',
        DB01_PATH: join(root, 'app.db'),
        DB01_LABEL: 'app',
      })
      await baseline(v, 2)
      expect(v.current).toHaveLength(2)
      return v
    },
    [
      { point: 'temporary file created', sources: [], failpoint: 'backup.tmp-created', debris: true },
      {
        point: 'dump and compression done, before verification',
        sources: [],
        failpoint: 'backup.before-verify',
        debris: true,
      },
      { point: 'verified, before the commit', sources: [], failpoint: 'backup.verified', debris: true },
      {
        point: 'commit: .sha256 in place, data not linked',
        sources: [],
        failpoint: 'backup.sidecar-written',
        debris: true,
      },
      {
        point: 'commit: data linked, temporary name not yet removed',
        sources: [],
        failpoint: 'commit.linked',
        debris: true,
      },
      { point: 'commit: data in place, no manifest', sources: [], failpoint: 'backup.renamed', debris: true },
      // The second atomic write of a run is the manifest (the first is the .sha256).
      {
        point: 'commit: manifest written to its temporary name',
        sources: [],
        failpoint: 'atomic-write.synced:2',
        debris: true,
      },
      {
        point: 'commit: manifest in place, before retention and journal',
        sources: [],
        failpoint: 'backup.committed',
        debris: false,
      },
    ],
  )

  series(
    'during the off-site copy (S3)',
    async () => {
      s3 = await startS3()
      const v = await makeVolume('offsite', 2, {
        DB01_TYPE: 'sqlite',
        DB01_PATH: join(root, 'site.db'),
        DB01_LABEL: 'site',
        DB02_TYPE: 'sqlite',
        DB02_PATH: join(root, 'large.db'),
        DB02_LABEL: 'large',
        ...s3Env(s3.endpoint, 'kill'),
      })
      await baseline(v, 2, ['site'])
      expect(v.current.filter((b) => b.location === 'both')).toHaveLength(2)
      return v
    },
    [
      { point: 'upload: data object complete, before its metadata', sources: ['site'], failpoint: 's3.uploaded' },
      {
        point: 'upload: data object confirmed, before its .sha256 object',
        sources: ['site'],
        failpoint: 'offsite.confirmed',
        debris: false,
      },
      {
        point: 'upload: .sha256 object stored, before the manifest object',
        sources: ['site'],
        failpoint: 'offsite.before-manifest',
        debris: false,
      },
      {
        point: 'upload: manifest object stored, before off-site retention',
        sources: ['site'],
        failpoint: 'offsite.committed',
        debris: false,
      },
      {
        point: 'off-site retention: between two deletions',
        sources: ['site'],
        failpoint: 's3-retention.backup-removed',
        env: { KEEP_LAST: '1' },
        debris: false,
      },
      // Last: from here on every trial would re-verify the large backup too.
      { point: 'upload: first 8 MiB part stored', sources: ['large'], failpoint: 's3.part-uploaded' },
    ],
  )

  it('has at least 20 kill points', () => {
    expect(SERIES.reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(20)
  })
})
