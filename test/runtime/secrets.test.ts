/** Secret values: masked wherever they are printed, and scrubbed from any text that reaches output. */
import { inspect } from 'node:util'
import { describe, expect, it } from 'vitest'
import { MASK, registerSecret, scrubSecrets, Secret } from '../../src/runtime/secrets.js'

describe('Secret', () => {
  it('reveals its value only through reveal()', () => {
    const s = new Secret('reveal-me-4b1d')
    expect(s.reveal()).toBe('reveal-me-4b1d')
    expect(String(s)).toBe(MASK)
    expect(JSON.stringify({ password: s })).toBe('{"password":"***"}')
    expect(inspect({ password: s })).not.toContain('reveal-me-4b1d')
  })

  it('knows when it is empty, and registers nothing then', () => {
    const s = new Secret('')
    expect(s.isEmpty).toBe(true)
    expect(scrubSecrets('nothing to mask')).toBe('nothing to mask')
  })
})

describe('scrubSecrets', () => {
  it('masks every occurrence of every registered value', () => {
    new Secret('alpha-pass-81c2')
    registerSecret('beta-token-55e0')
    expect(scrubSecrets('alpha-pass-81c2 and beta-token-55e0, again alpha-pass-81c2')).toBe(`${MASK} and ${MASK}, again ${MASK}`)
  })

  it('masks the longer of two overlapping secrets whole', () => {
    new Secret('overlap-9')
    new Secret('overlap-9-longer')
    expect(scrubSecrets('x overlap-9-longer y')).toBe(`x ${MASK} y`)
  })

  it('masks the JSON-escaped form of a password with quotes and backslashes', () => {
    const pw = 'q"uo\\te-3f7a'
    new Secret(pw)
    const json = JSON.stringify({ msg: `login failed for password ${pw}` })
    expect(json).not.toContain(pw) // the escaped form differs from the raw value…
    expect(scrubSecrets(json)).not.toContain(JSON.stringify(pw).slice(1, -1)) // …and is masked too
    expect(scrubSecrets(json)).toContain(MASK)
  })

  it('leaves text without secrets unchanged', () => {
    expect(scrubSecrets('mysqldump exited 2: Access denied')).toBe('mysqldump exited 2: Access denied')
  })
})
