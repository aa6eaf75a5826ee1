/**
 * The encryption stage of the codec chain (config/codecs.ts `age`): the writer's side from the
 * configuration (ENCRYPTION=age), the reader's side from the manifest, which records the
 * recipients a backup was made for. A reader is given the keys (AGE_IDENTITY_FILE, `--identity`,
 * the passphrase); a backup that needs keys it was not given is refused naming what is missing.
 */
import type { Duplex } from 'node:stream'
import type { Manifest, ManifestEncryption } from '../catalog/manifest.js'
import { CODECS, ENCRYPTION_KINDS, isEncryptionKind, readCommand } from '../config/codecs.js'
import type { DecryptionKeys, EncryptionConfig } from '../config/types.js'
import { DbkeeperError } from '../runtime/errors.js'
import { AgeDecryptStream, beginAgeFile, describeStanzas, type AgeFile, type AgeKeys } from './age.js'

export interface Encryption {
  readonly kind: 'age'
  /** `.age`, after the compression's extension. */
  readonly ext: string
  /** What the manifest records (never the passphrase, never the ephemeral recipient). */
  readonly recipients: readonly string[]
  readonly passphrase: boolean
  /** A new file key (and ephemeral recipient) for one file. */
  begin(): Promise<AgeFile>
}

export function createEncryption(config: EncryptionConfig): Encryption {
  const passphrase = config.passphrase?.reveal()
  return {
    kind: config.kind,
    ext: CODECS[config.kind].ext,
    recipients: config.recipients,
    passphrase: passphrase !== undefined,
    begin: () => beginAgeFile({ recipients: config.recipients, passphrase }),
  }
}

/** Who can read a backup, for messages and `list`: its recipients, or "a passphrase". */
export function describeRecipients(e: Pick<ManifestEncryption, 'recipients' | 'passphrase'>): string {
  if (e.passphrase) return 'a passphrase (AGE_PASSPHRASE_FILE)'
  return e.recipients.length === 1 ? `recipient ${e.recipients[0]}` : `recipients ${e.recipients.join(', ')}`
}

/**
 * The decrypting stage of a backup, or undefined when its manifest records no encryption. Refused
 * before a byte is read: an encryption this dbkeeper does not know (VERSION), or no key to try
 * (AUTH). A key that opens none of the file's stanzas fails the stream with AUTH, naming the
 * recipients from the manifest; the target of a restore is untouched then (it verifies first).
 */
/** Whether an encrypted backup is to be read without any key: only its ciphertext can be checked. */
export function withoutKey(m: Manifest, keys: DecryptionKeys | undefined): boolean {
  return m.encryption !== undefined && !keys?.identities.length && keys?.passphrase === undefined
}

export function decrypterOf(
  m: Pick<Manifest, 'id' | 'file' | 'engine' | 'encryption' | 'compression'>,
  keys: DecryptionKeys | undefined,
): (() => Duplex) | undefined {
  const e = m.encryption
  if (e === undefined) return undefined
  const kind: string = e.kind
  if (!isEncryptionKind(kind))
    throw new DbkeeperError(
      'VERSION',
      `backup ${m.id} is encrypted with "${kind}", which this dbkeeper cannot read (it reads ${ENCRYPTION_KINDS.join(', ')}); nothing was changed`,
      { hint: 'use the dbkeeper version that wrote it' },
    )
  const ageKeys: AgeKeys = {
    identities: keys?.identities.map((s) => s.reveal()) ?? [],
    passphrases: keys?.passphrase ? [keys.passphrase.reveal()] : [],
  }
  const forWhom = describeRecipients(e)
  if (ageKeys.identities.length === 0 && ageKeys.passphrases.length === 0) {
    const byHand = readCommand(m.compression.kind, kind, m.file)
    throw new DbkeeperError(
      'AUTH',
      `backup ${m.id} is encrypted (age) to ${forWhom}, and no key to decrypt it is set`,
      {
        hint: `set AGE_IDENTITY_FILE to the private key file (or pass --identity FILE)${e.passphrase ? ', or AGE_PASSPHRASE_FILE' : ''}${byHand === undefined ? '' : `; by hand: ${byHand}`} (docs/RESTORE.md)`,
      },
    )
  }
  return () =>
    new AgeDecryptStream(
      ageKeys,
      (header) =>
        new DbkeeperError(
          'AUTH',
          `backup ${m.id} is encrypted to ${forWhom} (${describeStanzas(header)} in the file), and ${keys?.from ?? 'the key given'} opens none of them; nothing was changed`,
          {
            hint: 'use the private key of one of those recipients (AGE_IDENTITY_FILE or --identity FILE); after a key rotation, keep the old key in the file as a second line',
          },
        ),
    )
}
