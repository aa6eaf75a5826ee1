/**
 * The age stage (issue 16): the header by the `age-encryption` package (the reference TypeScript
 * implementation: recipients' stanzas, scrypt, the header MAC), the payload by age-stream.ts.
 *
 * Proof without the private key: every file gets one more X25519 recipient, made for this file
 * alone, whose private half lives in memory for the run and is then forgotten. The read-back
 * decrypts with it. (In passphrase mode age allows no other stanza: the passphrase reads it back.)
 */
import { Transform, type TransformCallback } from 'node:stream'
import type { Decrypter, Identity, Stanza } from 'age-encryption'
import { chunkStream, PayloadOpener, payloadKey, PayloadSealer, PAYLOAD_NONCE_BYTES } from './age-stream.js'

/** What a file is encrypted to: public keys, or a passphrase (never both: age refuses it). */
export interface AgeTarget {
  readonly recipients: readonly string[]
  readonly passphrase: string | undefined
}

/** What decrypts: identities (`AGE-SECRET-KEY-1…`, or in memory during a backup) and passphrases. */
export interface AgeKeys {
  readonly identities: readonly (string | Identity)[]
  readonly passphrases: readonly string[]
}

export interface AgeFile {
  /** Plaintext in, the whole age file out (header, nonce, payload). */
  encrypt(): Transform
  /** The keys that read this file back during the run: the ephemeral identity, or the passphrase. */
  readonly readBack: AgeKeys
}

/** Refused keys: a typed error, so that callers can tell "wrong key" from "damaged file". */
export class AgeKeyError extends Error {
  override readonly name = 'AgeKeyError'
}

/** The error for a key that opens none of the header's stanzas (the header is given for the message). */
export type WrongKey = (header: Buffer) => Error

const HEADER_LIMIT = 64 * 1024
const MAGIC = Buffer.from('age-encryption.org/v1\n')

/**
 * A new file key and header for one file. The header is the package's own: it is encrypted as an
 * empty file, whose output is header ‖ nonce ‖ one empty sealed chunk (16 bytes).
 */
export async function beginAgeFile(target: AgeTarget, scryptWorkFactor?: number): Promise<AgeFile> {
  const { Encrypter, generateX25519Identity, identityToRecipient } = await loadAge()
  const encrypter = new Encrypter()
  let readBack: AgeKeys
  if (target.passphrase !== undefined) {
    encrypter.setPassphrase(target.passphrase)
    if (scryptWorkFactor !== undefined) encrypter.setScryptWorkFactor(scryptWorkFactor)
    readBack = { identities: [], passphrases: [target.passphrase] }
  } else {
    for (const r of target.recipients) encrypter.addRecipient(r)
    const ephemeral = await generateX25519Identity()
    encrypter.addRecipient(await identityToRecipient(ephemeral))
    readBack = { identities: [ephemeral], passphrases: [] }
  }
  const empty = Buffer.from(await encrypter.encrypt(new Uint8Array(0)))
  const prefix = empty.subarray(0, empty.length - 16)
  const header = prefix.subarray(0, prefix.length - PAYLOAD_NONCE_BYTES)
  const nonce = prefix.subarray(prefix.length - PAYLOAD_NONCE_BYTES)
  const fileKey = await (await decrypterOf(readBack)).decryptHeader(header)
  const key = payloadKey(fileKey, nonce)
  return {
    // Passphrase mode: scrypt costs seconds and 256 MiB at age's work factor, so the read-back
    // opens the scrypt stanza with the file key just unwrapped from it instead of a third scrypt.
    readBack: target.passphrase === undefined ? readBack : { identities: [fileKeyIdentity(fileKey)], passphrases: [] },
    encrypt: () => chunkStream(new PayloadSealer(key), Buffer.from(prefix)),
  }
}

/** An identity that knows one file key: the read-back of a passphrase-encrypted file. */
function fileKeyIdentity(fileKey: Uint8Array): Identity {
  return { unwrapFileKey: (stanzas: Stanza[]) => (stanzas.some((s) => s.args[0] === 'scrypt') ? fileKey : null) }
}

/**
 * The package, loaded on first use: it and its @noble crypto cost ~0.1 CPU s to load, which a
 * backup without ENCRYPTION never needs (docs/PERFORMANCE.md, "Fixed cost of a run").
 */
function loadAge(): Promise<typeof import('age-encryption')> {
  return import('age-encryption')
}

async function decrypterOf(keys: AgeKeys): Promise<Decrypter> {
  const { Decrypter } = await loadAge()
  const d = new Decrypter()
  for (const i of keys.identities) d.addIdentity(i)
  for (const p of keys.passphrases) d.addPassphrase(p)
  return d
}

/** The stanza types of a header, for messages about a file without a manifest: `2 X25519`. */
export function describeStanzas(header: Buffer): string {
  const types = new Map<string, number>()
  for (const line of header.toString('latin1').split('\n'))
    if (line.startsWith('-> ')) {
      const type = line.split(' ')[1] ?? '?'
      types.set(type, (types.get(type) ?? 0) + 1)
    }
  return [...types].map(([t, n]) => `${n} ${t}`).join(', ') || 'no recipients'
}

/**
 * An age file in, plaintext out. The header is parsed and its file key unwrapped with `keys`
 * before any payload byte is passed on: a key that opens none of its stanzas fails with
 * `wrongKey`'s error (AgeKeyError by default), a damaged header or payload with an ordinary error.
 */
export class AgeDecryptStream extends Transform {
  #header: Buffer[] = []
  #payload: PayloadOpener | undefined

  constructor(
    private readonly keys: AgeKeys,
    private readonly wrongKey: WrongKey = (header) =>
      new AgeKeyError(`no key given opens this file (${describeStanzas(header)})`),
  ) {
    super({ highWaterMark: 1 << 20 })
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    if (this.#payload) {
      this.#open(chunk, done)
      return
    }
    this.#header.push(chunk)
    const seen = Buffer.concat(this.#header)
    this.#header = [seen]
    const n = Math.min(MAGIC.length, seen.length)
    if (!seen.subarray(0, n).equals(MAGIC.subarray(0, n))) {
      done(new Error('not an age file (its first line is not age-encryption.org/v1)'))
      return
    }
    const mac = seen.indexOf('\n--- ')
    const end = mac < 0 ? -1 : seen.indexOf('\n', mac + 1)
    if (end < 0 || seen.length < end + 1 + PAYLOAD_NONCE_BYTES) {
      if (seen.length > HEADER_LIMIT) done(new Error('not an age file (no end of header in its first 64 KiB)'))
      else done()
      return
    }
    const header = seen.subarray(0, end + 1)
    const nonce = seen.subarray(end + 1, end + 1 + PAYLOAD_NONCE_BYTES)
    const rest = seen.subarray(end + 1 + PAYLOAD_NONCE_BYTES)
    this.#header = []
    this.#unwrap(header).then(
      (fileKey) => {
        this.#payload = new PayloadOpener(payloadKey(fileKey, nonce))
        this.#open(rest, done)
      },
      (error: unknown) => done(error as Error),
    )
  }

  #open(chunk: Buffer, done: TransformCallback): void {
    try {
      for (const out of this.#payload!.feed(chunk)) this.push(out)
      done()
    } catch (error) {
      done(error as Error)
    }
  }

  async #unwrap(header: Buffer): Promise<Uint8Array> {
    try {
      return await (await decrypterOf(this.keys)).decryptHeader(header)
    } catch (error) {
      const message = (error as Error).message
      if (/no identity matched/.test(message)) throw this.wrongKey(header)
      throw new Error(`the age header is damaged: ${message}`)
    }
  }

  override _flush(done: TransformCallback): void {
    if (!this.#payload) {
      done(new Error('the age file is truncated (it ends inside its header)'))
      return
    }
    try {
      done(null, this.#payload.end())
    } catch (error) {
      done(error as Error)
    }
  }
}
