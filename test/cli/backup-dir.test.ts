/**
 * BACKUP_DIR, as a user meets it (issue 15, item 3): outside the container it must be set; only its
 * last component is ever created; a missing parent is refused as a likely typo, naming the parent
 * and the next step — by every command that touches the volume, and by the daemon's runs.
 */
import { existsSync, mkdirSync, renameSync, rmSync, statSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { runCli } from '../support/cli.js'
import { daemonTestContext, EVERY_SECOND, FAR_AWAY, LOADED_MACHINE_TIMEOUT_MS, startDaemon } from '../support/daemon.js'
import { makeSqliteDb } from '../support/sqlite.js'

let tmp: string
let source: Record<string, string>

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'dbk-backup-dir-'))
  makeSqliteDb(join(tmp, 'notes.db'), 50)
  source = { DB01_TYPE: 'sqlite', DB01_PATH: join(tmp, 'notes.db'), DB01_LABEL: 'notes' }
})
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true })
})

describe('BACKUP_DIR unset (outside the container)', () => {
  it('is a configuration error for every command, saying what to set; nothing is created', async () => {
    const cwd = join(tmp, 'unset-cwd')
    mkdirSync(cwd)
    const hadBackups = existsSync('/backups')
    for (const args of [['backup'], ['list'], ['status'], ['config']]) {
      const r = await runCli(args, source, { cwd })
      expect(r.exitCode, `${args.join(' ')}: ${r.all}`).toBe(2)
      expect(r.stderr).toContain('BACKUP_DIR: expected the directory backups go to, e.g. BACKUP_DIR=/srv/backups')
      expect(r.stderr).toContain('the container image sets /backups')
      expect(r.stderr).toContain('it is not set')
    }
    expect(existsSync('/backups')).toBe(hadBackups)
  })
})

describe('BACKUP_DIR whose parent is missing (a typo)', () => {
  it('is refused by every command on the volume, naming the missing parent and the next step; nothing is created', async () => {
    const parent = join(tmp, 'bakups')
    const dir = join(parent, 'notes')
    for (const args of [['backup'], ['list'], ['status'], ['prune'], ['verify'], ['restore', 'notes', '--yes']]) {
      const r = await runCli(args, { ...source, BACKUP_DIR: dir })
      expect(r.exitCode, `${args.join(' ')}: ${r.all}`).toBe(2)
      expect(r.stderr).toContain(
        `BACKUP_DIR ${dir}: its parent ${parent} does not exist (the nearest directory that does is ${tmp}) — a typo in BACKUP_DIR?`,
      )
      expect(r.stderr).toContain(
        `check the spelling of BACKUP_DIR; if ${parent} is meant to be new, create it yourself (mkdir -p ${parent})`,
      )
      expect(existsSync(parent), `${args.join(' ')} created ${parent}`).toBe(false)
    }
  })

  it('is a failed check in `dbkeeper check`, the other checks still listed', async () => {
    const parent = join(tmp, 'chek')
    const r = await runCli(['check'], { ...source, BACKUP_DIR: join(parent, 'backups') })
    expect(r.exitCode, r.all).toBe(1)
    expect(r.stdout).toContain(`FAILED backup volume ${join(parent, 'backups')}: BACKUP_DIR`)
    expect(r.stdout).toContain(`its parent ${parent} does not exist`)
    expect(r.stdout).toMatch(/source notes \(DB01, sqlite\)/)
    expect(existsSync(parent)).toBe(false)
  })

  it('stops the daemon at start with exit 2', async () => {
    const parent = join(tmp, 'daemon-typo')
    const r = await runCli(['daemon'], { ...source, BACKUP_DIR: join(parent, 'backups'), SCHEDULE: FAR_AWAY })
    expect(r.exitCode, r.all).toBe(2)
    expect(r.stderr).toContain(`its parent ${parent} does not exist`)
    expect(existsSync(parent)).toBe(false)
  })
})

describe('BACKUP_DIR whose last component is missing', () => {
  it('is created by the first backup (0700), and only it; list before that is simply empty', async () => {
    const dir = join(tmp, 'fresh')
    const list = await runCli(['list'], { ...source, BACKUP_DIR: dir })
    expect(list.exitCode, list.all).toBe(0)
    expect(list.stdout).toContain(`no backups in ${dir}`)
    expect(existsSync(dir), 'list must not create BACKUP_DIR').toBe(false)

    const r = await runCli(['backup'], { ...source, BACKUP_DIR: dir })
    expect(r.exitCode, r.all).toBe(0)
    expect(statSync(dir).mode & 0o777).toBe(0o700)
  })

  it('resolves a relative BACKUP_DIR against the working directory, as the demo uses it', async () => {
    const cwd = join(tmp, 'relative-cwd')
    mkdirSync(cwd)
    const r = await runCli(['backup'], { ...source, BACKUP_DIR: 'backups' }, { cwd })
    expect(r.exitCode, r.all).toBe(0)
    expect(existsSync(join(cwd, 'backups', 'notes'))).toBe(true)
  })
})

describe('the daemon, run after run', () => {
  const t = daemonTestContext('dbk-backup-dir-daemon-')

  it(
    'never re-creates a volume that went away with its parent (unmounted): the run fails naming the parent',
    { timeout: LOADED_MACHINE_TIMEOUT_MS },
    async () => {
      makeSqliteDb(t.dbPath, 50)
      const mount = join(t.dir, 'mnt')
      mkdirSync(mount)
      const daemon = startDaemon(t.env({ BACKUP_DIR: join(mount, 'backups'), SCHEDULE: EVERY_SECOND }))
      await daemon.waitForLog((l) => /^run finished: 1 backup\(s\) proven/.test(l.msg), 'a first proven run')
      // Whenever it lands, in a run or between two: a run in progress fails its next write
      // (runtime/durable.ts ensureDir `within`), the next run is refused before it starts.
      // The mount goes in one step, as an unmount does: a recursive rm removes the volume's
      // contents first, and a run's write between those and the mount point itself rightly
      // re-creates them under the still-present parent, failing the rm with ENOTEMPTY (CI, once).
      renameSync(mount, `${mount}.unmounted`)
      rmSync(`${mount}.unmounted`, { recursive: true, force: true })
      // The run in progress may fail first, before any backup too, with ensureDir's own words
      // ("ENOENT: <mount> does not exist (not created: it must exist)", CI once): wait for the
      // next run's refusal, which names the parent (a daemon that never refuses times out here).
      const failed = await daemon.waitForLog(
        (l) => l.msg.startsWith('run failed before any backup') && l.msg.includes('its parent'),
        'a run refused for the missing parent',
      )
      expect(failed.msg).toContain(`its parent ${mount} does not exist`)
      expect(existsSync(mount), 'the daemon re-created the missing parent').toBe(false)
      expect(daemon.running()).toBe(true)
    },
  )
})
