/**
 * Issue 10, corrupted backups: proven SQLite backups are damaged on the volume the ways disks,
 * people and scripts damage them — a flipped bit, a truncated or emptied file, a deleted or
 * garbled manifest, a manifest naming another backup's file or a wrong sha256, a data file
 * swapped for another backup's. Every time `dbkeeper verify` and `dbkeeper restore` refuse the
 * backup with a message that says why (exit non-zero), the restore target stays byte for byte as
 * it was (no safety backup either), `dbkeeper list` marks the backup damaged or does not list it
 * (a backup without a valid manifest does not exist), `list --verify` marks what only a full
 * read finds, and every other proven backup stays proven.
 */
import { createHash } from 'node:crypto'
import { mkdtemp, readdir, readFile, rm, stat, truncate, unlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { listJson, runCli } from '../support/cli.js'
import { makeSqliteDb } from '../support/sqlite.js'
import { trial } from '../support/faults/trials.js'
import { lostBackups, provenBackups, type ProvenBackup } from '../support/faults/loss-accounting.js'
import { sha256File } from '../support/files.js'
import type { ListedBackup } from '../../src/cli/commands/list.js'

const FAULT = 'corrupted backup'
const SOURCES = 6

let dir: string
let env: Record<string, string>
/** label → [baseline backup, victim 1, victim 2] (list entries), oldest first. */
const backups = new Map<string, ListedBackup[]>()
/** Proven before any damage, minus the victims: must all survive. */
let keep: Map<string, ProvenBackup>

const label = (i: number) => `c${i}`
const dbPath = (l: string) => join(dir, `${l}.db`)

async function addRow(l: string, i: number): Promise<void> {
  const db = new Database(dbPath(l))
  db.prepare('INSERT INTO items (name, payload) VALUES (?, ?)').run(`extra ${i}`, 'x'.repeat(500 + i * 37))
  db.close()
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'dbk-faults-corrupt-'))
  env = { BACKUP_DIR: join(dir, 'backups'), TZ: 'UTC', KEEP_LAST: '100' }
  for (let i = 1; i <= SOURCES; i++) {
    makeSqliteDb(dbPath(label(i)), 400 + i * 50)
    Object.assign(env, { [`DB0${i}_TYPE`]: 'sqlite', [`DB0${i}_PATH`]: dbPath(label(i)), [`DB0${i}_LABEL`]: label(i) })
  }
  // Three runs: a baseline backup of every source, then two victims each; the content changes
  // between runs, so that no two backups of a source are the same bytes.
  for (let run = 0; run < 3; run++) {
    if (run > 0) for (let i = 1; i <= SOURCES; i++) await addRow(label(i), run)
    const r = await runCli(['backup'], env)
    if (r.exitCode !== 0) throw new Error(`backup failed:\n${r.all}`)
  }
  const listed = await listJson(env)
  for (let i = 1; i <= SOURCES; i++) backups.set(label(i), listed.filter((b) => b.source === label(i)).reverse())
  const proven = await provenBackups(env)
  expect(proven.size).toBe(SOURCES * 3)
  keep = new Map([...proven].filter(([, b]) => [...backups.values()].some((list) => list[0]!.path === b.path)))
  expect(keep.size).toBe(SOURCES)
}, 120_000)

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true })
})

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex')

async function fileState(path: string): Promise<string> {
  const s = await stat(path).catch(() => undefined)
  return s ? `${s.size} ${s.mtimeMs} ${await sha256File(path)}` : 'missing'
}

/** How `list` (without --verify) must show the damaged backup. */
type Listing = 'marked' | 'absent' | 'only --verify'

interface Damage {
  point: string
  /** Which victim: source number and 1 or 2. */
  source: number
  victim: 1 | 2
  damage: (v: ListedBackup, base: ListedBackup) => Promise<void>
  listing: Listing
  /** What verify and restore must say. */
  message: RegExp
}

const manifestOf = (path: string) => `${path}.manifest.json`

async function editManifest(path: string, edit: (m: Record<string, unknown>) => void): Promise<void> {
  const m = JSON.parse(await readFile(manifestOf(path), 'utf8')) as Record<string, unknown>
  edit(m)
  await writeFile(manifestOf(path), `${JSON.stringify(m, null, 2)}\n`)
}

const REFUSED = /is damaged and was refused: .*nothing was changed/

async function runTrial(d: Damage): Promise<void> {
  const l = label(d.source)
  const [base, ...victims] = backups.get(l)!
  const v = victims[d.victim - 1]!
  await trial(FAULT, d.point, async () => {
    const target = dbPath(l)
    const targetBefore = await fileState(target)
    await d.damage(v, base!)

    // list: marked, or not listed at all; never shown as a good backup.
    const listedAfterDamage = await listJson(env)
    const safetyBefore = listedAfterDamage.filter((b) => b.kind === 'pre-restore').length
    const listed = listedAfterDamage.find((b) => b.source === l && b.id === v.id)
    if (d.listing === 'marked') expect(listed?.problem, `list marks ${v.id}`).toMatch(/\S/)
    else if (d.listing === 'absent') expect(listed, `${v.id} is not listed`).toBeUndefined()
    else expect(listed?.problem).toBeUndefined()
    if (d.listing !== 'absent') {
      const full = await runCli(['list', '--json', '--verify'], env)
      expect(full.exitCode, full.all).toBe(1)
      const marked = (JSON.parse(full.stdout) as ListedBackup[])
        .filter((b) => b.problem !== undefined)
        .map((b) => `${b.source}/${b.id}`)
      expect(marked, 'list --verify marks this backup and only the damaged ones').toContain(`${l}/${v.id}`)
      for (const k of keep.keys()) expect(marked).not.toContain(k)
    }

    const verify = await runCli(['verify', v.id, '--source', l], env)
    expect(verify.exitCode, verify.all).not.toBe(0)
    expect(verify.all).toMatch(d.message)

    const restore = await runCli(['restore', v.id, '--source', l, '--yes'], env)
    expect(restore.exitCode, restore.all).not.toBe(0)
    expect(restore.stderr).toMatch(d.message)
    expect(await fileState(target), 'the restore target is untouched').toBe(targetBefore)
    expect(
      (await readdir(dir)).filter((f) => f.includes('dbk-restore')),
      'no restore leftovers beside the target',
    ).toEqual([])

    const listedAfter = await listJson(env)
    expect(listedAfter.filter((b) => b.kind === 'pre-restore').length, 'no safety backup was taken').toBe(safetyBefore)
    const lost = lostBackups(keep, await provenBackups(env, listedAfter))
    expect(lost).toEqual([])
    return lost.length
  })
}

const damages: Damage[] = [
  {
    point: 'one bit flipped in the middle of the data file',
    source: 1,
    victim: 1,
    listing: 'only --verify',
    message: REFUSED,
    damage: async (v) => {
      const data = await readFile(v.path)
      data[data.length >> 1] = data[data.length >> 1]! ^ 0x10
      await writeFile(v.path, data)
    },
  },
  {
    point: 'one bit flipped in the gzip trailer (last byte)',
    source: 1,
    victim: 2,
    listing: 'only --verify',
    message: REFUSED,
    damage: async (v) => {
      const data = await readFile(v.path)
      data[data.length - 1] = data[data.length - 1]! ^ 0x01
      await writeFile(v.path, data)
    },
  },
  {
    point: 'data file truncated to half',
    source: 2,
    victim: 1,
    listing: 'marked',
    message: REFUSED,
    damage: async (v) => truncate(v.path, v.size >> 1),
  },
  {
    point: 'data file emptied (0 bytes)',
    source: 2,
    victim: 2,
    listing: 'marked',
    message: REFUSED,
    damage: async (v) => truncate(v.path, 0),
  },
  {
    point: 'data file deleted',
    source: 3,
    victim: 1,
    listing: 'marked',
    message: REFUSED,
    damage: async (v) => unlink(v.path),
  },
  {
    point: 'manifest deleted',
    source: 3,
    victim: 2,
    listing: 'absent',
    message: /there is no backup .* of c3/,
    damage: async (v) => unlink(manifestOf(v.path)),
  },
  {
    point: "manifest names another backup's data file",
    source: 4,
    victim: 1,
    listing: 'absent',
    message: /there is no backup .* of c4/,
    damage: async (v, base) =>
      editManifest(v.path, (m) => {
        m.file = base.path.slice(base.path.lastIndexOf('/') + 1)
      }),
  },
  {
    point: 'manifest garbled (cut in the middle)',
    source: 4,
    victim: 2,
    listing: 'absent',
    message: /there is no backup .* of c4/,
    damage: async (v) => truncate(manifestOf(v.path), 200),
  },
  {
    point: 'manifest with a wrong sha256 (the .sha256 file disagrees)',
    source: 5,
    victim: 1,
    listing: 'marked',
    message: REFUSED,
    damage: async (v) =>
      editManifest(v.path, (m) => {
        ;(m.compressed as { sha256: string }).sha256 = sha256(Buffer.from('not the backup'))
      }),
  },
  {
    point: 'manifest and .sha256 both with a wrong sha256',
    source: 5,
    victim: 2,
    listing: 'only --verify',
    message: REFUSED,
    damage: async (v) => {
      const wrong = sha256(Buffer.from('not the backup either'))
      await editManifest(v.path, (m) => {
        ;(m.compressed as { sha256: string }).sha256 = wrong
      })
      await writeFile(`${v.path}.sha256`, `${wrong}  ${v.path.slice(v.path.lastIndexOf('/') + 1)}\n`)
    },
  },
  {
    point: 'manifest with a wrong content sha256 (raw)',
    source: 6,
    victim: 1,
    listing: 'only --verify',
    message: REFUSED,
    damage: async (v) =>
      editManifest(v.path, (m) => {
        ;(m.raw as { sha256: string }).sha256 = sha256(Buffer.from('other content'))
      }),
  },
  {
    point: "data file replaced by another backup's data file",
    source: 6,
    victim: 2,
    listing: 'marked',
    message: REFUSED,
    damage: async (v, base) => {
      await writeFile(v.path, await readFile(base.path))
      // Same size as the victim's, so that only the content tells them apart (as with a disk
      // that returned the wrong block): pad or cut the other backup's bytes.
      await truncate(v.path, v.size)
    },
  },
]
// The swapped file keeps the victim's size: only a full read can tell.
damages.at(-1)!.listing = 'only --verify'

describe('corrupted backups are refused and marked (fault injection)', () => {
  it.each(damages)(
    '$point',
    async (d) => {
      await runTrial(d)
    },
    60_000,
  )

  it('the next run succeeds, leaves every damaged backup for inspection, and loses nothing', async () => {
    await trial(FAULT, 'a backup run after all the damage', async () => {
      const r = await runCli(['backup', '--json'], env)
      expect(r.exitCode, r.all).toBe(0)
      const listed = await listJson(env)
      // Damaged backups are left for inspection, never removed by retention or the debris cleanup;
      // only the data file whose manifest was deleted is debris now (never committed, by the rules).
      for (const d of damages.filter((x) => x.listing !== 'absent')) {
        const v = backups.get(label(d.source))![d.victim]!
        if (d.listing === 'marked')
          expect(listed.find((b) => b.id === v.id && b.source === v.source)?.problem, d.point).toMatch(/\S/)
        else
          expect(
            listed.some((b) => b.id === v.id && b.source === v.source),
            d.point,
          ).toBe(true)
      }
      const lost = lostBackups(keep, await provenBackups(env))
      expect(lost).toEqual([])
      return lost.length
    })
  }, 60_000)
})
