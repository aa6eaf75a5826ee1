/** Keys made by the age CLI itself, and the plain-tool decryption an operator would run at 3 a.m. */
import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'

export interface AgeKey {
  /** The identity file, 0600, as age-keygen writes it. */
  path: string
  recipient: string
  identity: string
}

export function keygen(dir: string, name: string): AgeKey {
  const path = join(dir, name)
  execFileSync('age-keygen', ['-o', path], { stdio: 'ignore' })
  const text = readFileSync(path, 'utf8')
  return {
    path,
    identity: /^AGE-SECRET-KEY-1\S+$/m.exec(text)![0],
    recipient: /public key: (age1\S+)/.exec(text)![1]!,
  }
}

/** `age -d -i KEY FILE | gunzip`: the plaintext dump, with the age CLI and nothing of ours. */
export function ageDecryptGunzip(file: string, key: AgeKey): Buffer {
  return execFileSync('sh', ['-c', 'age -d -i "$1" "$2" | gunzip', 'sh', key.path, file], { maxBuffer: 1 << 30 })
}
