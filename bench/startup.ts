/**
 * `npm run bench:startup -- [--runs 30] [--cli build|source] [--instructions]`
 *
 * The start-up of the CLI against a bare `node -e 0`, every command in the same run, rounds
 * alternating: `dbkeeper status` (the container's HEALTHCHECK runs `status --check` every minute),
 * `status --check` and `--help`. Reported per command: wall and CPU time (medians, and the ratio
 * to `node -e 0` of the same round), peak RSS, and the number of modules loaded. The machine is
 * shared, so wall time is noisy; CPU time is less so, and `--instructions` adds instruction counts
 * under valgrind (callgrind, all threads), which do not depend on the load at all (slow: ~1 min).
 *
 * The configuration is the smallest real one (one SQLite source, an empty volume): what every
 * command reads before it does anything.
 */
import { execFileSync, spawnSync } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { cpus, loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { buildCli } from './build.js'

const ROOT = new URL('..', import.meta.url).pathname
const { values: opts } = parseArgs({
  options: {
    runs: { type: 'string', default: '30' },
    cli: { type: 'string', default: 'build' },
    instructions: { type: 'boolean', default: false },
  },
})
const runs = Math.max(3, Number(opts.runs) || 30)
const log = (line: string) => process.stderr.write(`${line}\n`)

/** user + system CPU of the waited-for children of this process, in ms (clock ticks of 10 ms). */
function childrenCpuMs(): number {
  const stat = readFileSync('/proc/self/stat', 'utf8')
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  // Fields 16 and 17 of stat(5) (cutime, cstime); the slice starts at field 3.
  return (Number(fields[13]) + Number(fields[14])) * 10
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2
}

interface Case {
  name: string
  args: string[]
  /** Exit codes that are not a failure (`status --check` exits 1 on an empty volume). */
  ok: number[]
  wall: number[]
  cpu: number[]
}

const work = await mkdtemp(join(tmpdir(), 'dbk-bench-startup-'))
try {
  let cli = join(ROOT, 'bin/dbkeeper.js')
  if (opts.cli === 'build') {
    log('building the CLI as the image does (scripts/build.mjs)…')
    cli = await buildCli(ROOT, join(work, 'cli'))
  }
  const env = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: work,
    BACKUP_DIR: join(work, 'backups'),
    DB01_TYPE: 'sqlite',
    DB01_PATH: join(work, 'app.db'),
  }
  const cases: Case[] = [
    { name: 'node -e 0', args: ['-e', '0'], ok: [0], wall: [], cpu: [] },
    { name: 'dbkeeper status', args: [cli, 'status'], ok: [0], wall: [], cpu: [] },
    { name: 'dbkeeper status --check', args: [cli, 'status', '--check'], ok: [0, 1], wall: [], cpu: [] },
    { name: 'dbkeeper --help', args: [cli, '--help'], ok: [0], wall: [], cpu: [] },
  ]
  const load0 = loadavg()[0]!
  for (let round = 0; round < runs + 2; round++) {
    for (const c of cases) {
      const cpu0 = childrenCpuMs()
      const t0 = process.hrtime.bigint()
      const r = spawnSync(process.execPath, c.args, { env, stdio: ['ignore', 'ignore', 'pipe'] })
      const wall = Number(process.hrtime.bigint() - t0) / 1e6
      const cpu = childrenCpuMs() - cpu0
      if (!c.ok.includes(r.status ?? -1)) throw new Error(`${c.name} exited ${r.status}: ${String(r.stderr)}`)
      // Two warm-up rounds: the page cache and the compile cache of the first runs are not start-up.
      if (round >= 2) {
        c.wall.push(wall)
        c.cpu.push(cpu)
      }
    }
  }
  const load1 = loadavg()[0]!

  // Peak RSS and modules loaded: one run each, outside the timed rounds.
  const countHook = join(work, 'count-modules.mjs')
  await writeFile(
    countHook,
    `import { registerHooks } from 'node:module'
let n = 0
registerHooks({ load(url, context, next) { n++; return next(url, context) } })
process.on('exit', () => process.stderr.write('\\nmodules loaded: ' + n + '\\n'))
`,
  )
  const rssKb = (args: string[]): number | undefined => {
    if (!existsSync('/usr/bin/time')) return undefined
    const r = spawnSync('/usr/bin/time', ['-f', '%M', process.execPath, ...args], { env, encoding: 'utf8' })
    return Number(r.stderr.trim().split('\n').at(-1))
  }
  const modules = (args: string[]): number | undefined => {
    const r = spawnSync(process.execPath, ['--import', countHook, ...args], { env, encoding: 'utf8' })
    const m = /modules loaded: (\d+)/.exec(r.stderr)
    return m ? Number(m[1]) : undefined
  }
  const instructions = (args: string[]): number | undefined => {
    if (!opts.instructions) return undefined
    const r = spawnSync('valgrind', ['--tool=callgrind', '--callgrind-out-file=/dev/null', process.execPath, ...args], {
      env,
      encoding: 'utf8',
    })
    const m = /Collected : (\d+)/.exec(r.stderr)
    return m ? Number(m[1]) : undefined
  }

  const base = cases[0]!
  const baseIr = instructions(base.args)
  const version = execFileSync(process.execPath, ['--version'], { encoding: 'utf8' }).trim()
  console.log(
    `\nstart-up, ${opts.cli === 'build' ? 'CLI build' : 'CLI source (tsx)'}; ${runs} alternating rounds; ` +
      `${cpus().length} CPUs (${cpus()[0]?.model ?? '?'}), Node ${version}; load average ${load0.toFixed(1)} before, ${load1.toFixed(1)} after\n`,
  )
  console.log(
    '| command | wall ms (median) | × node -e 0 | CPU ms (mean) | × node -e 0 | peak RSS MB | modules loaded | instructions (M) | × node -e 0 |',
  )
  console.log('|---|---:|---:|---:|---:|---:|---:|---:|---:|')
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length
  for (const c of cases) {
    // The ratio of each round's pair, then the median: both measured within a second of each other.
    const wallRatio = median(c.wall.map((w, i) => w / base.wall[i]!))
    const cpuRatio = mean(c.cpu) / mean(base.cpu)
    const rss = rssKb(c.args)
    const mods = c === base ? undefined : modules(c.args)
    const ir = c === base ? baseIr : instructions(c.args)
    console.log(
      `| ${c.name} | ${median(c.wall).toFixed(1)} | ${wallRatio.toFixed(2)}× | ${mean(c.cpu).toFixed(1)} | ${cpuRatio.toFixed(2)}× | ` +
        `${rss === undefined ? '–' : (rss / 1024).toFixed(0)} | ${mods ?? '–'} | ` +
        `${ir === undefined ? '–' : (ir / 1e6).toFixed(0)} | ${ir === undefined || baseIr === undefined ? '–' : `${(ir / baseIr).toFixed(2)}×`} |`,
    )
  }
  console.log('\ntargets (issue 20): `status` and `--help` ≤ 2× `node -e 0`, peak RSS ≤ 60 MB')
} finally {
  await rm(work, { recursive: true, force: true })
}
