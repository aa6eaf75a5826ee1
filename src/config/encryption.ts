/**
 * ENCRYPTION=age and its keys (issue 16). Encrypting needs only public keys (AGE_RECIPIENTS,
 * AGE_RECIPIENTS_FILE) or a passphrase (AGE_PASSPHRASE_FILE); reading needs the private key
 * (AGE_IDENTITY_FILE), which is read here too, so that restores, fetches and drills have it, and
 * may be set without ENCRYPTION (a restore host reading encrypted backups).
 */
import { statSync } from 'node:fs'
import { MASK, Secret } from '../runtime/secrets.js'
import type { EnvReader } from './reader.js'

export interface EncryptionConfig {
  readonly kind: 'age'
  /** X25519 public keys (`age1…`); empty in passphrase mode. Public: recorded in manifests. */
  readonly recipients: readonly string[]
  /** Passphrase mode (scrypt): undefined with recipients (age allows one or the other). */
  readonly passphrase: Secret | undefined
}

/** What decrypts a backup: identities (AGE_IDENTITY_FILE or `--identity`) and the passphrase. */
export interface DecryptionKeys {
  readonly identities: readonly Secret[]
  readonly passphrase: Secret | undefined
  /** Where the identities came from, for messages: `AGE_IDENTITY_FILE (/run/secrets/key)`. */
  readonly from: string | undefined
}

/** An X25519 recipient as age-keygen prints it: `age1` and 58 bech32 characters. */
const RECIPIENT = /^age1[02-9ac-hj-np-z]{58}$/
const IDENTITY = /^AGE-SECRET-KEY-1[02-9AC-HJ-NP-Z]{58}$/

const BECH32 = 'qpzry9x8gf2tvdw0s3jn54khce6mua7l'

/**
 * Whether `s` is a well-formed X25519 recipient, its bech32 checksum included (BIP 173). Written
 * out rather than asked of age-encryption: every command reads the configuration, and only those
 * that encrypt or decrypt should load the crypto library.
 */
export function isRecipient(s: string): boolean {
  if (!RECIPIENT.test(s)) return false
  const values = [...'age'].map((c) => c.charCodeAt(0) >> 5)
  values.push(0, ...[...'age'].map((c) => c.charCodeAt(0) & 31))
  for (const c of s.slice(4)) values.push(BECH32.indexOf(c))
  let chk = 1
  const GEN = [0x3b6a57b2, 0x26508e6d, 0x1ea119fa, 0x3d4233dd, 0x2a1462b3]
  for (const v of values) {
    const top = chk >>> 25
    chk = ((chk & 0x1ffffff) << 5) ^ v
    for (let i = 0; i < 5; i++) if ((top >>> i) & 1) chk ^= GEN[i]!
  }
  return chk === 1
}

/** Public keys of a list as `age -R` reads it: one per line or space, `#` comments, blank lines. */
export function parseRecipients(text: string): string[] {
  return text
    .split('\n')
    .map((line) => line.replace(/#.*$/, '').trim())
    .flatMap((line) => (line === '' ? [] : line.split(/\s+/)))
}

/**
 * The identities of a key file as age-keygen writes it (comments, one `AGE-SECRET-KEY-1…` a line),
 * or the problem with it. Never echoes a line: a malformed key is still a key.
 */
export function parseIdentities(text: string): { identities: Secret[] } | { problem: string } {
  const lines = text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'))
  if (lines.length === 0) return { problem: 'no AGE-SECRET-KEY-1… line in it (make one with age-keygen)' }
  const bad = lines.findIndex((l) => !IDENTITY.test(l.toUpperCase()))
  if (bad >= 0)
    return {
      problem: `a line that is not an X25519 identity (AGE-SECRET-KEY-1…, from age-keygen): key line ${bad + 1}`,
    }
  return { identities: lines.map((l) => new Secret(l.toUpperCase())) }
}

/** The identity file's mode problem: a private key others can read is refused. */
export function identityFileProblem(mode: number): string | undefined {
  return (mode & 0o004) !== 0
    ? `a file others cannot read (it is mode ${(mode & 0o777).toString(8)}; chmod 600 it)`
    : undefined
}

/**
 * Reads an identity file: unreadable, world-readable or malformed → the problem (naming no key).
 * `fileMode` is injected for tests; the production one stats the file.
 */
export function loadIdentityFile(
  path: string,
  readFile: (path: string) => string,
  fileMode: (path: string) => number = (p) => statSync(p).mode,
): { identities: Secret[] } | { problem: string } {
  let text: string
  let mode: number
  try {
    text = readFile(path)
    mode = fileMode(path)
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'unreadable'
    return { problem: `a readable age identity file (${code})` }
  }
  const modeProblem = identityFileProblem(mode)
  if (modeProblem) return { problem: modeProblem }
  return parseIdentities(text)
}

export function readEncryptionConfig(
  r: EnvReader,
  readFile: (path: string) => string,
): { encryption: EncryptionConfig | undefined; keys: DecryptionKeys } {
  const kind = r.raw('ENCRYPTION')
  const on = kind !== undefined && kind.toLowerCase() !== 'none'
  if (kind !== undefined && on && kind.toLowerCase() !== 'age') r.problem('ENCRYPTION', kind, 'age or none')
  const listed = r.raw('AGE_RECIPIENTS')
  const fileText = r.fileText('AGE_RECIPIENTS_FILE', 'a readable file of age public keys, one per line')
  const passphrase = r.secret('AGE_PASSPHRASE')
  const identityPath = r.raw('AGE_IDENTITY_FILE')

  const recipients: string[] = []
  for (const [variable, text] of [
    ['AGE_RECIPIENTS', listed],
    ['AGE_RECIPIENTS_FILE', fileText],
  ] as const) {
    if (text === undefined) continue
    const keys = parseRecipients(text)
    // A public key is not a secret, but a private key pasted here is: never echo a non-recipient.
    const bad = keys.filter((k) => !isRecipient(k))
    if (bad.length > 0)
      r.problem(
        variable,
        bad.some((k) => k.toUpperCase().startsWith('AGE-SECRET-KEY')) ? MASK : bad.join(' '),
        bad.some((k) => k.toUpperCase().startsWith('AGE-SECRET-KEY'))
          ? 'public keys (age1…), not a private key: give the private key only to AGE_IDENTITY_FILE where restores run'
          : 'X25519 public keys as age-keygen prints them (age1 and 58 letters and digits), separated by spaces or lines',
      )
    else if (keys.length === 0 && variable === 'AGE_RECIPIENTS_FILE')
      r.problem(variable, r.raw(variable), 'a file listing at least one age public key (age1…)')
    for (const k of keys) if (isRecipient(k) && !recipients.includes(k)) recipients.push(k)
  }

  let identities: Secret[] = []
  if (identityPath !== undefined) {
    const loaded = loadIdentityFile(identityPath, readFile)
    if ('problem' in loaded) r.problem('AGE_IDENTITY_FILE', identityPath, loaded.problem)
    else identities = loaded.identities
  }
  const keys: DecryptionKeys = Object.freeze({
    identities: Object.freeze(identities),
    passphrase,
    from: identityPath === undefined ? undefined : `AGE_IDENTITY_FILE (${identityPath})`,
  })

  const anyRecipients = listed !== undefined || fileText !== undefined
  if (!on) {
    const set = ['AGE_RECIPIENTS', 'AGE_RECIPIENTS_FILE'].filter((n) => r.has(n))
    if (set.length > 0)
      r.problem(
        'ENCRYPTION',
        kind,
        `age: ${set.join(' and ')} ${set.length === 1 ? 'is' : 'are'} set, but backups are only encrypted with ENCRYPTION=age`,
      )
    return { encryption: undefined, keys }
  }
  if (anyRecipients && passphrase !== undefined) {
    r.problem(
      'AGE_PASSPHRASE_FILE',
      MASK,
      'either recipients (AGE_RECIPIENTS / AGE_RECIPIENTS_FILE) or a passphrase, not both (age encrypts a file to one or the other)',
    )
  } else if (!anyRecipients && passphrase === undefined) {
    r.problem(
      'AGE_RECIPIENTS',
      undefined,
      'a key to encrypt to with ENCRYPTION=age: AGE_RECIPIENTS (public keys, age1…), AGE_RECIPIENTS_FILE, or AGE_PASSPHRASE_FILE',
    )
  }
  const encryption: EncryptionConfig = Object.freeze({
    kind: 'age',
    recipients: Object.freeze(passphrase === undefined ? recipients : []),
    passphrase: anyRecipients ? undefined : passphrase,
  })
  return { encryption, keys }
}
