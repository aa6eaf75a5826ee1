/**
 * `node --import tsx bench/s3-rss.ts --before DIR [--size 100M] [--runs 8]`
 *
 * Peak RSS and time of single `dbkeeper backup` runs with S3 on, the CLI of this checkout and the
 * one of checkout DIR (main, say) alternated round by round (order flipped every round), plus an
 * S3-off run of this checkout per round; each under `/usr/bin/time -f '%e %U %S %M'`, s3rver in
 * its own process on loopback (as bench/s3.ts), whose CPU seconds during each run are read from
 * /proc. Prints one line per run and the medians and maxima.
 */
import { spawnSync, type ChildProcess } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { buildCli } from './build.js'
import { s3rverEnv, startS3rver } from './s3rver.js'
import { createSqlite, sqliteRunEnv } from './databases.js'
import { parseSize } from './generate.js'
import { median } from './report.js'

const ROOT = new URL('..', import.meta.url).pathname
const { values: opts } = parseArgs({
  options: {
    before: { type: 'string' },
    size: { type: 'string', default: '100M' },
    runs: { type: 'string', default: '8' },
  },
})
if (!opts.before) throw new Error('--before DIR: the checkout to compare with (e.g. a `git worktree` of main)')
const runs = Math.max(1, Number(opts.runs) || 8)
const log = (line: string) => process.stderr.write(`${line}\n`)

/** A process's user + system CPU seconds so far (/proc/PID/stat, clock ticks of 1/100 s). */
function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')
  return (Number(fields[11]) + Number(fields[12])) / 100
}

const work = await mkdtemp(join(tmpdir(), 'dbk-bench-s3rss-'))
let server: ChildProcess | undefined
try {
  const clis = {
    after: await buildCli(ROOT, join(work, 'after')),
    before: await buildCli(opts.before, join(work, 'before')),
  }
  const dbPath = join(work, 'bench.db')
  createSqlite(dbPath, parseSize(opts.size))
  const s3 = await startS3rver(join(work, 's3'))
  server = s3.child
  const base = sqliteRunEnv(dbPath)
  const s3Env = s3rverEnv(s3.port)
  type Kind = 'after' | 'before' | 'after-off'
  const rows: Record<Kind, number[][]> = { after: [], before: [], 'after-off': [] }
  for (let round = 0; round < runs; round++) {
    const order: Kind[] = round % 2 === 0 ? ['before', 'after', 'after-off'] : ['after-off', 'after', 'before']
    for (const kind of order) {
      const dir = join(work, `backups-${round}-${kind}`)
      const env = {
        ...base,
        BACKUP_DIR: dir,
        ...(kind === 'after-off' ? {} : { ...s3Env, S3_PREFIX: `${kind}-${round}` }),
      }
      const cli = kind === 'before' ? clis.before : clis.after
      const serverBefore = cpuSeconds(s3.child.pid!)
      const r = spawnSync('/usr/bin/time', ['-f', '%e %U %S %M', process.execPath, cli, 'backup', '--json'], {
        env,
        encoding: 'utf8',
      })
      const ok = (JSON.parse(r.stdout) as { results: { ok: boolean }[] }).results.every((x) => x.ok)
      if (r.status !== 0 || !ok) throw new Error(`${kind} failed: ${r.stdout} ${r.stderr}`)
      const [wall, user, sys, kb] = r.stderr.trim().split('\n').pop()!.split(' ').map(Number)
      const server = cpuSeconds(s3.child.pid!) - serverBefore
      rows[kind].push([wall!, user! + sys!, kb! / 1024, server])
      log(
        `round ${round + 1} ${kind.padEnd(9)} wall ${wall!.toFixed(2)} s cpu ${(user! + sys!).toFixed(2)} s rss ${(kb! / 1024).toFixed(1)} MB s3rver cpu ${server.toFixed(2)} s load ${loadavg()[0]!.toFixed(1)}`,
      )
      await rm(dir, { recursive: true, force: true })
    }
  }
  const med = (xs: number[]) => median(xs)!
  for (const kind of ['before', 'after', 'after-off'] as Kind[]) {
    const col = (i: number) => rows[kind].map((r) => r[i]!)
    console.log(
      `${kind.padEnd(9)} wall median ${med(col(0)).toFixed(2)} s  cpu median ${med(col(1)).toFixed(2)} s  s3rver cpu median ${med(col(3)).toFixed(2)} s  peak RSS median ${med(col(2)).toFixed(1)} MB, max ${Math.max(...col(2)).toFixed(1)} MB (${col(
        2,
      )
        .map((v) => v.toFixed(0))
        .join(', ')})`,
    )
  }
} finally {
  server?.kill()
  await rm(work, { recursive: true, force: true })
}
