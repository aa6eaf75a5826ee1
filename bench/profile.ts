/**
 * `node --import tsx bench/profile.ts DIR_OR_FILE... [--top 25]`: where the main thread of a
 * dbkeeper run spent its time, from the V8 CPU profiles `npm run bench -- --profile DIR` writes.
 * Self time per stage (hashing, CRC, compression hand-off, stream machinery, idle, GC…) and per
 * function, as a share of the profile's wall time. Several files are summed.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { parseArgs } from 'node:util'

interface CallFrame {
  functionName: string
  url: string
  lineNumber: number
}
interface Profile {
  nodes: { id: number; callFrame: CallFrame }[]
  samples: number[]
  timeDeltas: number[]
}

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { top: { type: 'string', default: '25' } },
})
const files = positionals.flatMap((p) =>
  statSync(p).isDirectory()
    ? readdirSync(p)
        .filter((f) => f.endsWith('.cpuprofile'))
        .map((f) => join(p, f))
    : [p],
)
if (files.length === 0) throw new Error('no .cpuprofile given: bench/profile.ts DIR_OR_FILE...')

/** The stage a function belongs to: by name and file, first match wins. */
const STAGES: [string, (f: CallFrame) => boolean][] = [
  ['idle (waiting for I/O or the thread pool)', (f) => f.functionName === '(idle)'],
  ['garbage collection', (f) => f.functionName === '(garbage collector)'],
  ['sha256 (meters)', (f) => /^(update|digest)$/.test(f.functionName) && f.url.includes('crypto')],
  ['crc32 (gzip trailer)', (f) => f.functionName === 'crc32'],
  ['line measuring (Meter)', (f) => f.url.includes('meter.js') && f.functionName.includes('measure')],
  ['parallel gzip (block cut, copies, hand-off)', (f) => f.url.includes('gzip-parallel')],
  ['zlib (a stream per deflated block; inflate hand-off)', (f) => f.url.includes('node:zlib')],
  ['streams machinery', (f) => f.url.includes('node:internal/streams')],
  ['fs reads and writes', (f) => f.url.includes('node:internal/fs') || f.url === 'node:fs'],
  ['module loading and compiling', (f) => f.url.includes('node:internal/modules') || f.url.includes('bootstrap')],
  ['child process pipes', (f) => f.url.includes('child_process') || f.url.includes('net')],
  ['native (program)', (f) => f.functionName === '(program)'],
  ['node_modules', (f) => f.url.includes('node_modules')],
  ['dbkeeper code', (f) => /\/(dist|src)\//.test(f.url)],
  ['other', () => true],
]

let total = 0
const stages = new Map<string, number>()
const functions = new Map<string, number>()
for (const file of files) {
  const p = JSON.parse(readFileSync(file, 'utf8')) as Profile
  const byId = new Map(p.nodes.map((n) => [n.id, n.callFrame]))
  for (let i = 0; i < p.samples.length; i++) {
    const f = byId.get(p.samples[i]!)!
    const us = p.timeDeltas[i] ?? 0
    total += us
    const stage = STAGES.find(([, match]) => match(f))![0]
    stages.set(stage, (stages.get(stage) ?? 0) + us)
    const where = f.url.replace(/^.*\/(node_modules|dist|src)\//, '$1/')
    const key = `${f.functionName || '(anonymous)'} ${where}${where ? `:${f.lineNumber + 1}` : ''}`
    functions.set(key, (functions.get(key) ?? 0) + us)
  }
}
const top = Number(values.top) || 25
const rows = (m: Map<string, number>, n: number) =>
  [...m]
    .sort((a, b) => b[1] - a[1])
    .slice(0, n)
    .map(([k, us]) => `| ${k.replace(/\|/g, '\\|')} | ${(us / 1e6).toFixed(2)} | ${((100 * us) / total).toFixed(1)}% |`)
console.log(`${files.length} profile(s), ${(total / 1e6).toFixed(1)} s of main-thread wall time\n`)
console.log(['| stage | s | share |', '|---|---:|---:|', ...rows(stages, stages.size)].join('\n'))
console.log(['', '| function | s | share |', '|---|---:|---:|', ...rows(functions, top)].join('\n'))
