/**
 * COMPRESSION=zstd with ENCRYPTION=age end to end on real MariaDB, through the CLI: the file is
 * `.sql.zst.age` and opens with `age -d | zstd -d | mariadb` alone; `verify` proves it with the
 * identity and refuses a wrong one; `list` shows its codec and recipient, and `list --verify`
 * reads it through; `restore --into` with the identity gives back exactly the tables (proven as it
 * loads), a wrong identity creates nothing.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  NASTY_PASSWORD,
  checksums,
  makeRichDatabase,
  mysqlEnv,
  restoreWithPlainTools,
  rootQuery,
} from '../backup/mysql-support.js'
import { uniqueName } from '../support/servers.js'
import { backupNow, cli, listNow, makeAdminUser, readManifest } from '../restore/support.js'
import { keygen, type AgeKey } from './support.js'

const MARKER = 'zstd-age-marker-4b1d'

async function exists(db: string): Promise<boolean> {
  const rows = await rootQuery<unknown[]>('SELECT 1 FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?', [db])
  return rows.length > 0
}

describe('age encryption of zstd MariaDB backups', () => {
  let work: string
  let db: string
  let env: Record<string, string>
  let file: string
  let id: string
  let original: Record<string, string>
  let alice: AgeKey
  let mallory: AgeKey

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'dbk-age-zst-'))
    alice = keygen(work, 'alice.txt')
    mallory = keygen(work, 'mallory.txt')
    const made = await makeRichDatabase(5000)
    db = made.db
    await rootQuery(`INSERT INTO \`${db}\`.texts VALUES (99, ?, ?)`, [MARKER, MARKER])
    env = {
      ...(await mysqlEnv(db, await makeAdminUser())).env,
      COMPRESSION: 'zstd',
      ENCRYPTION: 'age',
      AGE_RECIPIENTS: alice.recipient,
    }
    const [result] = await backupNow(env)
    file = result!.path!
    id = result!.id!
    original = await checksums(db)
  })
  afterAll(async () => {
    await rm(work, { recursive: true, force: true })
  })

  it('writes .sql.zst.age without the plaintext; age, zstd and mariadb alone restore it', async () => {
    expect(file).toMatch(/\.sql\.zst\.age$/)
    const bytes = await readFile(file)
    expect(bytes.subarray(0, 22).toString()).toBe('age-encryption.org/v1\n')
    expect(bytes.includes(MARKER)).toBe(false)
    expect(bytes.includes('CREATE TABLE')).toBe(false)
    const m = await readManifest(file)
    expect(m.compression.kind).toBe('zstd')
    expect(m.encryption).toMatchObject({ kind: 'age', recipients: [alice.recipient] })
    const copy = uniqueName('zst_cli')
    await restoreWithPlainTools(file, copy, 'age -d -i "$IDENTITY" "$1" | zstd -dc', { IDENTITY: alice.path })
    expect(await checksums(copy)).toEqual(original)
  })

  it('verify proves it with the identity and refuses a wrong one; list shows codec and recipient', async () => {
    const ok = await cli(['verify', id, '--source', 'maria', '--identity', alice.path, '--json'], env)
    expect(ok.exitCode, ok.all).toBe(0)
    expect(JSON.parse(ok.stdout)).toMatchObject([{ ok: true }])
    expect(JSON.parse(ok.stdout)[0].ciphertextOnly).toBeUndefined()
    const wrong = await cli(['verify', id, '--source', 'maria', '--identity', mallory.path], env)
    expect(wrong.exitCode, wrong.all).toBe(1)
    expect(wrong.all).toContain(`recipient ${alice.recipient}`)
    expect(wrong.all).not.toContain(mallory.identity)

    const [listed] = await listNow(env)
    expect(listed).toMatchObject({
      id,
      compression: 'zstd',
      encryption: { kind: 'age', recipients: [alice.recipient] },
    })
    expect(listed!.problem).toBeUndefined()
    const verified = await listNow({ ...env, AGE_IDENTITY_FILE: alice.path }, '--verify')
    expect(verified.find((b) => b.id === id)?.problem).toBeUndefined()
  })

  it('restore --into with the identity gives the tables back exactly; a wrong identity creates nothing', async () => {
    const refused = uniqueName('zst_wrong')
    const wrong = await cli(['restore', id, '--source', 'maria', '--into', refused, '--yes'], {
      ...env,
      AGE_IDENTITY_FILE: mallory.path,
    })
    expect(wrong.exitCode, wrong.all).toBe(1)
    expect(wrong.stderr).toContain('nothing was changed')
    expect(await exists(refused)).toBe(false)

    const into = uniqueName('zst_dbk')
    const ok = await cli(['restore', id, '--source', 'maria', '--into', into, '--yes', '--identity', alice.path], env)
    expect(ok.exitCode, ok.all).toBe(0)
    expect(ok.all).toContain('verified as it loaded')
    expect(await checksums(into)).toEqual(original)
    const [row] = await rootQuery<{ s: string }[]>(`SELECT s FROM \`${into}\`.texts WHERE id = 99`)
    expect(row?.s).toBe(MARKER)
    for (const secret of [alice.identity, NASTY_PASSWORD]) expect(ok.all).not.toContain(secret)
  })
})
