/**
 * ENCRYPTION=age end to end on real MariaDB: backup with public keys only; each recipient restores
 * with `age -d -i KEY | gunzip | mariadb` and nothing of ours; `dbkeeper restore` with the
 * identity restores exactly; the marker is not in the file; a truncated file and a wrong key are
 * refused before a statement reaches the server; restore-mysql.sh decrypts with --identity.
 */
import { mkdir, mkdtemp, readFile, rm, symlink, truncate, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { execa } from 'execa'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { NASTY_PASSWORD, checksums, makeRichDatabase, mariadb, mysqlEnv, rootQuery } from '../backup/mysql-support.js'
import { ROOT } from '../support/cli.js'
import { uniqueName } from '../support/servers.js'
import { backupNow, cli, makeAdminUser, readManifest } from '../restore/support.js'
import { keygen, type AgeKey } from './support.js'

const MARKER = 'age-marker-c0ffee-51'

async function exists(db: string): Promise<boolean> {
  const rows = await rootQuery<unknown[]>('SELECT 1 FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?', [db])
  return rows.length > 0
}

describe('age encryption of MariaDB backups', () => {
  let work: string
  let db: string
  let env: Record<string, string>
  let file: string
  let original: Record<string, string>
  let alice: AgeKey
  let bob: AgeKey
  let mallory: AgeKey

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'dbk-age-my-'))
    alice = keygen(work, 'alice.txt')
    bob = keygen(work, 'bob.txt')
    mallory = keygen(work, 'mallory.txt')
    const made = await makeRichDatabase(5000)
    db = made.db
    await rootQuery(`INSERT INTO \`${db}\`.texts VALUES (99, ?, ?)`, [MARKER, MARKER])
    const admin = await makeAdminUser()
    env = {
      ...(await mysqlEnv(db, admin)).env,
      ENCRYPTION: 'age',
      AGE_RECIPIENTS: `${alice.recipient} ${bob.recipient}`,
    }
    file = (await backupNow(env))[0]!.path!
    original = await checksums(db)
  })
  afterAll(async () => {
    await rm(work, { recursive: true, force: true })
  })

  it('writes .sql.gz.age without the plaintext; each recipient restores it with age, gunzip and mariadb', async () => {
    expect(file).toMatch(/\.sql\.gz\.age$/)
    const bytes = await readFile(file)
    expect(bytes.includes(MARKER)).toBe(false)
    expect(bytes.includes('CREATE TABLE')).toBe(false)
    const m = await readManifest(file)
    expect(m.encryption!.recipients).toEqual([alice.recipient, bob.recipient])
    const info = mariadb()
    for (const key of [alice, bob]) {
      const copy = uniqueName('age_cli')
      await rootQuery(`CREATE DATABASE \`${copy}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`)
      await execa('bash', [
        '-o',
        'pipefail',
        '-c',
        'age -d -i "$1" "$2" | gunzip | mariadb --protocol=TCP -h "$3" -P "$4" -u root "$5"',
        'restore',
        key.path,
        file,
        info.host,
        String(info.port),
        copy,
      ])
      expect(await checksums(copy)).toEqual(original)
    }
  })

  it('dbkeeper restore with the identity restores exactly; a wrong key is refused with the target untouched', async () => {
    await rootQuery(`DELETE FROM \`${db}\`.big WHERE id < 100`)
    const changed = await checksums(db)
    const wrong = await cli(['restore', 'latest', '--source', 'maria', '--yes'], {
      ...env,
      AGE_IDENTITY_FILE: mallory.path,
    })
    expect(wrong.exitCode, wrong.all).toBe(1)
    expect(wrong.stderr).toContain(`recipients ${alice.recipient}, ${bob.recipient}`)
    expect(wrong.stderr).toContain('nothing was changed')
    expect(await checksums(db)).toEqual(changed)

    const ok = await cli(['restore', 'latest', '--source', 'maria', '--yes', '--identity', bob.path], env)
    expect(ok.exitCode, ok.all).toBe(0)
    expect(await checksums(db)).toEqual(original)
    for (const secret of [bob.identity, NASTY_PASSWORD]) expect(ok.all).not.toContain(secret)
  })

  it('a truncated file is refused, and what its load created is dropped again', async () => {
    const good = await readFile(file)
    await truncate(file, good.length - 1000)
    // The catalog marks a size mismatch itself: cut the manifest's size too, so only decryption can tell.
    const manifestPath = `${file}.manifest.json`
    const manifestText = await readFile(manifestPath, 'utf8')
    const sidecar = await readFile(`${file}.sha256`, 'utf8')
    const cut = await readFile(file)
    const { createHash } = await import('node:crypto')
    const sha = createHash('sha256').update(cut).digest('hex')
    const m = JSON.parse(manifestText) as { compressed: { size: number; sha256: string } }
    await writeFile(
      manifestPath,
      manifestText.replace(`"size": ${m.compressed.size}`, `"size": ${cut.length}`).replace(m.compressed.sha256, sha),
    )
    await writeFile(`${file}.sha256`, `${sha}  ${file.slice(file.lastIndexOf('/') + 1)}\n`)
    const into = uniqueName('age_cut')
    try {
      const r = await cli(['restore', 'latest', '--source', 'maria', '--into', into, '--yes'], {
        ...env,
        AGE_IDENTITY_FILE: alice.path,
      })
      expect(r.exitCode, r.all).toBe(1)
      expect(r.stderr).toMatch(/damaged and was refused.*(truncated|authenticate)/)
      expect(await exists(into)).toBe(false)
      expect(await checksums(db)).toEqual(original)
    } finally {
      await writeFile(file, good)
      await writeFile(manifestPath, manifestText)
      await writeFile(`${file}.sha256`, sidecar)
    }
  })

  it('restore-mysql.sh decrypts with --identity, refuses a wrong key and explains a missing one', async () => {
    const info = mariadb()
    const passFile = join(work, 'pw')
    await writeFile(passFile, NASTY_PASSWORD, { mode: 0o600 })
    const admin = env.DB01_USER!
    const conn = ['--host', info.host, '--port', String(info.port), '--user', admin, '--password-file', passFile]
    const run = (args: string[]) =>
      execa('bash', [join(ROOT, 'scripts', 'restore-mysql.sh'), ...conn, ...args], {
        env: { PATH: process.env.PATH ?? '' },
        extendEnv: false,
        reject: false,
        stdin: 'ignore',
        timeout: 180_000,
      })
    const copy = uniqueName('age_script')
    const noKey = await run(['--database', copy, '--yes', file])
    expect(noKey.exitCode).toBe(1)
    expect(noKey.stderr).toContain('pass --identity KEY_FILE')
    const wrong = await run(['--database', copy, '--yes', '--identity', mallory.path, file])
    expect(wrong.exitCode).toBe(1)
    expect(wrong.stderr).toContain('does not open')
    expect(await exists(copy)).toBe(false)
    const ok = await run(['--database', copy, '--yes', '--no-safety-dump', '--identity', alice.path, file])
    expect(ok.exitCode, ok.stderr).toBe(0)
    expect(ok.stdout).toContain('decrypted: every chunk authenticated')
    expect(await checksums(copy)).toEqual(original)
    // Without the age program: the script names the package. A PATH of the tools it needs, but age.
    const bin = join(work, 'bin-without-age')
    await mkdir(bin)
    for (const tool of ['bash', 'mariadb', 'mariadb-dump', 'sed', 'grep', 'tr', 'head', 'dirname', 'basename']) {
      const found = (await execa('bash', ['-c', `command -v ${tool}`], { reject: false })).stdout
      if (found) await symlink(found, join(bin, tool))
    }
    const noAge = await execa(join(bin, 'bash'), [join(ROOT, 'scripts', 'restore-mysql.sh'), ...conn, '--yes', file], {
      env: { PATH: bin },
      extendEnv: false,
      reject: false,
      stdin: 'ignore',
    })
    expect(noAge.exitCode).toBe(1)
    expect(noAge.stderr).toContain('the age program is not installed')
    expect(noAge.stderr).toContain('apt-get install age')
  })
})
