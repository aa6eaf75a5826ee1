/**
 * `node --import tsx bench/backup-ab.ts text|hex RUNS BEFORE_DIR [gzip|zstd] [age]`
 *
 * One gzip (or zstd) backup (the real CLI, built as in the image) of a generated 100 MB MariaDB database,
 * this checkout against another one (BEFORE_DIR, e.g. a `git worktree` of main), alternating A B / B A per round; prints
 * the median wall time, CPU of the process tree and peak RSS of each, and the verification's time
 * after the dump (the manifest's `verification.at` → `finishedAt`). For a change to the backup
 * pipeline: did the backup's own time get worse. `age`: encrypted (ENCRYPTION=age, to a key
 * made by `age-keygen`).
 */
import { execFileSync } from 'node:child_process'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { buildCli } from './build.js'
import { createMariadb, mariadbRunEnv } from './databases.js'
import { parseShape, parseSize } from './generate.js'
import { measure } from './measure.js'
import { median } from './report.js'
const ROOT = new URL('..', import.meta.url).pathname
const shape = parseShape(process.argv[2] ?? 'text')
const runs = Number(process.argv[3] ?? 3)
const beforeDir = process.argv[4]
const compression = process.argv[5] ?? 'gzip'
const encrypted = process.argv[6] === 'age'
if (!beforeDir || !['gzip', 'zstd'].includes(compression) || (process.argv[6] !== undefined && !encrypted))
  throw new Error('usage: bench/backup-ab.ts text|hex RUNS BEFORE_DIR (the checkout to compare with) [gzip|zstd] [age]')
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
const db = await createMariadb(parseSize('100M'), (l) => process.stderr.write(l + '\n'), shape)
try {
  const clis = {
    after: await buildCli(ROOT, join(work, 'a')),
    before: await buildCli(beforeDir, join(work, 'b')),
  }
  const out: Record<string, { wall: number; cpu: number; rss: number; verify: number }[]> = { after: [], before: [] }
  for (let r = 0; r < runs; r++) {
    const order: ('after' | 'before')[] = r % 2 ? ['before', 'after'] : ['after', 'before']
    for (const name of order) {
      const backupDir = join(work, `bk-${name}-${r}`)
      const s = await measure({
        command: process.execPath,
        args: [clis[name], 'backup', '--json'],
        cwd: ROOT,
        env: { ...mariadbRunEnv(db.server, db.database, backupDir), COMPRESSION: compression, ...age },
      })
      const result = (JSON.parse(s.stdout) as { results: { ok: boolean; path: string }[] }).results[0]
      if (!result?.ok) throw new Error(`dbkeeper backup failed: ${s.stdout}`)
      const manifest = JSON.parse(await readFile(`${result.path}.manifest.json`, 'utf8')) as {
        finishedAt: string
        verification: { at: string }
      }
      const verify = Date.parse(manifest.finishedAt) - Date.parse(manifest.verification.at)
      out[name]!.push({
        wall: s.wallMs,
        cpu: s.cpuMs ?? NaN,
        rss: (s.mainRssKb ?? 0) / 1024,
        verify,
      })
      process.stderr.write(
        `${name} ${r}: wall ${(s.wallMs / 1000).toFixed(2)} s cpu ${((s.cpuMs ?? 0) / 1000).toFixed(2)} s rss ${((s.mainRssKb ?? 0) / 1024).toFixed(0)} MB verify ${(verify / 1000).toFixed(2)} s load ${loadavg()[0]!.toFixed(1)}\n`,
      )
      await rm(backupDir, { recursive: true, force: true })
    }
  }
  const med = (a: number[]) => median(a) ?? NaN
  for (const name of ['before', 'after'] as const) {
    const o = out[name]!
    console.log(
      `${shape} ${compression}${encrypted ? ' + age' : ''} ${name}: wall ${(med(o.map((x) => x.wall)) / 1000).toFixed(2)} s (${o.map((x) => (x.wall / 1000).toFixed(2)).join(' / ')}), cpu ${(med(o.map((x) => x.cpu)) / 1000).toFixed(2)} s (${o.map((x) => (x.cpu / 1000).toFixed(2)).join(' / ')}), rss ${med(o.map((x) => x.rss)).toFixed(0)} MB, verification after the dump ${(med(o.map((x) => x.verify)) / 1000).toFixed(2)} s`,
    )
  }
} finally {
  await db.server.stop()
  await rm(work, { recursive: true, force: true })
}
