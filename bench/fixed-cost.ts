/**
 * `node --import tsx bench/fixed-cost.ts [--size 100M] [--shape text|hex] [--runs 5] [--before DIR] [--hold]`
 *
 * The serial fixed cost of a MariaDB gzip backup: the wall time of `dbkeeper backup` minus the
 * manifest's "dump + compress" (startedAt → verification.at), which is what the run spends before
 * the dump starts and after its last byte. Each round runs, on one private MariaDB: the built CLI
 * of this checkout, the built CLI of `--before DIR` (another worktree, e.g. main's, or a build of
 * one: a directory with bin/ and dist/ as bench/build.ts makes), `mysqldump |
 * pigz -6` on the same data, and both CLIs on a 50-row database (the fixed cost nearly alone).
 * Rounds alternate the builds (A B A B …); medians with the spread. `--hold` starts the server,
 * prints the environment of a backup and waits (Ctrl-C stops it): for strace and profiles by hand.
 */
import { existsSync } from 'node:fs'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { loadavg, tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { FIXED_OPTIONS } from '../src/engines/mysql/args.js'
import { mysqlAdmin } from '../test/support/servers.js'
import { buildCli } from './build.js'
import { createMariadb, mariadbRunEnv } from './databases.js'
import { parseShape, parseSize } from './generate.js'
import { measure, shell, type Sample } from './measure.js'

const ROOT = new URL('..', import.meta.url).pathname
const { values: opts } = parseArgs({
  options: {
    size: { type: 'string', default: '100M' },
    shape: { type: 'string', default: 'text' },
    runs: { type: 'string', default: '5' },
    before: { type: 'string' },
    hold: { type: 'boolean', default: false },
  },
})
const log = (line: string) => process.stderr.write(`${line}\n`)
const runs = Math.max(1, Number(opts.runs) || 5)
const work = await mkdtemp(join(tmpdir(), 'dbk-fixed-'))
const db = await createMariadb(parseSize(opts.size), log, parseShape(opts.shape))
const { info } = db.server
try {
  const admin = await mysqlAdmin(info)
  await admin.query('CREATE DATABASE tiny')
  await admin.query('CREATE TABLE tiny.t (id INT PRIMARY KEY, name VARCHAR(40))')
  await admin.query(
    `INSERT INTO tiny.t VALUES ${Array.from({ length: 50 }, (_, i) => `(${i}, 'row ${i}')`).join(', ')}`,
  )
  await admin.end()
  const env = (database: string, backupDir: string) => mariadbRunEnv(db.server, database, backupDir)
  if (opts.hold) {
    const vars = env(db.database, join(work, 'backups'))
    log(
      Object.entries(vars)
        .map(([k, v]) => `export ${k}='${v}'`)
        .join('\n'),
    )
    log('holding; Ctrl-C stops the server')
    await new Promise<void>((r) => process.once('SIGINT', () => r()))
  } else {
    const clis: [string, string][] = [['this', await buildCli(ROOT, join(work, 'cli-this'))]]
    // A checkout is built; a directory that holds a build already (buildCli's output) is run as it is.
    const before = opts.before && resolve(opts.before)
    if (before)
      clis.push([
        'before',
        existsSync(join(before, 'dist/cli/main.js'))
          ? join(before, 'bin/dbkeeper.js')
          : await buildCli(before, join(work, 'cli-before')),
      ])
    const cnf = join(work, 'client.cnf')
    await writeFile(cnf, `[client]\nuser=${info.user}\nhost=${info.host}\nport=${info.port}\nprotocol=TCP\n`, {
      mode: 0o600,
    })
    const samples = new Map<string, number[]>()
    const add = (name: string, value: number) => samples.set(name, [...(samples.get(name) ?? []), value])
    const loads: number[] = [loadavg()[0]!]
    for (let round = 0; round < runs; round++) {
      // A B, then B A: neither build always runs right after pigz.
      const order = round % 2 === 0 ? clis : [...clis].reverse()
      const pigz = await measure(
        shell(
          `mysqldump --defaults-extra-file=${cnf} ${FIXED_OPTIONS.join(' ')} -- ${db.database} | pigz -6 > /dev/null`,
        ),
      )
      add('mysqldump | pigz -6: wall', pigz.wallMs)
      add('mysqldump | pigz -6: CPU', pigz.cpuMs ?? NaN)
      for (const [name, cli] of order) {
        const big = await backup(cli, env(db.database, join(work, `b-${name}`)))
        add(`${name}: wall`, big.sample.wallMs)
        add(`${name}: CPU`, big.sample.cpuMs ?? NaN)
        add(`${name}: dump + compress`, big.streamMs)
        add(`${name}: fixed cost (wall − dump + compress)`, big.sample.wallMs - big.streamMs)
        add(`${name}: wall / pigz`, big.sample.wallMs / pigz.wallMs)
        const tiny = await backup(cli, env('tiny', join(work, `t-${name}`)))
        add(`${name}: tiny wall`, tiny.sample.wallMs)
        add(`${name}: tiny CPU`, tiny.sample.cpuMs ?? NaN)
      }
      loads.push(loadavg()[0]!)
      log(`round ${round + 1}/${runs}, load ${loadavg()[0]!.toFixed(2)}`)
    }
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!
    const fmt = (x: number) => (x < 10 ? x.toFixed(3) : x.toFixed(0))
    console.log(`| figure (${opts.size} ${opts.shape}, ${runs} rounds) | median | min–max |\n|---|---:|---:|`)
    for (const [name, xs] of [...samples].sort(([a], [b]) => a.localeCompare(b)))
      console.log(`| ${name} | ${fmt(median(xs))} | ${fmt(Math.min(...xs))}–${fmt(Math.max(...xs))} |`)
    console.log(
      `\nload average (1 min) during the rounds: ${Math.min(...loads).toFixed(2)}–${Math.max(...loads).toFixed(2)}`,
    )
  }
} finally {
  await db.server.stop()
  await rm(work, { recursive: true, force: true })
}

/** One `dbkeeper backup` (times in ms), its manifest's dump + compress, then the volume removed. */
async function backup(cli: string, env: Record<string, string>): Promise<{ sample: Sample; streamMs: number }> {
  const sample = await measure({ command: process.execPath, args: [cli, 'backup', '--json'], cwd: ROOT, env })
  const result = (JSON.parse(sample.stdout) as { results: { ok: boolean; path: string }[] }).results[0]
  if (!result?.ok) throw new Error(`dbkeeper backup failed: ${sample.stdout}`)
  const m = JSON.parse(await readFile(`${result.path}.manifest.json`, 'utf8')) as {
    startedAt: string
    verification: { at: string }
  }
  await rm(env.BACKUP_DIR!, { recursive: true, force: true })
  return { sample, streamMs: Date.parse(m.verification.at) - Date.parse(m.startedAt) }
}
