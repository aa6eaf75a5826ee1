/** The manifest's `encryption` field and the reader's refusals before a byte is read: pure. */
import { describe, expect, it } from 'vitest'
import { decodeManifest, encodeManifest, type Manifest } from '../../src/catalog/manifest.js'
import { parseDataFileName } from '../../src/catalog/naming.js'
import { compressionKindOfName, encryptionKindOfName } from '../../src/config/codecs.js'
import { decrypterOf } from '../../src/pipeline/encryption.js'
import { DbkeeperError } from '../../src/runtime/errors.js'
import { Secret } from '../../src/runtime/secrets.js'
import { fakeManifest } from '../support/backups.js'

const RECIPIENT = 'age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p'
const encrypted = (): Manifest => ({
  ...fakeManifest('app', 'shop', new Date('2026-12-01T03:00:00Z')),
  encryption: {
    kind: 'age',
    recipients: [RECIPIENT],
    plaintext: { size: 10, sha256: 'a'.repeat(64) },
    readBack: 'ephemeral recipient',
  },
})

function refusal(fn: () => unknown): DbkeeperError {
  try {
    fn()
  } catch (error) {
    if (error instanceof DbkeeperError) return error
    throw error
  }
  throw new Error('expected a refusal')
}

describe('encrypted manifests', () => {
  it('round-trip, and a damaged encryption field is reported as damage', () => {
    const m = encrypted()
    expect(decodeManifest(encodeManifest(m))).toEqual({ manifest: m })
    const broken = { ...m, encryption: { kind: 'age', recipients: 'age1…' } }
    expect(decodeManifest(JSON.stringify(broken))).toEqual({
      error: 'the manifest has an encryption without its kind, recipients or plaintext checksum',
    })
  })

  it('an unknown encryption is refused (VERSION) naming it; no key is refused (AUTH) naming the recipients', () => {
    const future = { ...encrypted(), encryption: { ...encrypted().encryption!, kind: 'rot13' as 'age' } }
    const v = refusal(() => decrypterOf(future, undefined))
    expect(v.code).toBe('VERSION')
    expect(v.message).toContain('"rot13"')
    const none = refusal(() => decrypterOf(encrypted(), { identities: [], passphrase: undefined, from: undefined }))
    expect(none.code).toBe('AUTH')
    expect(none.message).toContain(`recipient ${RECIPIENT}, and no key to decrypt it is set`)
    expect(none.hint).toContain('AGE_IDENTITY_FILE')
    // By hand, the file's own stages undone: decrypted, then its compression (gzip here, zstd there).
    expect(none.hint).toContain(`age -d -i KEY_FILE ${encrypted().file} | gzip -dc`)
    const zstd = {
      ...encrypted(),
      file: 'shop_20261201T030000Z.sql.zst.age',
      compression: { kind: 'zstd' as const, level: 3 },
    }
    const noneZstd = refusal(() => decrypterOf(zstd, { identities: [], passphrase: undefined, from: undefined }))
    expect(noneZstd.hint).toContain('age -d -i KEY_FILE shop_20261201T030000Z.sql.zst.age | zstd -dc')
    expect(decrypterOf(fakeManifest('app', 'shop', new Date()), undefined)).toBeUndefined()
    const keys = { identities: [new Secret('AGE-SECRET-KEY-1XYZ')], passphrase: undefined, from: 'x' }
    expect(typeof decrypterOf(encrypted(), keys)).toBe('function')
  })

  it('file names: .age after the compression, parsed and judged by the name only for bare files', () => {
    expect(parseDataFileName('shop_20261201T030000Z.sql.gz.age')).toMatchObject({
      contentExt: 'sql',
      compressionExt: '.gz',
      encryptionExt: '.age',
    })
    expect(parseDataFileName('shop_20261201T030000Z.db.age')).toMatchObject({
      compressionExt: '',
      encryptionExt: '.age',
    })
    expect(compressionKindOfName('x.sql.zst.age')).toBe('zstd')
    expect(encryptionKindOfName('x.sql.zst.age')).toBe('age')
    expect(encryptionKindOfName('x.sql.gz')).toBeUndefined()
  })
})
