/** ENCRYPTION=age and its keys: what is accepted, and every refusal naming its variable. */
import { execFileSync } from 'node:child_process'
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { expectProblems, MYSQL, parse, realFiles, SQLITE } from './support.js'

/** A key pair made by the age CLI itself: the format we must accept is the one it writes. */
function keygen(dir: string, name: string): { path: string; recipient: string; identity: string } {
  const path = join(dir, name)
  execFileSync('age-keygen', ['-o', path], { stdio: 'ignore' })
  const text = execFileSync('cat', [path], { encoding: 'utf8' })
  const identity = /^AGE-SECRET-KEY-1\S+$/m.exec(text)![0]
  const recipient = /public key: (age1\S+)/.exec(text)![1]!
  return { path, recipient, identity }
}

const dir = mkdtempSync(join(tmpdir(), 'dbk-age-config-'))
const alice = keygen(dir, 'alice.txt')
const bob = keygen(dir, 'bob.txt')

describe('ENCRYPTION=age', () => {
  it('is off by default, and AGE_IDENTITY_FILE alone only reads (a restore host)', () => {
    const config = parse({ ...SQLITE, AGE_IDENTITY_FILE: alice.path }, realFiles)
    expect(config.encryption).toBeUndefined()
    expect(config.decryption.identities.map((s) => s.reveal())).toEqual([alice.identity])
    expect(JSON.stringify(config)).not.toContain(alice.identity)
  })

  it('takes several recipients from AGE_RECIPIENTS and AGE_RECIPIENTS_FILE (comments, blank lines)', () => {
    const file = join(dir, 'recipients.txt')
    writeFileSync(file, `# the on-call team\n${bob.recipient}\n\n${alice.recipient} # again\n`)
    const config = parse(
      { ...SQLITE, ENCRYPTION: 'age', AGE_RECIPIENTS: alice.recipient, AGE_RECIPIENTS_FILE: file },
      realFiles,
    )
    expect(config.encryption).toEqual({
      kind: 'age',
      recipients: [alice.recipient, bob.recipient],
      passphrase: undefined,
    })
  })

  it('takes a passphrase file instead of recipients', () => {
    const file = join(dir, 'pass.txt')
    writeFileSync(file, 'correct horse battery staple\n')
    const config = parse({ ...SQLITE, ENCRYPTION: 'age', AGE_PASSPHRASE_FILE: file }, realFiles)
    expect(config.encryption!.recipients).toEqual([])
    expect(config.encryption!.passphrase!.reveal()).toBe('correct horse battery staple')
    expect(JSON.stringify(config)).not.toContain('horse')
  })

  it('refuses a malformed recipient, naming it and the variable', () => {
    const broken = `${alice.recipient.slice(0, -1)}${alice.recipient.endsWith('q') ? 'p' : 'q'}`
    expectProblems({ ...SQLITE, ENCRYPTION: 'age', AGE_RECIPIENTS: `${bob.recipient} ${broken}` }, [
      { variable: 'AGE_RECIPIENTS', value: broken, expected: 'X25519 public keys' },
    ])
    expectProblems({ ...SQLITE, ENCRYPTION: 'age', AGE_RECIPIENTS: 'ssh-ed25519' }, [
      { variable: 'AGE_RECIPIENTS', value: 'ssh-ed25519', expected: 'age1' },
    ])
  })

  it('refuses a private key given as a recipient without echoing it', () => {
    const error = expectProblems({ ...SQLITE, ENCRYPTION: 'age', AGE_RECIPIENTS: alice.identity }, [
      { variable: 'AGE_RECIPIENTS', value: '***', expected: 'not a private key' },
    ])
    expect(error.message).not.toContain(alice.identity)
  })

  it('refuses encryption without a key, and recipients with a passphrase', () => {
    expectProblems({ ...SQLITE, ENCRYPTION: 'age' }, [{ variable: 'AGE_RECIPIENTS', expected: 'a key to encrypt to' }])
    const pass = join(dir, 'pass2.txt')
    writeFileSync(pass, 'secret-passphrase-value')
    const error = expectProblems(
      { ...SQLITE, ENCRYPTION: 'age', AGE_RECIPIENTS: alice.recipient, AGE_PASSPHRASE_FILE: pass },
      [{ variable: 'AGE_PASSPHRASE_FILE', value: '***', expected: 'not both' }],
      realFiles,
    )
    expect(error.message).not.toContain('secret-passphrase-value')
  })

  it('refuses recipients without ENCRYPTION=age, and an unknown kind', () => {
    expectProblems({ ...SQLITE, AGE_RECIPIENTS: alice.recipient }, [
      { variable: 'ENCRYPTION', expected: 'ENCRYPTION=age' },
    ])
    expectProblems({ ...SQLITE, ENCRYPTION: 'gpg', AGE_RECIPIENTS: alice.recipient }, [
      { variable: 'ENCRYPTION', value: 'gpg', expected: 'age or none' },
    ])
  })

  it('refuses an identity file that is missing, world-readable or not a key, never showing its content', () => {
    expectProblems(
      { ...SQLITE, AGE_IDENTITY_FILE: join(dir, 'missing.txt') },
      [{ variable: 'AGE_IDENTITY_FILE', expected: 'ENOENT' }],
      realFiles,
    )
    const open = join(dir, 'open.txt')
    writeFileSync(open, `${alice.identity}\n`)
    chmodSync(open, 0o644)
    const error = expectProblems(
      { ...SQLITE, AGE_IDENTITY_FILE: open },
      [{ variable: 'AGE_IDENTITY_FILE', value: open, expected: 'mode 644; chmod 600' }],
      realFiles,
    )
    expect(error.message).not.toContain(alice.identity)
    const junk = join(dir, 'junk.txt')
    writeFileSync(junk, `AGE-SECRET-KEY-1NOTAKEY-but-secret-looking\n`, { mode: 0o600 })
    const junkError = expectProblems(
      { ...SQLITE, AGE_IDENTITY_FILE: junk },
      [{ variable: 'AGE_IDENTITY_FILE', value: junk, expected: 'not an X25519 identity' }],
      realFiles,
    )
    expect(junkError.message).not.toContain('but-secret-looking')
  })

  it('knows every AGE_ variable, and suggests the right one for a typo', () => {
    expectProblems({ ...SQLITE, ENCRYPTION: 'age', AGE_RECIPIENTS: alice.recipient, AGE_RECIPIENT: bob.recipient }, [
      { variable: 'AGE_RECIPIENT', expected: /AGE_RECIPIENTS/ },
    ])
  })
})

describe('ENCRYPTION=age with DBnn_PITR', () => {
  it('archives to the recipients: Litestream encrypts each snapshot and segment to them', () => {
    const c = parse({ ...SQLITE, ENCRYPTION: 'age', AGE_RECIPIENTS: alice.recipient, DB01_PITR: 'true' })
    expect(c.sources[0]!.pitr).toBe(true)
    expect(c.encryption?.recipients).toEqual([alice.recipient])
  })

  it('is refused with a passphrase: Litestream encrypts to public keys only', () => {
    expectProblems({ ...SQLITE, ENCRYPTION: 'age', AGE_PASSPHRASE: 'correct horse battery', DB01_PITR: 'true' }, [
      { variable: 'DB01_PITR', value: 'true', expected: 'use AGE_RECIPIENTS' },
    ])
  })

  it('is accepted with a passphrase on a MySQL source: its binlog archive is not encrypted, and stays on the volume', () => {
    const c = parse({ ...MYSQL, ENCRYPTION: 'age', AGE_PASSPHRASE: 'correct horse battery', DB01_PITR: 'true' })
    expect(c.sources[0]!.pitr).toBe(true)
  })
})
