/**
 * ENCRYPTION=age on real PostgreSQL, and through S3 (s3rver): `age -d | gunzip | psql` restores
 * exactly; `dbkeeper restore` with the identity too; the bucket holds ciphertext only; with the
 * volume gone, restore fetches the encrypted object, proves it with the key and restores; fetch
 * without a key checks the ciphertext's sha256 and says nothing it cannot prove.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { execa } from 'execa'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { comparableDump, libpqEnv, pgCliEnv, sql } from '../engines/postgres/helpers.js'
import { s3Env, SECRET_ACCESS_KEY, startS3, type TestS3 } from '../support/s3.js'
import { uniqueName } from '../support/servers.js'
import { backupNow, cli } from '../restore/support.js'
import { keygen, type AgeKey } from './support.js'

const MARKER = 'pg-age-marker-9d1e77'

describe('age encryption of PostgreSQL backups, on the volume and in S3', () => {
  let s3: TestS3
  let dir: string
  let db: string
  let env: Record<string, string>
  let original: string
  let key: AgeKey
  let file: string

  beforeAll(async () => {
    s3 = await startS3()
    dir = await mkdtemp(join(tmpdir(), 'dbk-age-pg-'))
    key = keygen(dir, 'key.txt')
    db = uniqueName('agepg')
    await sql('postgres', `CREATE DATABASE ${db} TEMPLATE template0`)
    await sql(
      db,
      `CREATE TABLE notes (id int PRIMARY KEY, body text); INSERT INTO notes SELECT g, '${MARKER} ' || g FROM generate_series(1, 3000) g;`,
    )
    original = await comparableDump(db)
    env = pgCliEnv(db, dir, { ENCRYPTION: 'age', AGE_RECIPIENTS: key.recipient, ...s3Env(s3.endpoint, 'age') })
    const [r] = await backupNow(env)
    expect(r!.offsite?.ok, JSON.stringify(r)).toBe(true)
    file = r!.path!
  }, 300_000)
  afterAll(async () => {
    for (const name of [db]) await sql('postgres', `DROP DATABASE IF EXISTS ${name}`).catch(() => undefined)
    await s3?.destroy()
    await rm(dir, { recursive: true, force: true })
  })

  it('age -d | gunzip | psql restores exactly, and neither the file nor the S3 object shows the plaintext', async () => {
    expect(file).toMatch(/\.sql\.gz\.age$/)
    const local = await readFile(file)
    expect(local.includes(MARKER)).toBe(false)
    const object = await readFile(s3.objectFile(`age/pg/${db}/${file.split('/').at(-1)!}`))
    expect(object.equals(local)).toBe(true)
    const copy = uniqueName('agepg_cli')
    await sql('postgres', `CREATE DATABASE ${copy} TEMPLATE template0`)
    try {
      await execa(
        'bash',
        [
          '-o',
          'pipefail',
          '-c',
          'age -d -i "$1" "$2" | gunzip | psql -X -q -v ON_ERROR_STOP=1 -d "$3"',
          'r',
          key.path,
          file,
          copy,
        ],
        {
          env: libpqEnv(),
          extendEnv: false,
        },
      )
      expect((await comparableDump(copy)).replaceAll(copy, '<db>')).toBe(original)
    } finally {
      await sql('postgres', `DROP DATABASE IF EXISTS ${copy}`)
    }
  })

  it('the volume is gone: restore fetches the ciphertext from S3, proves it with the key, restores exactly', async () => {
    await sql(db, 'DELETE FROM notes WHERE id < 500')
    await rm(join(dir, 'backups'), { recursive: true, force: true })
    // Without a key the fetch proves the ciphertext by its sha256, and says so.
    const fetched = await cli(['fetch', 'latest', '--source', 'pg'], env)
    expect(fetched.exitCode, fetched.all).toBe(0)
    expect(fetched.stdout).toContain('encrypted: not decrypted here (no AGE_IDENTITY_FILE)')
    await rm(join(dir, 'backups'), { recursive: true, force: true })
    const r = await cli(['restore', 'latest', '--source', 'pg', '--yes'], { ...env, AGE_IDENTITY_FILE: key.path })
    expect(r.exitCode, r.all).toBe(0)
    expect(r.stderr).toMatch(/fetched .* onto the volume/)
    expect(await comparableDump(db)).toBe(original)
    for (const secret of [key.identity, SECRET_ACCESS_KEY]) expect(r.all).not.toContain(secret)
  })
})
