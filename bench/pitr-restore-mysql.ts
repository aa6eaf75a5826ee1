/**
 * `node --import tsx bench/pitr-restore-mysql.ts [--size 1G] [--transactions 360000] [--runs 1] [--shape text|hex]`
 *
 * Restore to a time of a MariaDB database against doing the same by hand, on the same base and
 * the same binlog in one run (issue 17: a 1 GB base plus 30 minutes of binlog at 200 tx/s,
 * target ≤ 1.1×). The defaults are that size: 360 000 single-row transactions are 30 minutes at
 * 200 tx/s. They are written as fast as the server takes them (replay costs per event, not per
 * second of wall clock), so the bench does not need half an hour to build its binlog.
 *
 *   base      a private mariadbd with --log-bin --binlog-format=ROW, SIZE of generated rows
 *             (bench/generate.ts), backed up by `dbkeeper backup` (the CLI as the image builds it)
 *   binlog    dbkeeper's archiver (startBinlogArchiver) streaming while a writer commits
 *             TRANSACTIONS rows into bench.pitr_events over 4 connections; T = a second after
 *             the last commit, once the archive holds everything
 *   dbkeeper  `dbkeeper restore --at T --source src --database bench --into r_dbkeeper --yes`
 *             (verify, load aside, replay, check, swap)
 *   by hand   `gunzip -c BASE | mariadb r_hand`, then `mariadb-binlog --start-position=P
 *             --stop-datetime=T --database=bench --rewrite-db='bench->r_hand' FILES | mariadb`
 *
 * Both results must hold every transaction (the restored row counts are compared) or the bench
 * fails. Each round restores both ways, each into a fresh database, in alternating order.
 */
import { execFileSync } from 'node:child_process'
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import mysql from 'mysql2/promise'
import { binlogArchiveDir } from '../src/catalog/naming.js'
import { parseConfig } from '../src/config/index.js'
import { localBinlogs } from '../src/engines/mysql/binlog-archive.js'
import { startBinlogArchiver } from '../src/engines/mysql/binlog-archiver.js'
import { createLogger } from '../src/runtime/logger.js'
import { buildCli } from './build.js'
import { BENCH_DB, createMariadb } from './databases.js'
import { parseShape, parseSize } from './generate.js'
import { measure, shell, type Sample } from './measure.js'
import { median } from './report.js'

const { values: opts } = parseArgs({
  options: {
    size: { type: 'string', default: '1G' },
    transactions: { type: 'string', default: '360000' },
    runs: { type: 'string', default: '1' },
    shape: { type: 'string', default: 'text' },
  },
})
const size = parseSize(opts.size)
const transactions = Number(opts.transactions)
const runs = Number(opts.runs)
const shape = parseShape(opts.shape)
const ROOT = join(import.meta.dirname, '..')
const log = (line: string) => console.error(line)
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

const work = await mkdtemp(join(tmpdir(), 'dbk-bench-pitr-restore-'))
log(`building the CLI; loading ${opts.size} (${shape}) into a MariaDB with a binlog…`)
const cli = await buildCli(ROOT, join(work, 'cli'))
const { server } = await createMariadb(size, log, shape, { binlog: true })
try {
  const { host, port, user } = server.info
  const backupDir = join(work, 'backups')
  await mkdir(backupDir)
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: work,
    BACKUP_DIR: backupDir,
    DB01_TYPE: 'mariadb',
    DB01_HOST: host,
    DB01_PORT: String(port),
    DB01_USER: user,
    DB01_NAME: BENCH_DB,
    DB01_LABEL: 'src',
    DB01_PITR: 'true',
    LOG_LEVEL: 'warn',
  }
  const admin = await mysql.createConnection({ host, port, user, password: '', multipleStatements: true })
  await admin.query(
    `CREATE TABLE ${BENCH_DB}.pitr_events (id BIGINT AUTO_INCREMENT PRIMARY KEY, committed_at BIGINT NOT NULL, payload VARCHAR(200) NOT NULL)`,
  )
  const source = parseConfig(env).sources[0]!
  const archiveDir = binlogArchiveDir(backupDir, 'src')
  const archiver = await startBinlogArchiver({
    source,
    dir: archiveDir,
    logger: createLogger({ level: 'warn', format: 'json', destination: process.stderr }),
  })
  log('dbkeeper backup (the base)…')
  await measure({ command: process.execPath, args: [cli, 'backup'], env })

  log(`writing ${transactions} transactions…`)
  const writers = await Promise.all([1, 2, 3, 4].map(() => mysql.createConnection({ host, port, user, password: '' })))
  let next = 0
  const wrote = Date.now()
  await Promise.all(
    writers.map(async (w) => {
      while (next < transactions) {
        next++
        await w.query(`INSERT INTO ${BENCH_DB}.pitr_events (committed_at, payload) VALUES (?, REPEAT(UUID(), 2))`, [
          Date.now(),
        ])
      }
    }),
  )
  const writeSeconds = (Date.now() - wrote) / 1000
  await Promise.all(writers.map((w) => w.end()))
  const [[master]] = (await admin.query('SHOW MASTER STATUS')) as unknown as [{ File: string; Position: number }[]]
  while (((await localBinlogs(archiveDir)).find((f) => f.file === master!.File)?.size ?? 0) < Number(master!.Position))
    await sleep(200)
  // --stop-datetime has a resolution of a second: T is the second after the last commit.
  const at = new Date(Math.ceil((Date.now() + 1) / 1000) * 1000)
  while (Date.now() < at.getTime() + 2500) await sleep(200)
  await archiver.stop()
  const atText = at.toISOString().replace('.000Z', 'Z')
  const files = (await localBinlogs(archiveDir)).map((f) => f.file)
  log(`${transactions} transactions in ${writeSeconds.toFixed(1)} s; binlog ${files.join(', ')}; T = ${atText}`)

  // The base as the by-hand restore finds it: the newest backup's file and its manifest's coordinates.
  const dbDir = join(backupDir, 'src', BENCH_DB)
  const manifestName = (await readdir(dbDir))
    .filter((n) => n.endsWith('.manifest.json'))
    .sort()
    .at(-1)!
  const manifest = JSON.parse(await readFile(join(dbDir, manifestName), 'utf8')) as {
    binlog?: { file: string; position: number }
  }
  if (!manifest.binlog) throw new Error(`${manifestName} has no binlog coordinates`)
  const base = join(dbDir, manifestName.replace('.manifest.json', ''))
  const from = manifest.binlog
  const replayFiles = files.filter((f) => f >= from.file).map((f) => join(archiveDir, f))
  const cnf = join(work, 'client.cnf')
  await writeFile(cnf, `[client]\nuser=${user}\npassword=""\nhost=${host}\nport=${port}\nprotocol=TCP\n`, {
    mode: 0o600,
  })
  const mariadb = `mariadb --defaults-extra-file=${cnf}`
  const byHand = (db: string) =>
    shell(
      `${mariadb} -e 'CREATE DATABASE ${db}' && gunzip -c ${base} | ${mariadb} ${db} && ` +
        `TZ=UTC mariadb-binlog --start-position=${from.position} --stop-datetime='${atText.replace('T', ' ').replace('Z', '')}' ` +
        `--database=${BENCH_DB} --rewrite-db='${BENCH_DB}->${db}' ${replayFiles.join(' ')} | ${mariadb} ${db}`,
    )
  const ours = (db: string) => ({
    command: process.execPath,
    args: [cli, 'restore', '--at', atText, '--source', 'src', '--database', BENCH_DB, '--into', db, '--yes'],
    env,
  })
  const count = async (db: string) => {
    const [[row]] = (await admin.query(`SELECT COUNT(*) AS n FROM ${db}.pitr_events`)) as unknown as [{ n: number }[]]
    return Number(row!.n)
  }

  const samples: Record<'dbkeeper' | 'by hand', Sample[]> = { dbkeeper: [], 'by hand': [] }
  for (let round = 0; round < runs; round++) {
    const both = [
      ['by hand', byHand('r_hand'), 'r_hand'],
      ['dbkeeper', ours('r_dbkeeper'), 'r_dbkeeper'],
    ] as const
    // The order alternates: whichever goes first meets a colder server.
    for (const [name, spec, db] of round % 2 === 0 ? both : [...both].reverse()) {
      await admin.query(`DROP DATABASE IF EXISTS ${db}`)
      log(`round ${round + 1}: ${name}…`)
      const s = await measure(spec)
      const n = await count(db)
      if (n !== transactions) throw new Error(`${name} restored ${n} of the ${transactions} transactions`)
      samples[name].push(s)
      log(`  ${(s.wallMs / 1000).toFixed(1)} s, CPU ${((s.cpuMs ?? 0) / 1000).toFixed(1)} s`)
    }
  }
  await admin.end()
  const wall = (k: keyof typeof samples) => median(samples[k].map((s) => s.wallMs))!
  const cpu = (k: keyof typeof samples) => median(samples[k].map((s) => s.cpuMs ?? 0))!
  const rss = (k: keyof typeof samples) => Math.max(...samples[k].map((s) => s.mainRssKb ?? 0)) / 1024
  const baseMb = Number(execFileSync('stat', ['-c', '%s', base]).toString()) / 2 ** 20
  console.log(
    `\nrestore to a time: ${opts.size} ${shape} base (${baseMb.toFixed(0)} MiB gzipped) + ${transactions} transactions of binlog; ${runs} round(s); Node ${process.version}`,
  )
  console.log('| restore | wall s (median) | × by hand | CPU s | peak RSS MiB (first process) |')
  console.log('|---|---:|---:|---:|---:|')
  for (const k of ['by hand', 'dbkeeper'] as const)
    console.log(
      `| ${k} | ${(wall(k) / 1000).toFixed(1)} | ${(wall(k) / wall('by hand')).toFixed(2)}× | ${(cpu(k) / 1000).toFixed(1)} | ${rss(k).toFixed(0)} |`,
    )
} finally {
  await server.stop()
  await rm(work, { recursive: true, force: true })
}
