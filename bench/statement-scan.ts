/**
 * `node --import tsx bench/statement-scan.ts DUMP.sql [CHUNK_KIB]`
 *
 * What the raw meter's scan for the longest statement costs (meter.ts LongestStatement, the code
 * a backup runs), against the scan for the longest line it replaced: each over the dump's bytes in
 * memory, cut into chunks as the dump tool's socket hands them over (21 KiB on average), 5 passes
 * each, alternated. Prints ms per pass and what each found. A dump to read: `zstd -dc` or
 * `gunzip -c` of a bench backup.
 */
import { readFileSync } from 'node:fs'
import { LongestStatement } from '../src/pipeline/meter.js'

const [file, chunkKib = '21'] = process.argv.slice(2)
if (!file) throw new Error('usage: node --import tsx bench/statement-scan.ts DUMP.sql [CHUNK_KIB]')
const all = readFileSync(file)
const size = Number(chunkKib) * 1024
const chunks: Buffer[] = []
for (let i = 0; i < all.length; i += size) chunks.push(all.subarray(i, i + size))

/** Before (the meter until ebdca00): one indexOf per line. */
function longestLine(): number {
  let line = 0
  let longest = 0
  for (const chunk of chunks) {
    let from = 0
    for (let nl = chunk.indexOf(10, from); nl !== -1; nl = chunk.indexOf(10, from)) {
      longest = Math.max(longest, line + nl - from)
      line = 0
      from = nl + 1
    }
    line += chunk.length - from
  }
  return Math.max(longest, line)
}

/** Now: the meter's own scan, one indexOf per statement. */
function longestStatement(): number {
  const scan = new LongestStatement()
  for (const chunk of chunks) scan.add(chunk)
  return scan.bytes
}

const scans = { line: longestLine, statement: longestStatement }
const times: Record<keyof typeof scans, number[]> = { line: [], statement: [] }
const found: Partial<Record<keyof typeof scans, number>> = {}
for (let pass = 0; pass < 5; pass++) {
  for (const name of ['line', 'statement'] as const) {
    const start = process.hrtime.bigint()
    found[name] = scans[name]()
    times[name].push(Number(process.hrtime.bigint() - start) / 1e6)
  }
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!
console.log(`${(all.length / 2 ** 20).toFixed(1)} MiB in ${chunks.length} chunks of ${chunkKib} KiB`)
for (const name of ['line', 'statement'] as const)
  console.log(`longest ${name}: ${found[name]} bytes, ${median(times[name]).toFixed(1)} ms per pass (median of 5)`)
