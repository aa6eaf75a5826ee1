/**
 * `--identity FILE` of restore and verify: an age private key file for this command, in place of
 * AGE_IDENTITY_FILE; checked as the variable is (readable, not readable by others, keys only).
 */
import { readFileSync } from 'node:fs'
import { loadIdentityFile } from '../config/encryption.js'
import type { Config } from '../config/types.js'
import { DbkeeperError } from '../runtime/errors.js'

export const IDENTITY_OPTION = { identity: { type: 'string' } } as const

export function withIdentity(config: Config, file: string | undefined): Config {
  if (file === undefined) return config
  const loaded = loadIdentityFile(file, (p) => readFileSync(p, 'utf8'))
  if ('problem' in loaded)
    throw new DbkeeperError('USAGE', `--identity ${file}: expected ${loaded.problem}`, {
      hint: 'give the private key file age-keygen wrote (chmod 600), or set AGE_IDENTITY_FILE',
    })
  return Object.freeze({
    ...config,
    decryption: Object.freeze({ ...config.decryption, identities: loaded.identities, from: `--identity ${file}` }),
  })
}
