/**
 * ENCRYPTION=age end to end on SQLite, through the real CLI: the appliance holds only public keys;
 * `age -d | gunzip` gives the database back; `dbkeeper restore` with the identity restores it
 * exactly; the file shows none of the plaintext; damage and wrong keys are refused before the
 * live file is touched; passphrase mode; rotation; secrets in no manifest or log.
 */
import { readdirSync, writeFileSync } from 'node:fs'
import { mkdir, mkdtemp, readFile, rm, truncate, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { sha256File as sha } from '../support/files.js'
import { countItems, makeSqliteDb } from '../support/sqlite.js'
import { backupNow, cli, flipByte, listNow, readManifest } from '../restore/support.js'
import { ageDecryptGunzip, keygen, type AgeKey } from './support.js'

const MARKER = 'plaintext-marker-7f3a9c'

describe('age encryption of SQLite backups', () => {
  let dir: string
  let live: string
  let base: Record<string, string>
  let alice: AgeKey
  let bob: AgeKey
  let carol: AgeKey

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'dbk-age-sq-'))
    live = join(dir, 'data', 'notes.db')
    await mkdir(join(dir, 'data'))
    makeSqliteDb(live, 3000)
    const db = new Database(live)
    db.prepare('INSERT INTO items (name, payload) VALUES (?, ?)').run(MARKER, MARKER)
    db.close()
    alice = keygen(dir, 'alice.txt')
    bob = keygen(dir, 'bob.txt')
    carol = keygen(dir, 'carol.txt')
    base = { DB01_TYPE: 'sqlite', DB01_PATH: live, DB01_LABEL: 'notes', BACKUP_DIR: join(dir, 'backups') }
  })
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  it('backs up with public keys only; each recipient decrypts with the age CLI; no plaintext in the file', async () => {
    const env = { ...base, ENCRYPTION: 'age', AGE_RECIPIENTS: `${alice.recipient} ${bob.recipient}` }
    const r = await cli(['backup', '--json'], env)
    expect(r.exitCode, r.all).toBe(0)
    const path = (JSON.parse(r.stdout) as { results: { path: string }[] }).results[0]!.path
    expect(path).toMatch(/\.db\.gz\.age$/)
    const file = await readFile(path)
    expect(file.subarray(0, 22).toString()).toBe('age-encryption.org/v1\n')
    expect(file.includes(MARKER)).toBe(false)
    expect(file.includes('SQLite format 3')).toBe(false)
    for (const key of [alice, bob]) {
      const out = join(dir, `by-cli-${key === alice ? 'a' : 'b'}.db`)
      writeFileSync(out, ageDecryptGunzip(path, key))
      expect(countItems(out)).toBe(3001)
    }
    const m = await readManifest(path)
    expect(m.encryption).toMatchObject({
      kind: 'age',
      recipients: [alice.recipient, bob.recipient],
      readBack: 'ephemeral recipient',
    })
    expect(m.compressed.sha256).toBe(await sha(path))
    expect(m.encryption!.plaintext.size).toBeLessThan(m.compressed.size)
    // Three X25519 stanzas: alice, bob and the ephemeral one of the read-back.
    expect(
      file
        .subarray(0, 2000)
        .toString('latin1')
        .match(/\n-> X25519 /g),
    ).toHaveLength(3)
    // list shows whom each backup is for.
    const listed = await listNow(env)
    expect(listed[0]!.encryption).toEqual({ kind: 'age', recipients: [alice.recipient, bob.recipient] })
  })

  it('restores exactly with the identity; refuses a wrong or missing key with the file untouched', async () => {
    const env = { ...base, ENCRYPTION: 'age', AGE_RECIPIENTS: alice.recipient }
    const [result] = await backupNow(env)
    const path = result!.path!
    const db = new Database(live)
    db.prepare('DELETE FROM items WHERE id < 100').run()
    db.close()
    const before = await sha(live)

    const none = await cli(['restore', 'latest', '--source', 'notes', '--yes'], env)
    expect(none.exitCode, none.all).toBe(1)
    expect(none.stderr).toContain('no key to decrypt it is set')
    expect(none.stderr).toContain('AGE_IDENTITY_FILE')
    const wrong = await cli(['restore', 'latest', '--source', 'notes', '--yes'], {
      ...env,
      AGE_IDENTITY_FILE: carol.path,
    })
    expect(wrong.exitCode, wrong.all).toBe(1)
    expect(wrong.stderr).toContain(`encrypted to recipient ${alice.recipient}`)
    expect(wrong.stderr).toContain('opens none of them; nothing was changed')
    expect(await sha(live)).toBe(before)
    expect(wrong.all).not.toContain(carol.identity)
    // Refused from the header, before the question and the full read.
    expect(wrong.stderr).not.toContain(`verifying ${result!.id}`)

    const ok = await cli(['restore', 'latest', '--source', 'notes', '--yes'], { ...env, AGE_IDENTITY_FILE: alice.path })
    expect(ok.exitCode, ok.all).toBe(0)
    expect(countItems(live)).toBe(3001)
    expect(ok.all).not.toContain(alice.identity)
    // --identity does the same without the variable; drills need a key too.
    const verify = await cli(['verify', 'latest', '--source', 'notes', '--identity', alice.path], env)
    expect(verify.exitCode, verify.all).toBe(0)
    const drill = await cli(['verify', 'latest', '--source', 'notes', '--drill'], env)
    expect(drill.exitCode, drill.all).toBe(1)
    expect(drill.all).toContain('no key to decrypt it is set')
    // The safety backup the restore took is encrypted too.
    const safety = (await listNow(env)).find((b) => b.kind === 'pre-restore')!
    expect(safety.path).toMatch(/\.age$/)
    expect(path).toMatch(/\.age$/)
  })

  it('a flipped byte or a truncated file fails verification before the live file is touched', async () => {
    const env = { ...base, ENCRYPTION: 'age', AGE_RECIPIENTS: alice.recipient, AGE_IDENTITY_FILE: alice.path }
    const [result] = await backupNow(env)
    const path = result!.path!
    const good = await readFile(path)
    const before = await sha(live)
    // By id: `latest` passes over a backup whose size disagrees with its manifest.
    for (const damage of [() => flipByte(path), () => truncate(path, good.length - 70_000)]) {
      await damage()
      const r = await cli(['restore', result!.id!, '--source', 'notes', '--yes'], env)
      expect(r.exitCode, r.all).toBe(1)
      expect(r.stderr).toMatch(/is damaged and was refused/)
      expect(await sha(live)).toBe(before)
      await writeFile(path, good)
    }
    const v = await cli(['verify', 'latest', '--source', 'notes'], env)
    expect(v.exitCode, v.all).toBe(0)
    // Where no key is set, verify and list --verify still check the ciphertext, and say that is all.
    const { AGE_IDENTITY_FILE: _key, ...keyless } = env
    const plain = await cli(['verify', result!.id!, '--source', 'notes', '--json'], keyless)
    expect(plain.exitCode, plain.all).toBe(0)
    expect(JSON.parse(plain.stdout)).toMatchObject([{ ok: true, ciphertextOnly: true }])
    await flipByte(path)
    const flipped = await cli(['verify', result!.id!, '--source', 'notes'], keyless)
    expect(flipped.exitCode, flipped.all).toBe(1)
    expect(flipped.stdout).toContain('is damaged and was refused')
    const listed = await cli(['list', '--verify', '--json'], keyless)
    expect(listed.exitCode).toBe(1)
    await writeFile(path, good)
  })

  it('rotation: new recipients for new backups, the old backup still restores with the old key', async () => {
    const oldEnv = { ...base, ENCRYPTION: 'age', AGE_RECIPIENTS: alice.recipient }
    const [old] = await backupNow(oldEnv)
    await new Promise((r) => setTimeout(r, 1100))
    const newEnv = { ...base, ENCRYPTION: 'age', AGE_RECIPIENTS: carol.recipient }
    const [fresh] = await backupNow(newEnv)
    expect((await readManifest(fresh!.path!)).encryption!.recipients).toEqual([carol.recipient])
    expect(ageDecryptGunzip(fresh!.path!, carol).subarray(0, 15).toString()).toBe('SQLite format 3')
    const r = await cli(['restore', old!.id!, '--source', 'notes', '--yes', '--no-safety-backup'], {
      ...newEnv,
      AGE_IDENTITY_FILE: alice.path,
    })
    expect(r.exitCode, r.all).toBe(0)
    // Both keys in one file read both generations.
    const both = join(dir, 'both.txt')
    await writeFile(both, `${await readFile(carol.path, 'utf8')}\n${await readFile(alice.path, 'utf8')}`, {
      mode: 0o600,
    })
    for (const id of [old!.id!, fresh!.id!]) {
      const v = await cli(['verify', id, '--source', 'notes', '--identity', both], newEnv)
      expect(v.exitCode, v.all).toBe(0)
    }
  })

  it('passphrase mode: encrypted to the passphrase, restored with it; it is in no manifest or log', async () => {
    const passFile = join(dir, 'pass.txt')
    const passphrase = 'long-passphrase-for-tests-91c2'
    await writeFile(passFile, `${passphrase}\n`, { mode: 0o600 })
    const env = { ...base, ENCRYPTION: 'age', AGE_PASSPHRASE_FILE: passFile }
    const r = await cli(['backup', '--json'], env)
    expect(r.exitCode, r.all).toBe(0)
    const path = (JSON.parse(r.stdout) as { results: { path: string }[] }).results[0]!.path
    const m = await readManifest(path)
    expect(m.encryption).toMatchObject({ kind: 'age', recipients: [], passphrase: true, readBack: 'passphrase' })
    expect((await readFile(path)).subarray(0, 200).toString('latin1')).toContain('-> scrypt ')
    const restore = await cli(['restore', 'latest', '--source', 'notes', '--yes', '--no-safety-backup'], env)
    expect(restore.exitCode, restore.all).toBe(0)
    expect(countItems(live)).toBe(3001)
    // Never in a manifest, a journal line or the output.
    const state = join(dir, 'backups')
    const texts = [r.all, restore.all]
    for (const sub of readdirSync(join(state, 'notes', 'notes'))) {
      if (sub.endsWith('.json')) texts.push(await readFile(join(state, 'notes', 'notes', sub), 'utf8'))
    }
    texts.push(await readFile(join(state, '.dbkeeper', 'runs.jsonl'), 'utf8'))
    for (const t of texts) {
      expect(t).not.toContain(passphrase)
      for (const k of [alice, bob, carol]) expect(t).not.toContain(k.identity)
    }
  }, 120_000)
})
