/**
 * ENCRYPTION=age with DBnn_PITR: Litestream encrypts every snapshot and WAL segment of the archive
 * to AGE_RECIPIENTS (nothing of the database in plain text on the volume), and `restore --at`
 * reads it back with AGE_IDENTITY_FILE or `--identity` — the identity only ever in a 0600 file,
 * removed after. Without a key, or with the wrong one, the restore is refused and nothing changes.
 */
import Database from 'better-sqlite3'
import { generateIdentity, identityToRecipient } from 'age-encryption'
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parseConfig } from '../../src/config/index.js'
import { startArchivers, type RunningArchivers } from '../../src/daemon/archivers.js'
import { readPitrStates } from '../../src/daemon/pitr-status.js'
import { filesUnder } from '../support/files.js'
import { captureLogger } from '../support/logs.js'
import { cli } from './support.js'

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

describe('restore to a time of an encrypted archive (age)', () => {
  let dir: string
  let env: Record<string, string>
  let identityFile: string
  let otherFile: string
  let identity: string
  let archivers: RunningArchivers | undefined
  const MARK = 'plain-text-marker-7Qx'

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'dbk-at-age-'))
    await mkdir(join(dir, 'data'))
    const live = join(dir, 'data', 'app.db')
    const db = new Database(live)
    db.pragma('journal_mode = WAL')
    db.exec('CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL)')
    identity = await generateIdentity()
    identityFile = join(dir, 'key.txt')
    await writeFile(identityFile, `${identity}\n`, { mode: 0o600 })
    otherFile = join(dir, 'other.txt')
    await writeFile(otherFile, `${await generateIdentity()}\n`, { mode: 0o600 })
    env = {
      DB01_TYPE: 'sqlite',
      DB01_PATH: live,
      DB01_PITR: 'true',
      BACKUP_DIR: join(dir, 'backups'),
      ENCRYPTION: 'age',
      AGE_RECIPIENTS: await identityToRecipient(identity),
    }
    const config = parseConfig(env)
    archivers = await startArchivers(config, captureLogger().logger)
    const insert = db.prepare('INSERT INTO notes (body) VALUES (?)')
    for (let i = 0; i < 40; i++) insert.run(`${MARK} ${i}`)
    db.close()
    // Every row archived before the restores ask for "now"; a host too loaded for that fails here, saying so.
    let last: unknown
    for (let i = 0; ; i++) {
      const [r] = await readPitrStates(config, new Date())
      if (r!.state.ranges.length > 0 && r!.state.lagMs === 0) break
      last = r!.state
      if (i === 300) throw new Error(`the archive did not catch up in 60 s: ${JSON.stringify(last)}`)
      await sleep(200)
    }
  }, 120_000)
  afterAll(async () => {
    await archivers?.stop()
    await rm(dir, { recursive: true, force: true })
  })

  it('holds nothing of the database in plain text', async () => {
    const replica = join(dir, 'backups', 'app', '.pitr', 'app')
    const files = (await filesUnder(replica)).filter((f) => f.endsWith('.lz4'))
    expect(files.length).toBeGreaterThan(1)
    for (const f of files) {
      const bytes = await readFile(join(replica, f))
      expect(bytes.subarray(0, 21).toString(), f).toBe('age-encryption.org/v1')
      expect(bytes.includes(MARK), f).toBe(false)
    }
    const yml = await readFile(join(dir, 'backups', 'app', '.pitr', 'app.litestream.yml'), 'utf8')
    expect(yml).toContain(env.AGE_RECIPIENTS)
    expect(yml).not.toContain('AGE-SECRET-KEY')
  })

  it('restores with AGE_IDENTITY_FILE, and leaves no key behind', async () => {
    const out = join(dir, 'at.db')
    const at = new Date().toISOString()
    const r = await cli(['restore', '--at', at, '--source', 'app', '--to-file', out], {
      ...env,
      AGE_IDENTITY_FILE: identityFile,
    })
    expect(r.exitCode, r.all).toBe(0)
    const db = new Database(out, { readonly: true })
    expect((db.prepare('SELECT COUNT(*) AS n FROM notes').get() as { n: number }).n).toBe(40)
    db.close()
    expect(r.all).not.toContain(identity)
    const tmp = join(dir, 'backups', '.dbkeeper', 'tmp')
    expect(await readdir(tmp).catch(() => [])).toEqual([])
  })

  it('restores with --identity FILE', async () => {
    const out = join(dir, 'at2.db')
    const r = await cli(
      ['restore', '--at', new Date().toISOString(), '--source', 'app', '--to-file', out, '--identity', identityFile],
      env,
    )
    expect(r.exitCode, r.all).toBe(0)
  })

  it('refuses without a key, and with a key of no recipient, writing nothing', async () => {
    const out = join(dir, 'none.db')
    const none = await cli(['restore', '--at', new Date().toISOString(), '--source', 'app', '--to-file', out], env)
    expect(none.exitCode).not.toBe(0)
    expect(none.all).toMatch(/encrypted \(age\), and no key to decrypt it is set/)
    expect(none.all).toContain('AGE_IDENTITY_FILE')
    const wrong = await cli(['restore', '--at', new Date().toISOString(), '--source', 'app', '--to-file', out], {
      ...env,
      AGE_IDENTITY_FILE: otherFile,
    })
    expect(wrong.exitCode).not.toBe(0)
    expect(wrong.all).toContain('is encrypted')
    // Litestream's own reason (it logs to stdout), not "no output".
    expect(wrong.all).toContain(
      'litestream restore exited 1: cannot restore snapshot: no identity matched any of the recipients',
    )
    expect(await readdir(dir)).not.toContain('none.db')
  })
})
