/**
 * A backup is read with the codec its manifest records, not the one its file name suggests: a zstd
 * backup renamed to `.gz` still verifies and restores, and a codec this dbkeeper does not know is
 * refused with the kind and the next step named, the live file untouched. Through the real CLI
 * and the incident script, on SQLite (no server needed) and the real zstd binary.
 */
import { mkdir, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { basename, dirname, join } from 'node:path'
import { execa } from 'execa'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { encodeManifest, type Manifest } from '../../src/catalog/manifest.js'
import { CHECKSUM_SUFFIX, MANIFEST_SUFFIX } from '../../src/catalog/naming.js'
import { CODECS, COMPRESSION_KINDS, ENCRYPTION_KINDS } from '../../src/config/codecs.js'
import { ROOT } from '../support/cli.js'
import { countItems as count, makeSqliteDb } from '../support/sqlite.js'
import { sha256File as sha } from '../support/files.js'
import { backupNow, cli, listNow, readManifest } from './support.js'

const SCRIPTS = ['restore-mysql.sh', 'restore-postgres.sh', 'restore-sqlite.sh']
const restoreSqlite = (args: string[]) =>
  execa('bash', [join(ROOT, 'scripts', 'restore-sqlite.sh'), ...args], {
    env: { PATH: process.env.PATH ?? '' },
    extendEnv: false,
    reject: false,
    stdin: 'ignore',
  })

/** Moves a backup's three files to `newName` and rewrites the manifest with `patch`, as an operator's `mv` plus edit would. */
async function moveBackup(dataPath: string, newName: string, patch: Partial<Manifest> = {}): Promise<string> {
  const old = await readManifest(dataPath)
  const path = join(dirname(dataPath), newName)
  await rename(dataPath, path)
  await rm(`${dataPath}${CHECKSUM_SUFFIX}`)
  await rm(`${dataPath}${MANIFEST_SUFFIX}`)
  await writeFile(`${path}${CHECKSUM_SUFFIX}`, `${old.compressed.sha256}  ${basename(path)}\n`)
  await writeFile(
    `${path}${MANIFEST_SUFFIX}`,
    encodeManifest({ ...old, file: newName, locations: { local: path }, ...patch }),
  )
  return path
}

describe('readers follow the manifest, not the file name', () => {
  let dir: string
  let live: string
  let env: Record<string, string>
  let backupPath: string

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'dbk-codec-'))
    live = join(dir, 'data', 'notes.db')
    await mkdir(join(dir, 'data'))
    makeSqliteDb(live, 3000)
    env = {
      DB01_TYPE: 'sqlite',
      DB01_PATH: live,
      DB01_LABEL: 'notes',
      BACKUP_DIR: join(dir, 'backups'),
      COMPRESSION: 'zstd',
    }
    backupPath = (await backupNow(env))[0]!.path!
    expect(backupPath).toMatch(/\.db\.zst$/)
  })
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  it('a zstd backup renamed to .gz verifies and restores (today configured for gzip)', async () => {
    const manifest = await readManifest(backupPath)
    expect(manifest.compression.kind).toBe('zstd')
    backupPath = await moveBackup(backupPath, basename(backupPath).replace(/\.zst$/, '.gz'))
    const gzipEnv = { ...env, COMPRESSION: 'gzip' }

    const verify = await cli(['verify', manifest.id, '--source', 'notes'], gzipEnv)
    expect(verify.exitCode, verify.all).toBe(0)

    makeSqliteDb(join(dir, 'other.db'), 10)
    await rename(join(dir, 'other.db'), live)
    expect(count(live)).toBe(10)
    const r = await cli(['restore', manifest.id, '--source', 'notes', '--yes', '--no-safety-backup'], gzipEnv)
    expect(r.exitCode, r.all).toBe(0)
    expect(count(live)).toBe(3000)

    // The incident script reads the manifest beside the file too.
    const copy = join(dir, 'script-copy.db')
    const script = await restoreSqlite(['--yes', '--no-safety-copy', backupPath, copy])
    expect(script.exitCode, script.stderr).toBe(0)
    expect(count(copy)).toBe(3000)
  })

  it('a codec this dbkeeper does not know is refused naming it and the next step; the file is untouched and the backup still listed', async () => {
    const manifest = await readManifest(backupPath)
    const text = await readFile(`${backupPath}${MANIFEST_SUFFIX}`, 'utf8')
    await writeFile(`${backupPath}${MANIFEST_SUFFIX}`, text.replace(/"kind": "zstd"/, '"kind": "brotli"'))
    const listed = await listNow(env)
    expect(listed.map((b) => [b.id, b.compression])).toContainEqual([manifest.id, 'brotli'])

    const before = await sha(live)
    const r = await cli(['restore', manifest.id, '--source', 'notes', '--yes'], env)
    expect(r.exitCode, r.all).toBe(1)
    expect(r.stderr).toContain(
      `backup ${manifest.id} is compressed with "brotli", which this dbkeeper cannot read (it reads gzip, zstd, none)`,
    )
    expect(r.stderr).toMatch(
      /use the dbkeeper version that wrote it, or decompress \S+ by hand and restore it with scripts\/restore-sqlite\.sh/,
    )
    expect(r.stderr).not.toContain('damaged')
    expect(await sha(live)).toBe(before)

    const verify = await cli(['verify', manifest.id, '--source', 'notes'], env)
    expect(verify.exitCode, verify.all).toBe(1)
    expect(verify.all).toContain('is compressed with "brotli"')

    const script = await restoreSqlite(['--yes', backupPath, live])
    expect(script.exitCode, script.stderr).toBe(1)
    expect(script.stderr).toContain('says the file is compressed with "brotli", which this script cannot read')
    expect(await sha(live)).toBe(before)
  })

  it('every incident script knows every codec of the table, by manifest kind and by extension', async () => {
    for (const name of SCRIPTS) {
      const text = await readFile(join(ROOT, 'scripts', name), 'utf8')
      for (const kind of COMPRESSION_KINDS) {
        expect(text, `${name}: ${kind}`).toMatch(new RegExp(`^  ${kind}\\) unpack\\(\\)`, 'm'))
        const ext = CODECS[kind].ext
        if (ext !== '') expect(text, `${name}: ${ext}`).toContain(`    *${ext}) codec=${kind} ;;`)
      }
      // The encryption stage: by the manifest's field and by the extension, decrypted before unpacking.
      for (const kind of ENCRYPTION_KINDS) {
        expect(text, `${name}: ${kind}`).toContain(`[[ $file == *${CODECS[kind].ext} ]]`)
        expect(text, `${name}: ${kind}`).toContain('decrypt "$1" | unpack')
      }
    }
  })
})
