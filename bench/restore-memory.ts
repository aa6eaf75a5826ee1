/**
 * `node --import tsx bench/restore-memory.ts --size 100M [--runs 3] [--engines mariadb,sqlite] [--before DIR]`
 *
 * Peak RSS of `dbkeeper restore` of an age-encrypted gzip backup against the same restore
 * unencrypted (issue 20: ≤ 150 MB at any size, restore side). Generates the data (a private
 * MariaDB and an SQLite file with the same rows, bench/databases.ts), takes one gzip and one
 * gzip + age backup of each with the built CLI, then restores each `--runs` times, rounds
 * alternating (the order rotating per round): MariaDB `--into` a fresh database (proven as it
 * loads), SQLite in place (proven first, then loaded) without a safety backup. With `--before DIR`
 * the CLI built from another checkout restores the same files in the same rounds.
 * Prints per case the peak RSS of the dbkeeper process (VmHWM, polled), CPU and wall time.
 */
import { execFileSync } from 'node:child_process'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { cpus, loadavg, tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { buildCli } from './build.js'
import { createMariadb, createSqlite } from './databases.js'
import { parseSize } from './generate.js'
import { measure, type Sample } from './measure.js'
import { median } from './report.js'

const ROOT = new URL('..', import.meta.url).pathname
const { values: opts } = parseArgs({
  options: {
    size: { type: 'string', default: '100M' },
    runs: { type: 'string', default: '3' },
    engines: { type: 'string', default: 'mariadb,sqlite' },
    before: { type: 'string' },
  },
})
const size = parseSize(opts.size)
const runs = Math.max(1, Number(opts.runs) || 3)
const engines = opts.engines.split(',')
const log = (line: string) => process.stderr.write(`${line}\n`)

async function main(): Promise<void> {
  const work = await mkdtemp(join(tmpdir(), 'dbk-bench-restore-mem-'))
  const stops: (() => Promise<void>)[] = []
  try {
    const clis = [{ name: 'this checkout', path: await buildCli(ROOT, join(work, 'cli')) }]
    if (opts.before) clis.push({ name: 'before', path: await buildCli(resolve(opts.before), join(work, 'before')) })
    const keyFile = join(work, 'key.txt')
    execFileSync('age-keygen', ['-o', keyFile], { stdio: 'ignore' })
    const recipient = /public key: (age1\S+)/.exec(await readFile(keyFile, 'utf8'))![1]!
    const common = {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '/root',
      LOG_LEVEL: 'warn',
      LOG_FORMAT: 'json',
      BACKUP_DIR: join(work, 'backups'),
      DB01_LABEL: 'bench',
      COMPRESSION: 'gzip',
    }
    const sources: { engine: string; env: Record<string, string>; target: (n: number) => string[] }[] = []
    if (engines.includes('mariadb')) {
      log(`generating ${opts.size} in MariaDB …`)
      const db = await createMariadb(size, log)
      stops.push(() => db.server.stop())
      const { info } = db.server
      const cnf = join(work, 'client.cnf')
      await writeFile(
        cnf,
        `[client]\nuser=${info.user}\npassword="${info.password}"\nhost=${info.host}\nport=${info.port}\nprotocol=TCP\n`,
        { mode: 0o600 },
      )
      const admin = (sql: string) => execFileSync('mariadb', [`--defaults-extra-file=${cnf}`, '-N', '-e', sql])
      const env = {
        ...common,
        DB01_TYPE: 'mariadb',
        DB01_HOST: info.host,
        DB01_PORT: String(info.port),
        DB01_USER: info.user,
        DB01_NAME: db.database,
      }
      sources.push({
        engine: 'mariadb',
        env,
        target: (n) => {
          admin(`DROP DATABASE IF EXISTS restored_${n}`)
          return ['--into', `restored_${n}`]
        },
      })
    }
    if (engines.includes('sqlite')) {
      log(`generating ${opts.size} in SQLite …`)
      const path = join(work, 'bench.db')
      createSqlite(path, size)
      sources.push({
        engine: 'sqlite',
        env: { ...common, DB01_TYPE: 'sqlite', DB01_PATH: path },
        target: () => ['--no-safety-backup'],
      })
    }

    const samples = new Map<string, Sample[]>()
    const contenders: (() => Promise<void>)[] = []
    let n = 0
    for (const source of sources) {
      for (const encrypted of [false, true]) {
        const env = {
          ...source.env,
          ...(encrypted ? { ENCRYPTION: 'age', AGE_RECIPIENTS: recipient } : {}),
        }
        log(`backing up ${source.engine}${encrypted ? ' (age)' : ''} …`)
        const backup = await measure({
          command: process.execPath,
          args: [clis[0]!.path, 'backup', '--json'],
          cwd: ROOT,
          env,
        })
        const result = (JSON.parse(backup.stdout) as { results: { ok: boolean; id: string; path: string }[] })
          .results[0]
        if (!result?.ok) throw new Error(`dbkeeper backup failed: ${backup.stdout}`)
        for (const cli of clis) {
          const name = `${source.engine}, gzip${encrypted ? ' + age' : ''}, ${cli.name}`
          contenders.push(async () => {
            const args = [cli.path, 'restore', result.id, '--source', 'bench', '--yes', ...source.target(n++)]
            const sample = await measure({
              command: process.execPath,
              args,
              cwd: ROOT,
              env: { ...env, AGE_IDENTITY_FILE: keyFile },
            })
            if (!samples.has(name)) samples.set(name, [])
            samples.get(name)!.push(sample)
            log(
              `    ${name}: ${((sample.mainRssKb ?? 0) / 1024).toFixed(0)} MB, ${(sample.wallMs / 1000).toFixed(1)} s`,
            )
          })
        }
      }
    }
    const loads: number[] = []
    for (let round = 1; round <= runs; round++) {
      loads.push(loadavg()[0]!)
      log(`round ${round}/${runs}, load ${loadavg()[0]!.toFixed(1)}`)
      for (let i = 0; i < contenders.length; i++) await contenders[(round - 1 + i) % contenders.length]!()
    }
    loads.push(loadavg()[0]!)

    const mb = (kb: number | undefined) => (kb === undefined ? '–' : (kb / 1024).toFixed(0))
    const s = (ms: number | undefined) => (ms === undefined ? '–' : (ms / 1000).toFixed(1))
    const rows = [
      '| restore | peak RSS MB, median | runs (MB) | CPU s, median | wall s, median |',
      '|---|---:|---|---:|---:|',
    ]
    for (const [name, list] of samples) {
      const of = (key: 'mainRssKb' | 'cpuMs' | 'wallMs') =>
        median(list.map((x) => x[key]).filter((v): v is number => typeof v === 'number'))
      rows.push(
        `| ${name} | ${mb(of('mainRssKb'))} | ${list.map((x) => mb(x.mainRssKb)).join(', ')} | ${s(of('cpuMs'))} | ${s(of('wallMs'))} |`,
      )
    }
    process.stdout.write(
      `restore memory, size ${opts.size}, ${runs} run(s) each; ${cpus().length} threads, ${cpus()[0]?.model}, Node ${process.version}, load average ${Math.min(...loads).toFixed(1)}–${Math.max(...loads).toFixed(1)}\n\n${rows.join('\n')}\n`,
    )
  } finally {
    for (const stop of stops) await stop()
    await rm(work, { recursive: true, force: true })
  }
}

await main()
