/**
 * Deterministic test data for the bench: the same seed gives the same rows on every machine, so
 * two runs compress the same bytes. The mix is meant to look like an application database: words
 * from a Zipf-like vocabulary (compresses well), JSON-ish text, dates, decimals, and random hex ids
 * (barely compresses) — mysqldump of it gzips about 3–4×, like typical production dumps. `--shape hex`
 * (HEX_TABLES) is the other end: hashes and random decimals, ~3:1.
 */

/** xorshift32: fast, seedable, good enough for data that only has to look varied. */
export class Rng {
  #s: number
  constructor(seed: number) {
    this.#s = seed >>> 0 || 1
  }
  next(): number {
    let x = this.#s
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    this.#s = x >>> 0
    return this.#s / 4294967296
  }
  int(n: number): number {
    return Math.floor(this.next() * n)
  }
  /** Skewed towards small indices, as word frequencies are. */
  zipf(n: number): number {
    return Math.floor(n * this.next() ** 3)
  }
  hex(len: number): string {
    let s = ''
    while (s.length < len) s += ((this.next() * 0x100000000) >>> 0).toString(16).padStart(8, '0')
    return s.slice(0, len)
  }
}

const SYLLABLES = [
  'ka',
  'lo',
  'mi',
  'ner',
  'sta',
  'qui',
  'bel',
  'dor',
  'fen',
  'gal',
  'hu',
  'jor',
  'pra',
  'ven',
  'tis',
  'ux',
  'zor',
  'an',
  'el',
  'ost',
]
const vocab = (() => {
  const rng = new Rng(7)
  return Array.from({ length: 4000 }, () =>
    Array.from({ length: 1 + rng.int(3) }, () => SYLLABLES[rng.int(SYLLABLES.length)]).join(''),
  )
})()
const CITIES = vocab.slice(100, 400).map((w) => w[0]!.toUpperCase() + w.slice(1))
const STATUS = ['new', 'paid', 'shipped', 'delivered', 'cancelled', 'refunded']
const MIME = ['image/jpeg', 'image/png', 'application/pdf', 'text/plain', 'application/json', 'video/mp4']
const SCOPES = ['read', 'read write', 'read write admin', 'api:read', 'api:read api:write', 'billing:read']
const KINDS = ['page_view', 'click', 'login', 'logout', 'search', 'add_to_cart', 'checkout', 'error']
const AGENTS = [
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36',
  'Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15',
  'Mozilla/5.0 (X11; Linux x86_64; rv:127.0) Gecko/20100101 Firefox/127.0',
  'Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148',
]

function words(rng: Rng, n: number): string {
  const out: string[] = []
  for (let i = 0; i < n; i++) out.push(vocab[rng.zipf(vocab.length)]!)
  return out.join(' ')
}

function date(rng: Rng): string {
  const t = new Date(Date.UTC(2019, 0, 1) + rng.int(5 * 365 * 86400) * 1000)
  return t.toISOString().slice(0, 19).replace('T', ' ')
}

export interface TableSpec {
  name: string
  ddl: string
  /** One TSV line (LOAD DATA's default format: tab-separated, newline-terminated, no escapes needed). */
  row(id: number, rng: Rng): string
}

export const TABLES: TableSpec[] = [
  {
    name: 'customers',
    ddl: `CREATE TABLE customers (id INT PRIMARY KEY, name VARCHAR(80), email VARCHAR(120), city VARCHAR(60),
      country CHAR(2), created_at DATETIME, balance DECIMAL(12,2), note TEXT) ENGINE=InnoDB`,
    row: (id, r) => {
      const name = `${CITIES[r.int(CITIES.length)]} ${vocab[r.zipf(vocab.length)]}`
      return (
        `${id}\t${name}\t${vocab[r.int(vocab.length)]}.${id}@example.${['com', 'org', 'net'][r.int(3)]}\t${CITIES[r.zipf(CITIES.length)]}\t` +
        `${['DE', 'FR', 'US', 'GB', 'NL', 'IT'][r.zipf(6)]}\t${date(r)}\t${(r.next() * 10000).toFixed(2)}\t${words(r, r.int(30))}\n`
      )
    },
  },
  {
    name: 'orders',
    ddl: `CREATE TABLE orders (id BIGINT PRIMARY KEY, customer_id INT, status VARCHAR(16), total DECIMAL(12,2),
      currency CHAR(3), created_at DATETIME, items TEXT) ENGINE=InnoDB`,
    row: (id, r) => {
      const items = Array.from(
        { length: 1 + r.int(4) },
        () => `{"sku":"SKU-${r.int(50000)}","qty":${1 + r.int(5)},"price":${(r.next() * 200).toFixed(2)}}`,
      )
      return `${id}\t${r.int(1_000_000)}\t${STATUS[r.zipf(STATUS.length)]}\t${(r.next() * 900).toFixed(2)}\tEUR\t${date(r)}\t[${items.join(',')}]\n`
    },
  },
  {
    name: 'events',
    ddl: `CREATE TABLE events (id BIGINT PRIMARY KEY, occurred_at DATETIME, session CHAR(32), kind VARCHAR(32),
      path VARCHAR(200), user_agent VARCHAR(200), payload TEXT) ENGINE=InnoDB`,
    row: (id, r) => {
      const path = `/${vocab[r.zipf(vocab.length)]}/${vocab[r.zipf(vocab.length)]}/${r.int(100000)}`
      return (
        `${id}\t${date(r)}\t${r.hex(32)}\t${KINDS[r.zipf(KINDS.length)]}\t${path}\t${AGENTS[r.zipf(AGENTS.length)]}\t` +
        `{"ms":${r.int(5000)},"ref":"${r.hex(12)}","q":"${words(r, 1 + r.int(6))}"}\n`
      )
    },
  },
]

/**
 * The high-entropy shape (`--shape hex`): MD5/SHA1/SHA-256-like hex strings, random decimals and
 * counters, little repeated text — ids and hashes as an audit log or a token store holds them.
 * Its dump compresses ~3:1, so the dump and the compressor cost about the same: where a pipeline
 * that spends CPU outside the compressor shows it.
 */
export const HEX_TABLES: TableSpec[] = [
  {
    name: 'objects',
    ddl: `CREATE TABLE objects (id BIGINT PRIMARY KEY, md5 CHAR(32), sha1 CHAR(40), mime VARCHAR(40),
      size BIGINT, price DECIMAL(14,4), created_at DATETIME, updated_at DATETIME, state VARCHAR(16)) ENGINE=InnoDB`,
    row: (id, r) =>
      `${id}\t${r.hex(32)}\t${r.hex(40)}\t${MIME[r.zipf(MIME.length)]}\t${r.int(2 ** 24)}\t${(r.next() * 1e4).toFixed(4)}\t` +
      `${date(r)}\t${date(r)}\t${STATUS[r.zipf(STATUS.length)]}\n`,
  },
  {
    name: 'tokens',
    ddl: `CREATE TABLE tokens (id BIGINT PRIMARY KEY, token CHAR(64), owner_id INT, scope VARCHAR(60),
      counter INT, created_at DATETIME, expires_at DATETIME, revoked TINYINT) ENGINE=InnoDB`,
    row: (id, r) =>
      `${id}\t${r.hex(64)}\t${r.int(1e5)}\t${SCOPES[r.zipf(SCOPES.length)]}\t${r.zipf(1000)}\t${date(r)}\t${date(r)}\t${r.zipf(2)}\n`,
  },
  {
    name: 'ledger',
    ddl: `CREATE TABLE ledger (id BIGINT PRIMARY KEY, tx CHAR(40), account INT, amount DECIMAL(16,2),
      currency CHAR(3), kind VARCHAR(16), booked_at DATETIME, memo VARCHAR(80)) ENGINE=InnoDB`,
    row: (id, r) =>
      `${id}\t${r.hex(40)}\t${r.int(1e4)}\t${(r.next() * 1e4).toFixed(2)}\t${['EUR', 'USD', 'GBP'][r.zipf(3)]}\t` +
      `${KINDS[r.zipf(KINDS.length)]}\t${date(r)}\tinvoice ${r.int(1e6)} ${STATUS[r.zipf(STATUS.length)]}\n`,
  },
]

export const SHAPES = { text: TABLES, hex: HEX_TABLES } as const
export type Shape = keyof typeof SHAPES

/** `--shape`: text (the default) or hex. */
export function parseShape(text: string): Shape {
  if (text in SHAPES) return text as Shape
  throw new Error(`--shape: expected ${Object.keys(SHAPES).join(' or ')}, got ${JSON.stringify(text)}`)
}

/**
 * TSV text for one table in pieces of about `chunkBytes`, `totalBytes` in all. Row ids continue
 * across pieces; the seed depends only on the table, so the data never depends on the chunk size.
 */
export function* tsvChunks(table: TableSpec, totalBytes: number, chunkBytes: number): Generator<string> {
  const rng = new Rng(table.name.length * 7919 + table.name.charCodeAt(0))
  let id = 0
  let written = 0
  while (written < totalBytes) {
    const lines: string[] = []
    let size = 0
    while (size < chunkBytes && written + size < totalBytes) {
      const line = table.row(++id, rng)
      lines.push(line)
      size += line.length
    }
    written += size
    yield lines.join('')
  }
}

/** "100M", "1G", "300m", "2048K" → bytes. */
export function parseSize(text: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([KMG]?)i?B?$/i.exec(text.trim())
  if (!m) throw new Error(`--size: expected a size such as 100M or 1G, got ${JSON.stringify(text)}`)
  const unit = { '': 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3 }[m[2]!.toUpperCase() as '' | 'K' | 'M' | 'G']
  return Math.round(Number(m[1]) * unit)
}
