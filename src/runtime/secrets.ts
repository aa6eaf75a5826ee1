/**
 * A secret value that cannot leak by accident: it prints, logs and serialises as `***`, and only
 * `reveal()` gives the value. Every revealed value is also registered so that the logger and the
 * CLI can scrub it from any text that reaches stdout, stderr, a file or an alert.
 *
 * The scrub is the last line of defence, not the first: secrets are kept out of messages where
 * the messages are built (credentials go to tools through files, drivers are not given them in
 * anything they print). So the scrub must never mangle honest output. It masks a secret only
 * where it stands as a whole token, and leaves alone the secrets it could only mask by damaging
 * other text (`maskable` below): masking `2` everywhere turned every id into `***0260101…`, and a
 * password `postgres` turned `"engine": "postgres"` into `"engine": "***"` — which also told the
 * reader the password.
 */
const known = new Set<string>()
/** Words the configuration shows openly (user names, labels, hosts, paths…): see `registerPublic`. */
const publicWords = new Set<string>([
  'mysql',
  'mariadb',
  'postgres',
  'postgresql',
  'sqlite',
  'gzip',
  'zstd',
  'none',
  'root',
])
let forms: string[] | undefined
let pattern: RegExp | undefined

export const MASK = '***'

/** Shorter secrets are never searched for in text: they are substrings of everything. */
export const MIN_MASKED_LENGTH = 4

export class Secret {
  readonly #value: string

  constructor(value: string) {
    this.#value = value
    registerSecret(value)
  }

  reveal(): string {
    return this.#value
  }

  get isEmpty(): boolean {
    return this.#value.length === 0
  }

  toString(): string {
    return MASK
  }

  toJSON(): string {
    return MASK
  }

  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return MASK
  }
}

/** Registers a value that must never be printed (e.g. a password found outside a Secret). */
export function registerSecret(value: string): void {
  if (value.length > 0 && !known.has(value)) {
    known.add(value)
    forms = undefined
    pattern = undefined
  }
}

/**
 * Declares a value the configuration shows openly (a user name, a label, a host, a database, a
 * path) and each word of it. A secret equal to one of them is not masked: the word is printed
 * anyway where it is not the secret (user = password = `postgres`), and a mask there would both
 * mangle the output and give the password away by the gap.
 */
export function registerPublic(value: string): void {
  const words = [value, ...wordsOf(value)].filter((w) => w.length > 0 && !publicWords.has(w))
  if (words.length === 0) return
  for (const w of words) publicWords.add(w)
  forms = undefined
  pattern = undefined
}

/**
 * `value` split at every run of characters that are not letters, digits or `_` (Unicode). Printable
 * ASCII without the Unicode classes, the same split there: compiling `\p{L}` and `\p{N}` costs
 * ~8 M instructions, ~4% of every `dbkeeper status` (the configuration registers its labels, hosts
 * and paths here at start-up; docs/PERFORMANCE.md, "Start-up").
 */
export function wordsOf(value: string): string[] {
  return /[^ -~]/.test(value) ? value.split(/[^\p{L}\p{N}_]+/u) : value.split(/[^A-Za-z0-9_]+/)
}

/**
 * Whether the scrub searches for `value`: at least MIN_MASKED_LENGTH characters, not only digits
 * (sizes, times and ids are made of digits) and no public word. The others are protected only
 * by never being put into a message.
 */
export function maskable(value: string): boolean {
  return value.length >= MIN_MASKED_LENGTH && !/^\d+$/.test(value) && !publicWords.has(value)
}

/** Whether `value` is, as a whole, a registered secret (of any length): for "got <value>" messages. */
export function isSecret(value: string): boolean {
  return known.has(value)
}

/** One alternative: the value, bounded on each side that ends in a word character. */
function tokenPattern(value: string): string {
  const word = /[\p{L}\p{N}_]/u
  const body = value.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')
  const before = word.test(value[0]!) ? '(?<![\\p{L}\\p{N}_])' : ''
  const after = word.test(value.at(-1)!) ? '(?![\\p{L}\\p{N}_])' : ''
  return `${before}${body}${after}`
}

/**
 * The texts the scrub searches for, longest first (of two overlapping secrets the longer is masked
 * whole): every maskable secret, and its JSON-escaped form (JSON output escapes quotes and
 * backslashes). Empty when there is nothing to mask.
 */
function maskedForms(): string[] {
  if (forms !== undefined) return forms
  const found = new Set<string>()
  for (const value of known) {
    if (!maskable(value)) continue
    found.add(value)
    found.add(JSON.stringify(value).slice(1, -1))
  }
  forms = [...found].sort((a, b) => b.length - a.length)
  return forms
}

/**
 * The regular expression of `maskedForms`, compiled on the first text that contains one of them:
 * its Unicode word boundaries cost ~40 M instructions to compile and run the first time, which a
 * `dbkeeper status` with a password configured paid on every HEALTHCHECK while printing no secret
 * (docs/PERFORMANCE.md, "Start-up").
 */
function compiled(): RegExp {
  pattern ??= new RegExp(maskedForms().map(tokenPattern).join('|'), 'gu')
  return pattern
}

/** Replaces every whole-token occurrence of a maskable secret in free text by `***`. */
export function scrubSecrets(text: string): string {
  // Every match of the pattern is one of the forms, bounded: a text without any form has none.
  return maskedForms().some((form) => text.includes(form)) ? text.replace(compiled(), MASK) : text
}

/**
 * Scrubs a text that may be one JSON document (a `--json` output, a log line): only string
 * values are searched, never keys, numbers or the layout, and the text comes back byte for byte
 * unless something was masked. Anything else is free text (`scrubSecrets`).
 */
export function scrubOutput(text: string): string {
  if (maskedForms().length === 0) return text
  const trimmed = text.trimEnd()
  if (!/^\s*[[{]/.test(trimmed)) return scrubSecrets(text)
  let doc: unknown
  try {
    doc = JSON.parse(trimmed)
  } catch {
    return scrubSecrets(text)
  }
  let changed = false
  const walk = (v: unknown): unknown => {
    if (typeof v === 'string') {
      const clean = scrubSecrets(v)
      if (clean !== v) changed = true
      return clean
    }
    if (Array.isArray(v)) return v.map(walk)
    if (v !== null && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, walk(x)]))
    return v
  }
  const clean = walk(doc)
  if (!changed) return text
  const indent = /^[[{]\n( +)/.exec(trimmed)?.[1]?.length ?? 0
  return `${JSON.stringify(clean, null, indent)}${text.slice(trimmed.length)}`
}
