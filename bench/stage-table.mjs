/**
 * `node bench/stage-table.mjs TRACE...` — the stages of a MariaDB backup run from the timelines of
 * bench/stage-trace.mjs (one file per run, the run's stderr): median and range per stage, in ms.
 */
import { readFileSync } from 'node:fs'

const rows = {}
for (const file of process.argv.slice(2)) {
  const events = readFileSync(file, 'utf8')
    .split('\n')
    .map((line) => /^\s*([\d.]+) (.*)$/.exec(line))
    .filter(Boolean)
    .map((m) => [Number(m[1]), m[2]])
  const at = (pattern, from = 0) => {
    const hit = events.find(([t, what]) => t >= from && pattern.test(what))
    if (!hit) throw new Error(`${file}: no ${pattern}`)
    return hit[0]
  }
  const preload = at(/^preload/)
  const locked = at(/^p\.link .*lock\./)
  const workDir = at(/^p\.mkdir .*\/DB01$/)
  const dump = at(/^spawn (mysqldump|mariadb-dump) --defaults/)
  const dumpEnd = at(/^exit (mysqldump|mariadb-dump)/, dump)
  const sidecar = at(/^p\.open .*\.sha256\.dbk-tmp/)
  const committed = at(/^p\.rename .*manifest\.json\.dbk-tmp/)
  const retained = at(/^p\.rm tmp\//, committed)
  const end = at(/^exit$/)
  const stages = {
    'Node start-up, to the first line of ours': preload,
    'CLI modules, config, volume check, lock': locked - preload,
    'debris, scratch sweep, work directory': workDir - locked,
    'engine (+ mysql2, execa) loaded, probe: connect, tools, queries': dump - workDir,
    '**before the dump**': dump,
    'the dump': dumpEnd - dump,
    'read-back end + restore needs': sidecar - dumpEnd,
    'commit: sidecar, data, manifest (fsyncs)': committed - sidecar,
    retention: retained - committed,
    'work directory removed, journal, lock released, exit': end - retained,
    '**after the dump**': end - dumpEnd,
  }
  for (const [stage, ms] of Object.entries(stages)) (rows[stage] ??= []).push(ms)
}
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
console.log('| stage | ms (median) | min–max |\n|---|---:|---:|')
for (const [stage, xs] of Object.entries(rows))
  console.log(`| ${stage} | ${median(xs).toFixed(0)} | ${Math.min(...xs).toFixed(0)}–${Math.max(...xs).toFixed(0)} |`)
