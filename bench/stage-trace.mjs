/**
 * `node --import ./bench/stage-trace.mjs bin/dbkeeper.js backup` — a timeline of one run on stderr
 * at exit: ms since the process started (performance.now()) of every child process started (with
 * the CPU this process had used by then, all threads) and ended, and of the fs/promises calls
 * (mkdir, open, rename, link, rm, …) with the last two parts of their path. `bench/stage-table.mjs` turns a set of them into the stages of a MariaDB backup.
 * Patches the modules before the CLI loads; measuring only, never in a real run.
 */
import cp from 'node:child_process'
import fs from 'node:fs'
import { syncBuiltinESMExports } from 'node:module'
import { performance } from 'node:perf_hooks'

const events = []
const mark = (what) => events.push(`${performance.now().toFixed(1).padStart(8)} ${what}`)
mark('preload')
const spawn = cp.spawn
cp.spawn = function (command, args, ...rest) {
  const cpu = process.cpuUsage()
  mark(`spawn ${command} ${(args ?? []).slice(0, 1).join(' ')} (cpu ${((cpu.user + cpu.system) / 1000).toFixed(1)} ms)`)
  const child = spawn.call(this, command, args, ...rest)
  child.once('exit', () => mark(`exit ${command}`))
  return child
}
for (const name of ['rename', 'link', 'unlink', 'open', 'readdir', 'mkdir', 'rm', 'readFile', 'writeFile']) {
  const original = fs.promises[name]
  fs.promises[name] = async function (...args) {
    mark(`p.${name} ${typeof args[0] === 'string' ? args[0].split('/').slice(-2).join('/') : ''}`)
    try {
      return await original.apply(this, args)
    } finally {
      mark(`p.${name} end`)
    }
  }
}
syncBuiltinESMExports()
process.on('exit', () => {
  mark('exit')
  process.stderr.write(`${events.join('\n')}\n`)
})
