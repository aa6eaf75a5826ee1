/**
 * `node bench/statement-scan.mjs DUMP.sql [CHUNK_KIB]`
 *
 * What the raw meter's scan for the longest statement costs (src/pipeline/meter.ts), against the
 * scan for the longest line it replaced: each over the dump's bytes in memory, cut into chunks as
 * the dump tool's socket hands them over (21 KiB on average), 5 passes each, alternated. Prints
 * ms per pass and what each found. A dump to read: `zstd -dc` or `gunzip -c` of a bench backup.
 */
import { readFileSync } from 'node:fs'

const [file, chunkKib = '21'] = process.argv.slice(2)
if (!file) throw new Error('usage: node bench/statement-scan.mjs DUMP.sql [CHUNK_KIB]')
const all = readFileSync(file)
const size = Number(chunkKib) * 1024
const chunks = []
for (let i = 0; i < all.length; i += size) chunks.push(all.subarray(i, i + size))

/** Before: one indexOf per line. */
function longestLine() {
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

const END = Buffer.from(';\n')
/** Now: one indexOf per statement (`;` at a line's end), as meter.ts does. */
function longestStatement() {
  let statement = 0
  let longest = 0
  let last = -1
  for (const chunk of chunks) {
    let from = 0
    if (last === 0x3b && chunk[0] === 0x0a) {
      longest = Math.max(longest, statement)
      statement = 0
      from = 1
    }
    for (let end = chunk.indexOf(END, from); end !== -1; end = chunk.indexOf(END, from)) {
      longest = Math.max(longest, statement + end + 1 - from)
      statement = 0
      from = end + 2
    }
    statement += chunk.length - from
    last = chunk[chunk.length - 1]
  }
  return Math.max(longest, statement)
}

const times = { line: [], statement: [] }
const found = {}
for (let pass = 0; pass < 5; pass++) {
  for (const [name, scan] of [
    ['line', longestLine],
    ['statement', longestStatement],
  ]) {
    const start = process.hrtime.bigint()
    found[name] = scan()
    times[name].push(Number(process.hrtime.bigint() - start) / 1e6)
  }
}
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
console.log(`${(all.length / 2 ** 20).toFixed(1)} MiB in ${chunks.length} chunks of ${chunkKib} KiB`)
for (const name of ['line', 'statement'])
  console.log(`longest ${name}: ${found[name]} bytes, ${median(times[name]).toFixed(1)} ms per pass (median of 5)`)
