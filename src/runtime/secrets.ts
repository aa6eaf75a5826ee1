/**
 * A secret value that cannot leak by accident: it prints, logs and serialises as `***`, and only
 * `reveal()` gives the value. Every revealed value is also registered so that the logger and the
 * CLI can scrub it from any text that reaches stdout, stderr, a file or an alert.
 */
const known = new Set<string>()

export const MASK = '***'

export class Secret {
  readonly #value: string

  constructor(value: string) {
    this.#value = value
    if (value.length > 0) known.add(value)
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
  if (value.length > 0) known.add(value)
}

/** Replaces every known secret value in `text` by `***`. Longest first, so overlaps are masked whole. */
export function scrubSecrets(text: string): string {
  if (known.size === 0) return text
  let out = text
  for (const value of [...known].sort((a, b) => b.length - a.length)) {
    if (out.includes(value)) out = out.split(value).join(MASK)
    // JSON output escapes quotes and backslashes: mask the escaped form too.
    const escaped = JSON.stringify(value).slice(1, -1)
    if (escaped !== value && out.includes(escaped)) out = out.split(escaped).join(MASK)
  }
  return out
}
