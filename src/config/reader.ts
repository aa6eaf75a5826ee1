import { isSecret, MASK, Secret, scrubSecrets } from '../runtime/secrets.js'

/** One thing wrong with the configuration: which variable, what it held, what was expected. */
export interface ConfigProblem {
  variable: string
  value: string | undefined
  expected: string
}

export type Env = Readonly<Record<string, string | undefined>>
export type FileReader = (path: string) => string

/**
 * Reads typed values out of an environment, collecting every problem instead of stopping at the
 * first, so that an operator sees all of them at once. Pure apart from `readFile` (for `_FILE`
 * secrets), which the caller passes in.
 */
export class EnvReader {
  readonly problems: ConfigProblem[] = []
  /** Every name looked up, set or not: what is known is measured from this (see known.ts). */
  readonly asked = new Set<string>()

  constructor(
    private readonly env: Env,
    private readonly readFile: FileReader,
  ) {}

  has(name: string): boolean {
    return this.raw(name) !== undefined
  }

  /** The trimmed value, or undefined when unset or blank. */
  raw(name: string): string | undefined {
    this.asked.add(name)
    const v = this.env[name]
    if (v === undefined) return undefined
    const t = v.trim()
    return t === '' ? undefined : t
  }

  problem(variable: string, value: string | undefined, expected: string): void {
    this.problems.push({ variable, value, expected })
  }

  string(name: string, fallback?: string): string | undefined {
    return this.raw(name) ?? fallback
  }

  required(name: string, expected: string): string | undefined {
    const v = this.raw(name)
    if (v === undefined) this.problem(name, undefined, expected)
    return v
  }

  int(name: string, opts: { min: number; max: number; fallback?: number; expected?: string }): number | undefined {
    const v = this.raw(name)
    if (v === undefined) return opts.fallback
    const n = /^-?\d+$/.test(v) ? Number(v) : Number.NaN
    if (!Number.isSafeInteger(n) || n < opts.min || n > opts.max) {
      this.problem(name, v, opts.expected ?? `an integer from ${opts.min} to ${opts.max}`)
      return opts.fallback
    }
    return n
  }

  oneOf<T extends string>(name: string, allowed: readonly T[], fallback: T, aliases: Record<string, T> = {}): T {
    const v = this.raw(name)
    if (v === undefined) return fallback
    const lower = v.toLowerCase()
    const hit = allowed.find((a) => a === lower) ?? aliases[lower]
    if (hit === undefined) {
      this.problem(name, v, `one of ${allowed.join(', ')}`)
      return fallback
    }
    return hit
  }

  bool(name: string, fallback: boolean): boolean {
    const v = this.raw(name)
    if (v === undefined) return fallback
    const lower = v.toLowerCase()
    if (['true', '1', 'yes', 'on'].includes(lower)) return true
    if (['false', '0', 'no', 'off'].includes(lower)) return false
    this.problem(name, v, 'true or false')
    return fallback
  }

  /**
   * The text of the file named by variable `name` (a list of public keys, a key file), or
   * undefined with a problem naming the variable when it cannot be read.
   */
  fileText(name: string, expected: string): string | undefined {
    const path = this.raw(name)
    if (path === undefined) return undefined
    try {
      return this.readFile(path)
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code ?? 'unreadable'
      this.problem(name, path, `${expected} (${code})`)
      return undefined
    }
  }

  /**
   * A secret from `NAME` or from the file named by `NAME_FILE` (Docker secrets). Setting both is a
   * problem: which one wins would be a guess. One trailing newline of the file is dropped.
   */
  secret(name: string): Secret | undefined {
    this.asked.add(name)
    const direct = this.env[name]
    const file = this.raw(`${name}_FILE`)
    if (direct !== undefined && direct !== '' && file !== undefined) {
      this.problem(name, MASK, `either ${name} or ${name}_FILE, not both`)
      return undefined
    }
    if (file !== undefined) {
      try {
        return new Secret(this.readFile(file).replace(/\r?\n$/, ''))
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code ?? 'unreadable'
        this.problem(`${name}_FILE`, file, `a readable file holding the secret (${code})`)
        return undefined
      }
    }
    // A password is taken as written: leading or trailing spaces may be part of it.
    return direct === undefined || direct === '' ? undefined : new Secret(direct)
  }
}

export function formatProblem(p: ConfigProblem): string {
  // A password pasted into the wrong variable (DB01_PORT=<password>) is still a password.
  // Compared whole too: a short password (`2`) is not searched for inside text, but is one value here.
  const got =
    p.value === undefined
      ? 'it is not set'
      : `got ${isSecret(p.value) ? `"${MASK}"` : scrubSecrets(JSON.stringify(p.value))}`
  return `${p.variable}: expected ${p.expected}; ${got}`
}
