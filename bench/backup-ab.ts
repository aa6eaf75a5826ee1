/**
 * `node --import tsx bench/backup-ab.ts text|hex RUNS BEFORE_DIR [gzip|zstd] [mariadb|sqlite]`
 *
 * One gzip (or zstd) backup (the real CLI, built as in the image) of a generated 100 MB MariaDB
 * database or SQLite file, this checkout against another one (BEFORE_DIR, e.g. a `git worktree` of
 * main), alternating A B / B A per round; prints the median wall time, CPU of the process tree and
 * peak RSS of each. For a change to the backup pipeline: did the backup's own time get worse. With
 * `sqlite` and gzip, `sqlite3 DB ".backup f" && pigz -6 f` runs in every round too (its place in the
 * order rotating), and each build's medians are given as a ratio to it.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { buildCli } from './build.js'
import { createMariadb, createSqlite, mariadbRunEnv, sqliteRunEnv } from './databases.js'
import { parseShape, parseSize } from './generate.js'
import { measure, shell, type RunSpec } from './measure.js'
import { median } from './report.js'
const ROOT = new URL('..', import.meta.url).pathname
const shape = parseShape(process.argv[2] ?? 'text')
const runs = Number(process.argv[3] ?? 3)
const beforeDir = process.argv[4]
const compression = process.argv[5] ?? 'gzip'
const engine = process.argv[6] ?? 'mariadb'
if (!beforeDir || !['gzip', 'zstd'].includes(compression) || !['mariadb', 'sqlite'].includes(engine))
  throw new Error(
    'usage: bench/backup-ab.ts text|hex RUNS BEFORE_DIR (the checkout to compare with) [gzip|zstd] [mariadb|sqlite]',
  )
const work = await mkdtemp(join(tmpdir(), 'dbk-rp-ab-'))
const sqlitePath = join(work, 'bench.db')
const db =
  engine === 'mariadb'
    ? await createMariadb(parseSize('100M'), (l) => process.stderr.write(l + '\n'), shape)
    : undefined
if (!db) createSqlite(sqlitePath, parseSize('100M'), shape)
const withShell = engine === 'sqlite' && compression === 'gzip'
try {
  const clis = {
    after: await buildCli(ROOT, join(work, 'a')),
    before: await buildCli(beforeDir, join(work, 'b')),
  }
  type Arm = 'after' | 'before' | 'shell'
  const out: Record<Arm, { wall: number; cpu: number; rss: number }[]> = { after: [], before: [], shell: [] }
  const arms: Arm[] = withShell ? ['after', 'before', 'shell'] : ['after', 'before']
  for (let r = 0; r < runs; r++) {
    // Every arm in every place of the order over the rounds: A B (S) / B (S) A / (S) A B …
    const order = [...arms.slice(r % arms.length), ...arms.slice(0, r % arms.length)]
    for (const name of order) {
      const backupDir = join(work, `bk-${name}-${r}`)
      const copy = join(work, `copy-${r}.db`)
      const spec: RunSpec =
        name === 'shell'
          ? shell(`sqlite3 ${sqlitePath} ".backup '${copy}'" && pigz -6 ${copy}`)
          : {
              command: process.execPath,
              args: [clis[name], 'backup', '--json'],
              cwd: ROOT,
              env: {
                ...(db
                  ? mariadbRunEnv(db.server, db.database, backupDir)
                  : { ...sqliteRunEnv(sqlitePath), BACKUP_DIR: backupDir }),
                COMPRESSION: compression,
              },
            }
      const s = await measure(spec)
      await rm(`${copy}.gz`, { force: true })
      const ok = name === 'shell' || (JSON.parse(s.stdout) as { results: { ok: boolean }[] }).results[0]?.ok
      if (!ok) throw new Error(`dbkeeper backup failed: ${s.stdout}`)
      out[name].push({
        wall: s.wallMs,
        cpu: s.cpuMs ?? NaN,
        rss: (s.mainRssKb ?? 0) / 1024,
      })
      process.stderr.write(
        `${name} ${r}: wall ${(s.wallMs / 1000).toFixed(2)} s cpu ${((s.cpuMs ?? 0) / 1000).toFixed(2)} s rss ${((s.mainRssKb ?? 0) / 1024).toFixed(0)} MB load ${loadavg()[0]!.toFixed(1)}\n`,
      )
      await rm(backupDir, { recursive: true, force: true })
    }
  }
  const med = (a: number[]) => median(a) ?? NaN
  const shellWall = med(out.shell.map((x) => x.wall))
  const shellCpu = med(out.shell.map((x) => x.cpu))
  for (const name of ['before', 'after', ...(withShell ? ['shell' as const] : [])] as const) {
    const o = out[name]
    const wall = med(o.map((x) => x.wall))
    const cpu = med(o.map((x) => x.cpu))
    const ratio =
      withShell && name !== 'shell'
        ? `; ${(wall / shellWall).toFixed(2)}× the shell's wall, ${(cpu / shellCpu).toFixed(2)}× its CPU`
        : ''
    console.log(
      `${engine} ${shape} ${compression} ${name}: wall ${(wall / 1000).toFixed(2)} s (${o.map((x) => (x.wall / 1000).toFixed(2)).join(' / ')}), cpu ${(cpu / 1000).toFixed(2)} s (${o.map((x) => (x.cpu / 1000).toFixed(2)).join(' / ')}), rss ${med(o.map((x) => x.rss)).toFixed(0)} MB${ratio}`,
    )
  }
} finally {
  await db?.server.stop()
  await rm(work, { recursive: true, force: true })
}
