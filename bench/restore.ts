/**
 * `npm run bench:restore -- --size 100M [--shape text|hex] [--runs 3] [--before DIR]… [--cli build|source]`
 *
 * Restore against the shell pipeline it replaces (issue 20, item 3): generates the data (a
 * private MariaDB, bench/databases.ts), takes one real `dbkeeper backup`, then restores that one
 * file `--runs` times each way, rounds alternating, into fresh databases:
 *   - `gunzip -c FILE | mariadb NEW`, which proves nothing;
 *   - `dbkeeper restore ID --into NEW --yes` as an operator runs it (the backup proven, loaded,
 *     tables and row counts checked; no safety backup, the target is new);
 *   - with `--before DIR`, the same CLI built from another checkout (e.g. a `git worktree` of main), for a
 *     before/after in the same run on the same file; given more than once, one contender per
 *     checkout, named by its directory's last part (variants of one change, side by side).
 * Prints, per case, the median wall time, the ratio against the pipeline, the CPU time of the
 * command's process tree (dbkeeper + the mariadb client it runs; gunzip + mariadb) and of the
 * server, and peak RSS; then one more dbkeeper restore, timed per printed step: where the time
 * goes. Results: a table on stdout and JSON in bench/results/.
 */
import { execFileSync, spawn } from 'node:child_process'
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { cpus, loadavg, tmpdir } from 'node:os'
import { basename, join, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { buildCli } from './build.js'
import { createMariadb, mariadbRunEnv } from './databases.js'
import { parseShape, parseSize } from './generate.js'
import { measure, processCpuMs, shell, type Sample } from './measure.js'
import { median } from './report.js'

const ROOT = new URL('..', import.meta.url).pathname
const { values: opts } = parseArgs({
  options: {
    size: { type: 'string', default: '100M' },
    shape: { type: 'string', default: 'text' },
    runs: { type: 'string', default: '3' },
    before: { type: 'string', multiple: true },
    cli: { type: 'string', default: 'build' },
  },
})
const size = parseSize(opts.size)
const shape = parseShape(opts.shape)
const runs = Math.max(1, Number(opts.runs) || 3)
const log = (line: string) => process.stderr.write(`${line}\n`)

interface Timed extends Sample {
  /** CPU time the server spent meanwhile (its utime + stime), ms. */
  serverCpuMs: number
}
const cases = new Map<string, Timed[]>()

async function main(): Promise<void> {
  const work = await mkdtemp(join(tmpdir(), 'dbk-bench-restore-'))
  log(`generating ${opts.size} (${shape}) …`)
  const db = await createMariadb(size, log, shape)
  try {
    const { info } = db.server
    const cnf = join(work, 'client.cnf')
    await writeFile(
      cnf,
      `[client]\nuser=${info.user}\npassword="${info.password}"\nhost=${info.host}\nport=${info.port}\nprotocol=TCP\n`,
      { mode: 0o600 },
    )
    const admin = (sql: string) =>
      execFileSync('mariadb', [`--defaults-extra-file=${cnf}`, '-N', '-e', sql], { encoding: 'utf8' }).trim()
    const serverPid = Number((await readFile(admin('SELECT @@pid_file'), 'utf8')).trim())

    const clis: { name: string; path: string }[] = []
    if (opts.cli === 'build') {
      log('building the CLI …')
      clis.push({ name: 'dbkeeper restore', path: await buildCli(ROOT, join(work, 'cli')) })
    } else clis.push({ name: 'dbkeeper restore', path: join(ROOT, 'bin/dbkeeper.js') })
    const befores = opts.before ?? []
    for (const [i, dir] of befores.entries()) {
      log(`building the CLI of ${dir} …`)
      const name = befores.length === 1 ? 'before' : `before: ${basename(resolve(dir))}`
      clis.push({ name: `dbkeeper restore (${name})`, path: await buildCli(resolve(dir), join(work, `before-${i}`)) })
    }
    const backupDir = join(work, 'backups')
    const env = mariadbRunEnv(db.server, db.database, backupDir)
    log('backing up …')
    const backup = await measure({
      command: process.execPath,
      args: [clis[0]!.path, 'backup', '--json'],
      cwd: ROOT,
      env,
    })
    const result = (JSON.parse(backup.stdout) as { results: { ok: boolean; path: string }[] }).results[0]
    if (!result?.ok) throw new Error(`dbkeeper backup failed: ${backup.stdout}`)
    const manifest = JSON.parse(await readFile(`${result.path}.manifest.json`, 'utf8')) as {
      id: string
      raw: { size: number }
      compressed: { size: number }
    }

    const timed = async (name: string, target: string, run: () => Promise<Sample>): Promise<void> => {
      admin(`DROP DATABASE IF EXISTS ${target}`)
      const cpuBefore = await processCpuMs(serverPid)
      const sample = await run()
      const serverCpu = (await processCpuMs(serverPid)) - cpuBefore
      admin(`DROP DATABASE IF EXISTS ${target}`)
      if (!cases.has(name)) cases.set(name, [])
      cases.get(name)!.push({ ...sample, serverCpuMs: serverCpu })
      log(`    ${name}: ${(sample.wallMs / 1000).toFixed(1)} s`)
    }
    const restoreWith = (cli: string, target: string) => () =>
      measure({
        command: process.execPath,
        args: [cli, 'restore', manifest.id, '--source', 'bench', '--into', target, '--yes'],
        cwd: ROOT,
        env,
      })
    const contenders: (() => Promise<void>)[] = [
      () =>
        timed('gunzip -c | mariadb', 'bench_restore_shell', () => {
          admin('CREATE DATABASE bench_restore_shell')
          return measure(shell(`gunzip -c ${result.path} | mariadb --defaults-extra-file=${cnf} bench_restore_shell`))
        }),
      ...clis.map((cli) => () => timed(cli.name, 'bench_restore_dbk', restoreWith(cli.path, 'bench_restore_dbk'))),
    ]
    for (let round = 1; round <= runs; round++) {
      log(`round ${round}/${runs}`)
      // Each round starts with another contender: none always runs first, on the coldest caches.
      for (let i = 0; i < contenders.length; i++) await contenders[(round - 1 + i) % contenders.length]!()
    }

    // Where the time of one restore goes: the moment each step's line appears, CLI start to exit.
    log('one more restore, timed per step …')
    admin('DROP DATABASE IF EXISTS bench_restore_dbk')
    const steps = await stepTimes(clis[0]!.path, manifest.id, env, join(work, 'timeline-0'))
    admin('DROP DATABASE IF EXISTS bench_restore_dbk')
    // Every other CLI's clients too: how a variant spreads the tables over its clients.
    const timelines = [{ name: clis[0]!.name, clients: steps.clients }]
    for (const [i, cli] of clis.entries()) {
      if (i === 0) continue
      const other = await stepTimes(cli.path, manifest.id, env, join(work, `timeline-${i}`))
      admin('DROP DATABASE IF EXISTS bench_restore_dbk')
      timelines.push({ name: cli.name, clients: other.clients })
    }

    const s = (ms: number | undefined) => (ms === undefined ? '–' : (ms / 1000).toFixed(1))
    const mb = (kb: number | undefined) => (kb === undefined ? '–' : (kb / 1024).toFixed(0))
    const med = (samples: Timed[], key: 'wallMs' | 'cpuMs' | 'serverCpuMs') =>
      median(samples.map((x) => x[key]).filter((v): v is number => typeof v === 'number'))
    const shellWall = med(cases.get('gunzip -c | mariadb')!, 'wallMs')!
    const rows = [
      '| restore | wall s (median) | runs (s) | ratio | CPU s, command | CPU s, server | peak RSS MB, own process | largest RSS MB, any process |',
      '|---|---:|---|---:|---:|---:|---:|---:|',
    ]
    for (const [name, samples] of cases) {
      const wall = med(samples, 'wallMs')!
      rows.push(
        `| ${name.replace(/\|/g, '\\|')} | ${s(wall)} | ${samples.map((x) => s(x.wallMs)).join(' / ')} | ${(wall / shellWall).toFixed(2)}× | ` +
          `${s(med(samples, 'cpuMs'))} | ${s(med(samples, 'serverCpuMs'))} | ` +
          `${name.startsWith('dbkeeper') ? mb(Math.max(...samples.map((x) => x.mainRssKb ?? 0)) || undefined) : '–'} | ` +
          `${mb(Math.max(...samples.map((x) => x.maxRssKb ?? 0)) || undefined)} |`,
      )
    }
    const profile = `where one dbkeeper restore's ${s(steps.totalMs)} s go: ${steps.parts.map((p) => `${p.what} ${s(p.ms)} s`).join(', ')}`
    const timeline = timelines.map(
      (t) =>
        `${t.name}, its mariadb runs (start–end s from the CLI's start): ` +
        t.clients.map((c) => `${c.probe ? 'probe ' : ''}${s(c.startMs)}–${s(c.endMs)}`).join(', '),
    )
    const text = [
      `restore, size ${opts.size}, shape ${shape}: SQL dump ${(manifest.raw.size / 2 ** 20).toFixed(0)} MB, file ${(manifest.compressed.size / 2 ** 20).toFixed(1)} MB; CLI ${opts.cli}; ${runs} run(s) each; ${cpus().length} threads, ${cpus()[0]?.model}, Node ${process.version}, load average ${loadavg()[0]!.toFixed(1)}`,
      '',
      ...rows,
      '',
      profile,
      ...timeline,
    ].join('\n')
    process.stdout.write(`${text}\n`)
    const resultsDir = join(ROOT, 'bench/results')
    await mkdir(resultsDir, { recursive: true })
    const file = join(
      resultsDir,
      `${new Date().toISOString().replace(/[:.]/g, '-')}-restore-${opts.size}-${shape}.json`,
    )
    await writeFile(
      file,
      JSON.stringify(
        {
          size: opts.size,
          shape,
          runs,
          raw: manifest.raw.size,
          compressed: manifest.compressed.size,
          cases: Object.fromEntries([...cases].map(([k, v]) => [k, v.map(({ stdout: _s, ...x }) => x)])),
          steps,
          timelines,
        },
        null,
        2,
      ),
    )
    log(`results: ${file}`)
  } finally {
    await db.server.stop()
    await rm(work, { recursive: true, force: true })
  }
}

/**
 * One restore with the time at which each printed step appears: start-up and the checks before
 * the load, the load (with the proof as it loads, or the proof and then the load), the tables'
 * count and the rest; and when each `mariadb` client it ran started and ended (a wrapper first on
 * its PATH logs both: the load's timeline, what each client waited for).
 */
async function stepTimes(
  cli: string,
  id: string,
  env: Record<string, string>,
  work: string,
): Promise<{
  totalMs: number
  parts: { what: string; ms: number }[]
  lines: { atMs: number; line: string }[]
  clients: { startMs: number; endMs: number; probe: boolean }[]
}> {
  const wrapDir = work
  const clientLog = join(wrapDir, 'clients.log')
  await mkdir(wrapDir, { recursive: true })
  const real = execFileSync('sh', ['-c', 'command -v mariadb'], { encoding: 'utf8' }).trim()
  // Start and end in epoch seconds, the exit code and the first argument (--version for a probe).
  await writeFile(
    join(wrapDir, 'mariadb'),
    `#!/bin/sh\ns=$(date +%s.%N)\n'${real}' "$@"\nrc=$?\necho "$s $(date +%s.%N) $rc $1" >> '${clientLog}'\nexit $rc\n`,
    { mode: 0o755 },
  )
  const startedAt = Date.now()
  const started = process.hrtime.bigint()
  const at = () => Number(process.hrtime.bigint() - started) / 1e6
  const lines: { atMs: number; line: string }[] = []
  const child = spawn(
    process.execPath,
    [cli, 'restore', id, '--source', 'bench', '--into', 'bench_restore_dbk', '--yes'],
    {
      cwd: ROOT,
      env: { ...env, PATH: `${wrapDir}:${env.PATH ?? process.env.PATH ?? ''}` },
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  )
  let rest = ''
  child.stderr.setEncoding('utf8').on('data', (text: string) => {
    const parts = (rest + text).split('\n')
    rest = parts.pop() ?? ''
    for (const line of parts) lines.push({ atMs: at(), line })
  })
  const code = await new Promise<number | null>((done) => child.once('close', done))
  const totalMs = at()
  if (code !== 0) throw new Error(`dbkeeper restore exited ${code}: ${lines.map((l) => l.line).join('\n')}`)
  const when = (re: RegExp) => lines.find((l) => re.test(l.line))?.atMs
  const marks: [string, number | undefined][] = [
    ['start-up and checks before the load', when(/^(proving|verifying) /)],
    ['proof before the load', when(/^verified: /)],
    ['load', when(/^(verified as it loaded|check )/)],
    ['count of the tables', when(/^check /)],
    ['the rest (exit)', totalMs],
  ]
  const parts: { what: string; ms: number }[] = []
  let last = 0
  for (const [what, t] of marks) {
    if (t === undefined || t < last) continue
    parts.push({ what, ms: t - last })
    last = t
  }
  const clients = (await readFile(clientLog, 'utf8').catch(() => ''))
    .split('\n')
    .map((line) => line.split(' '))
    .filter((f) => f.length >= 3)
    .map((f) => ({
      startMs: Number(f[0]) * 1000 - startedAt,
      endMs: Number(f[1]) * 1000 - startedAt,
      probe: f[3] === '--version',
    }))
    .sort((a, b) => a.startMs - b.startMs)
  return { totalMs, parts, lines, clients }
}

await main()
