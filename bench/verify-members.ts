/**
 * The read-back of a sectioned gzip backup against a one-member one (docs/PERFORMANCE.md,
 * "Verification", "A sectioned file read by its member table").
 *
 *   node --import tsx bench/verify-members.ts make DIR [SIZE]
 *     a MariaDB of the bench's data (default 100M), one `dbkeeper backup` of it (sectioned) into
 *     DIR/sectioned, and the same content as one gzip member (our compressor) into DIR/single,
 *     each a volume with its manifest and sidecar; `dbkeeper verify` reads either
 *     (BACKUP_DIR=DIR/sectioned DB01_TYPE=mariadb DB01_HOST=127.0.0.1 DB01_NAME=bench DB01_LABEL=bench).
 *   node --import tsx bench/verify-members.ts measure DATA_FILE [READS]
 *     verifyBackupFile on DATA_FILE (its manifest beside it, members included) READS times (5) in
 *     this process; prints each read's CPU seconds (process.cpuUsage: all threads) and the median.
 */
import { createReadStream, createWriteStream } from 'node:fs'
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises'
import { execFileSync } from 'node:child_process'
import { join } from 'node:path'
import { pipeline } from 'node:stream/promises'
import { createGunzip } from 'node:zlib'
import type { Manifest } from '../src/catalog/manifest.js'
import { createCompression } from '../src/pipeline/compression.js'
import { Meter } from '../src/pipeline/meter.js'
import { verifyBackupFile } from '../src/pipeline/verify.js'
import { buildCli } from './build.js'
import { createMariadb, mariadbRunEnv } from './databases.js'
import { parseSize } from './generate.js'

const [command, where, extra] = process.argv.slice(2)

if (command === 'make' && where) {
  const cli = await buildCli(process.cwd(), join(where, 'cli'))
  const db = await createMariadb(parseSize(extra ?? '100M'), (line) => console.log(line))
  try {
    execFileSync(process.execPath, [cli, 'backup'], {
      env: mariadbRunEnv(db.server, db.database, join(where, 'sectioned')),
      stdio: 'inherit',
    })
  } finally {
    await db.server.stop()
  }
  const from = join(where, 'sectioned', 'bench', db.database)
  const to = join(where, 'single', 'bench', db.database)
  await mkdir(to, { recursive: true })
  const name = (await readdir(from)).find((f) => f.endsWith('.sql.gz'))!
  const file = new Meter(false)
  await pipeline(
    createReadStream(join(from, name)),
    createGunzip(),
    createCompression('gzip', 6).compress(),
    file,
    createWriteStream(join(to, name)),
  )
  const { members: _members, ...manifest } = JSON.parse(
    await readFile(join(from, `${name}.manifest.json`), 'utf8'),
  ) as Manifest
  manifest.compressed = file.result()
  manifest.locations = { local: join(to, name) }
  await writeFile(join(to, `${name}.manifest.json`), JSON.stringify(manifest, null, 2))
  await writeFile(join(to, `${name}.sha256`), `${manifest.compressed.sha256}  ${name}\n`)
  console.log(`${join(from, name)}\n${join(to, name)}`)
} else if (command === 'measure' && where) {
  const m = JSON.parse(await readFile(`${where}.manifest.json`, 'utf8')) as Manifest
  const cpu: number[] = []
  for (let i = 0; i < Number(extra ?? 5); i++) {
    const before = process.cpuUsage()
    await verifyBackupFile(where, createCompression('gzip', 6), {
      raw: m.raw,
      compressed: m.compressed,
      members: m.members,
    })
    const used = process.cpuUsage(before)
    cpu.push((used.user + used.system) / 1e6)
  }
  const median = [...cpu].sort((a, b) => a - b)[Math.floor(cpu.length / 2)]!
  console.log(`${cpu.map((c) => c.toFixed(2)).join(' ')} median ${median.toFixed(2)}`)
} else {
  console.error('usage: verify-members.ts make DIR [SIZE] | measure DATA_FILE [READS]')
  process.exit(2)
}
