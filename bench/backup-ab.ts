/**
 * `node --import tsx bench/backup-ab.ts text|hex RUNS BEFORE_DIR [gzip|zstd] [mariadb|sqlite] [age]`
 *
 * One gzip (or zstd) backup (the real CLI, built as in the image) of a generated 100 MB MariaDB
 * database or SQLite file, this checkout against another one (BEFORE_DIR, e.g. a `git worktree` of
 * main), alternating A B / B A per round; prints the median wall time, CPU of the process tree and
 * peak RSS of each, and the verification's time after the dump (the manifest's `verification.at` →
 * `finishedAt`). For a change to the backup pipeline: did the backup's own time get worse. With
 * `sqlite` and gzip, `sqlite3 DB ".backup f" && pigz -6 f` runs in every round too (its place in the
 * order rotating), and each build's medians are given as a ratio to it. `age`: encrypted
 * (ENCRYPTION=age, to a key made by `age-keygen`).
 */
import { execFileSync } from 'node:child_process'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { buildCli } from './build.js'
import { createMariadb, createSqlite, mariadbRunEnv, sqliteRunEnv } from './databases.js'
import { parseShape, parseSize } from './generate.js'
import { measure, shell, type RunSpec } from './measure.js'
import { median } from './report.js'
const ROOT = new URL('..', import.meta.url).pathname
const USAGE =
  'usage: bench/backup-ab.ts text|hex RUNS BEFORE_DIR (the checkout to compare with) [gzip|zstd] [mariadb|sqlite] [age]'
const shape = parseShape(process.argv[2] ?? 'text')
const runs = Number(process.argv[3] ?? 3)
const beforeDir = process.argv[4]
const compression = process.argv[5] ?? 'gzip'
const engine = process.argv[6] ?? 'mariadb'
const encrypted = process.argv[7] === 'age'
if (
  !beforeDir ||
  !['gzip', 'zstd'].includes(compression) ||
  !['mariadb', 'sqlite'].includes(engine) ||
  (process.argv[7] !== undefined && !encrypted)
)
  throw new Error(USAGE)
const work = await mkdtemp(join(tmpdir(), 'dbk-rp-ab-'))
let age: Record<string, string> = {}
if (encrypted) {
  const keyFile = join(work, 'age.key')
  execFileSync('age-keygen', ['-o', keyFile], { stdio: 'ignore' })
  age = {
    ENCRYPTION: 'age',
    AGE_RECIPIENTS: /public key: (age1\S+)/.exec(await readFile(keyFile, 'utf8'))![1]!,
  }
}
const sqlitePath = join(work, 'bench.db')
const db =
  engine === 'mariadb'
    ? await createMariadb(parseSize('100M'), (l) => process.stderr.write(l + '\n'), shape)
    : undefined
if (!db) createSqlite(sqlitePath, parseSize('100M'), shape)
const withShell = engine === 'sqlite' && compression === 'gzip' && !encrypted
try {
  const clis = {
    after: await buildCli(ROOT, join(work, 'a')),
    before: await buildCli(beforeDir, join(work, 'b')),
  }
  type Arm = 'after' | 'before' | 'shell'
  const out: Record<Arm, { wall: number; cpu: number; rss: number; verify: number }[]> = {
    after: [],
    before: [],
    shell: [],
  }
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
                ...age,
              },
            }
      const s = await measure(spec)
      await rm(`${copy}.gz`, { force: true })
      let verify = NaN
      if (name !== 'shell') {
        const result = (JSON.parse(s.stdout) as { results: { ok: boolean; path: string }[] }).results[0]
        if (!result?.ok) throw new Error(`dbkeeper backup failed: ${s.stdout}`)
        const manifest = JSON.parse(await readFile(`${result.path}.manifest.json`, 'utf8')) as {
          finishedAt: string
          verification: { at: string }
        }
        verify = Date.parse(manifest.finishedAt) - Date.parse(manifest.verification.at)
      }
      out[name].push({ wall: s.wallMs, cpu: s.cpuMs ?? NaN, rss: (s.mainRssKb ?? 0) / 1024, verify })
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
    const verify =
      name === 'shell' ? '' : `, verification after the dump ${(med(o.map((x) => x.verify)) / 1000).toFixed(2)} s`
    console.log(
      `${engine} ${shape} ${compression}${encrypted ? ' + age' : ''} ${name}: wall ${(wall / 1000).toFixed(2)} s (${o.map((x) => (x.wall / 1000).toFixed(2)).join(' / ')}), cpu ${(cpu / 1000).toFixed(2)} s (${o.map((x) => (x.cpu / 1000).toFixed(2)).join(' / ')}), rss ${med(o.map((x) => x.rss)).toFixed(0)} MB${verify}${ratio}`,
    )
  }
} finally {
  await db?.server.stop()
  await rm(work, { recursive: true, force: true })
}
