/**
 * The names of the databases dbkeeper itself creates on a server for a while, pure:
 *   dbkeeper_drill_<8 hex>        a restore drill's scratch database
 *   <target>_dbkrestore_<8 hex>   a restore loading aside before it swaps the result in
 *   <target>_dbkold_<8 hex>       a restore's old content, kept until the swap is done
 * Here, under engines/, because the probes need them (`ALL` never backs one up) and engines do
 * not import from restore/; restore/scratch.ts re-exports them with the record-and-sweep helpers.
 */
import { randomBytes } from 'node:crypto'

export type ScratchTag = 'drill' | 'dbkrestore' | 'dbkold'

/** The drill's "target": its scratch databases are `dbkeeper_drill_<8 hex>`, as they always were. */
export const DRILL_TARGET = 'dbkeeper'

const PATTERN = /^(.*)_(drill|dbkrestore|dbkold)_([0-9a-f]{8})$/

/**
 * `<target>_<tag>_<8 random hex>` within 63 bytes (PostgreSQL's identifier limit; MySQL's is 64
 * characters), the target cut on a character boundary when needed.
 */
export function scratchName(target: string, tag: ScratchTag): string {
  const suffix = `_${tag}_${randomBytes(4).toString('hex')}`
  const chars = [...target]
  while (Buffer.byteLength(chars.join('') + suffix) > 63) chars.pop()
  return chars.join('') + suffix
}

/** The tag and (possibly cut) target of one of our scratch names; undefined for any other name. */
export function parseScratchName(name: string): { target: string; tag: ScratchTag } | undefined {
  const m = PATTERN.exec(name)
  if (!m) return undefined
  const tag = m[2] as ScratchTag
  // A drill's scratch always has our prefix: `shop_drill_…` is somebody else's database.
  if (tag === 'drill' && m[1] !== DRILL_TARGET) return undefined
  return { target: m[1]!, tag }
}

/** Whether `name` has the shape of a scratch database of ours (what `ALL` leaves out). */
export function isScratchName(name: string): boolean {
  return parseScratchName(name) !== undefined
}
