// The start-up snapshot of `dbkeeper status`, step two: the blob, from the entry script that
// scripts/build-status-snapshot.mjs wrote (step one needs esbuild; this needs only Node, and must
// run on the Node that will load the blob: another one refuses it, exit 14). The image runs it in
// its runtime stage (Dockerfile.backup); bin/dbkeeper.sh runs the blob for `status`.
//
//   node scripts/status-snapshot-blob.mjs <dist>     (writes <dist>/cli/status.blob, mode 0644)
//
// A warm entry (WARM=1 at step one) runs `status` at build time on a scratch volume with one
// `dbkeeper backup` of a scratch SQLite file (made here with <dist>/cli/main.js, deleted after).
import { execFileSync } from 'node:child_process'
import { chmod, mkdtemp, readFile, rename, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'

export const WARM_MARK = '// dbkeeper status snapshot: warm\n'

export async function buildBlob(dist) {
  const cli = join(resolve(dist), 'cli')
  const entry = join(cli, 'status-snapshot.cjs')
  const blob = join(cli, 'status.blob')
  const warm = (await readFile(entry, 'utf8')).startsWith(WARM_MARK)
  await rm(blob, { force: true })
  let env = process.env
  let volume
  // Written beside and renamed into place: a blob cut short by a failed build is never there.
  const partial = `${blob}.partial`
  try {
    if (warm) {
      volume = await mkdtemp(join(tmpdir(), 'dbkeeper-snapshot-'))
      const db = new (process.getBuiltinModule('node:sqlite').DatabaseSync)(join(volume, 'app.db'))
      db.exec('CREATE TABLE t (id INTEGER PRIMARY KEY)')
      db.close()
      env = {
        PATH: process.env.PATH,
        HOME: volume,
        BACKUP_DIR: join(volume, 'backups'),
        DB01_TYPE: 'sqlite',
        DB01_PATH: join(volume, 'app.db'),
      }
      execFileSync(process.execPath, [join(cli, 'main.js'), 'backup'], { env, stdio: 'ignore' })
    }
    execFileSync(process.execPath, ['--snapshot-blob', partial, '--build-snapshot', entry], {
      env,
      stdio: ['ignore', 'ignore', 'inherit'],
    })
    await chmod(partial, 0o644)
    await rename(partial, blob)
  } finally {
    await rm(partial, { force: true })
    if (volume) await rm(volume, { recursive: true, force: true })
  }
  return blob
}

if (import.meta.filename === resolve(process.argv[1] ?? '')) {
  if (!process.argv[2]) throw new Error('usage: node scripts/status-snapshot-blob.mjs <dist>')
  console.log(`status snapshot: ${await buildBlob(process.argv[2])}`)
}
