/** `splitOptions`: DBnn_EXTRA_OPTS into arguments, shell-like, without a shell. */
import { describe, expect, it } from 'vitest'
import { splitOptions } from '../../src/config/options.js'

describe('splitOptions', () => {
  it.each<[string, string[]]>([
    ['', []],
    ['   ', []],
    ['--a', ['--a']],
    ['  --a   --b  ', ['--a', '--b']],
    ['--a\t--b\n--c', ['--a', '--b', '--c']],
    ['"a b" c', ['a b', 'c']],
    ["'a b' c", ['a b', 'c']],
    ['--x="a b"', ['--x=a b']],
    ['""', ['']],
    ["''", ['']],
    ['a""b', ['ab']],
    ['"it\'s"', ["it's"]],
    ['\'say "hi"\'', ['say "hi"']],
    ['"a \\" b"', ['a " b']],
    ["'a \\ b'", ['a \\ b']],
    ['a\\ b', ['a b']],
    ['a\\"b', ['a"b']],
    ['$HOME `id`', ['$HOME', '`id`']],
  ])('splits %j into %j', (text, args) => {
    expect(splitOptions(text)).toEqual({ args })
  })

  it.each([
    ['"unclosed', 'unclosed " quote'],
    ["--a 'b", "unclosed ' quote"],
  ])('refuses %j (%s)', (text, error) => {
    expect(splitOptions(text)).toEqual({ args: [], error })
  })
})
