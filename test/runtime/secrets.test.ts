/** Secret values: masked wherever they are printed, and scrubbed from any text that reaches output. */
import fc from 'fast-check'
import { inspect } from 'node:util'
import { describe, expect, it } from 'vitest'
import {
  MASK,
  registerPublic,
  registerSecret,
  scrubOutput,
  scrubSecrets,
  Secret,
  wordsOf,
} from '../../src/runtime/secrets.js'

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
    expect(scrubSecrets('alpha-pass-81c2 and beta-token-55e0, again alpha-pass-81c2')).toBe(
      `${MASK} and ${MASK}, again ${MASK}`,
    )
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

describe('scrubSecrets never mangles (issue 14)', () => {
  it('masks a secret only as a whole token, never inside another word', () => {
    new Secret('kiwi-7')
    expect(scrubSecrets('pw kiwi-7, "kiwi-7" x=kiwi-7')).toBe(`pw ${MASK}, "${MASK}" x=${MASK}`)
    expect(scrubSecrets('kiwi-70 akiwi-7 kiwi-7_b')).toBe('kiwi-70 akiwi-7 kiwi-7_b')
  })

  it('never searches for secrets shorter than 4 characters or made of digits only', () => {
    new Secret('2')
    new Secret('q!')
    new Secret('20260101')
    const text = 'app_20260101T000000Z.sql.gz 2 q! 20260101 size 2048'
    expect(scrubSecrets(text)).toBe(text)
  })

  it('does not mask a secret that is also a public word (user = password, an engine name)', () => {
    new Secret('mysql')
    new Secret('tangerine')
    registerPublic('tangerine')
    expect(scrubSecrets('engine mysql, user tangerine')).toBe('engine mysql, user tangerine')
  })

  it('masks string values of a JSON document, never its keys, and keeps its bytes when nothing is masked', () => {
    new Secret('size-pass')
    const doc = `${JSON.stringify({ 'size-pass': 1, path: '/b/x', note: 'login size-pass failed' }, null, 2)}\n`
    expect(scrubOutput(doc)).toBe(
      `${JSON.stringify({ 'size-pass': 1, path: '/b/x', note: `login ${MASK} failed` }, null, 2)}\n`,
    )
    const clean = '{"a":  1, "b":"x"}\n'
    expect(scrubOutput(clean)).toBe(clean)
  })
})

describe('wordsOf', () => {
  // The ASCII path must split exactly as the Unicode classes do, on any text.
  const unicodeWords = (value: string) => value.split(/[^\p{L}\p{N}_]+/u)

  it('splits as the Unicode letter and digit classes do, ASCII or not', () => {
    const char = fc.oneof(
      fc.integer({ min: 0, max: 0x7f }).map((c) => String.fromCharCode(c)),
      fc.constantFrom('é', 'ß', 'Ω', '²', '٣', 'ª', '\u00a0', '\u0085', 'ǅ', '日', '😀', '\ud800'),
    )
    fc.assert(
      fc.property(fc.array(char, { maxLength: 24 }), (chars) => {
        const value = chars.join('')
        expect(wordsOf(value)).toEqual(unicodeWords(value))
      }),
      { numRuns: 5000 },
    )
    for (const value of ['db01.example.com', '/var/lib/app.db', 'app_user', 'naïve-host', 'x²', 'a\tb', ''])
      expect(wordsOf(value)).toEqual(unicodeWords(value))
  })
})
