/**
 * `dbkeeper restore --at T` of a MariaDB source (`--log-bin --binlog-format=ROW`) through the real
 * CLI, its binlog archived by the real archiver (binlog-archiver.ts) while a writer commits ≥ 200
 * transactions a second, each row carrying its commit time, with a base backup and a FLUSH BINARY
 * LOGS mid-stream: the state at T holds every row up to T − 5 s and none after T, without holes;
 * after the writer stopped, a restore in place equals the source. Refused, touching nothing: a
 * time before the window (status's window starts at the base: a second before it is refused, a
 * second after it restored), a tampered closed binlog, a user without BINLOG REPLAY; a corrupt
 * growing binlog fails the replay and leaves the live database as it was.
 */
import { mkdtemp, open, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { execa } from 'execa'
import mysql from 'mysql2/promise'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Archiver } from '../../src/engines/archive.js'
import { MysqlArchive } from '../../src/engines/mysql/archive.js'
import { appendIndex, localBinlogs, readHeartbeat } from '../../src/engines/mysql/binlog-archive.js'
import { NASTY_PASSWORD } from '../backup/mysql-support.js'
import { startMariadb } from '../support/mariadb-server.js'
import type { RunningServer } from '../support/servers.js'
import { backupNow, cli, pitrSource } from './support.js'

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
type Row = { id: number; committed_at: number }

describe('restore to a time (MariaDB, binlog)', () => {
  let server: RunningServer & { binlogDir?: string }
  let admin: mysql.Connection
  let root: string
  let backupDir: string
  let env: Record<string, string>
  let archiver: Archiver | undefined
  let archiveDir: string
  let baseFinished: number
  let T: Date
  let end: Date
  let source: Row[]

  const rowsOf = async (database: string): Promise<Row[]> => {
    const [rows] = await admin.query(`SELECT id, committed_at FROM \`${database}\`.rows ORDER BY id`)
    return (rows as { id: number; committed_at: string | number }[]).map((r) => ({
      id: r.id,
      committed_at: Number(r.committed_at),
    }))
  }
  const exists = async (database: string) =>
    ((await admin.query('SHOW DATABASES LIKE ?', [database]))[0] as unknown[]).length > 0

  beforeAll(async () => {
    server = await startMariadb({ binlog: {} })
    const { host, port } = server.info
    admin = await mysql.createConnection({ host, port, user: server.info.user, password: '' })
    // Everything on the databases a restore touches, but not BINLOG REPLAY.
    await admin.query("CREATE USER noreplay@'%' IDENTIFIED BY ?", [NASTY_PASSWORD])
    await admin.query("GRANT ALL PRIVILEGES ON `app`.* TO noreplay@'%'")
    await admin.query("GRANT ALL PRIVILEGES ON `noreplay\\_%`.* TO noreplay@'%'")
    await admin.query('CREATE DATABASE app')
    await admin.query(
      'CREATE TABLE app.rows (id INT AUTO_INCREMENT PRIMARY KEY, committed_at BIGINT NOT NULL, pad VARCHAR(100))',
    )
    root = await mkdtemp(join(tmpdir(), 'dbk-at-my-'))
    backupDir = join(root, 'backups')
    ;({ env, archiveDir, archiver } = await pitrSource(server.info, admin, backupDir))

    // The writer: 250 transactions a second, one row each, its commit time taken just before it is sent.
    const writer = await mysql.createConnection({ host, port, user: server.info.user, password: '' })
    const start = Date.now()
    let done = 0
    let writing = true
    const written = (async () => {
      while (writing) {
        const due = Math.floor(((Date.now() - start) / 1000) * 250)
        while (done < due) {
          await writer.query('INSERT INTO app.rows (committed_at, pad) VALUES (?, ?)', [Date.now(), 'x'.repeat(90)])
          done++
        }
        await sleep(2)
      }
    })()
    try {
      await sleep(1000)
      await backupNow(env)
      baseFinished = Date.now()
      await sleep(1500)
      await admin.query('FLUSH BINARY LOGS')
      // T = base + 5.5 s lies inside the writing however long the backup took.
      await sleep(Math.max(0, Math.max(start + 8000, baseFinished + 6500) - Date.now()))
    } finally {
      writing = false
      await written
      await writer.end()
    }
    const rate = done / ((Date.now() - start) / 1000)
    expect(rate).toBeGreaterThanOrEqual(200)
    T = new Date(baseFinished + 5500)
    source = await rowsOf('app')
    // Caught up in a later second than the last write's: binlog events carry whole seconds, so a
    // restore to `end` holds every row only once `end` lies past the last write's second. Waited
    // for on the heartbeat itself (a fixed sleep was not enough on a loaded host).
    const lastWrite = Date.now()
    const caughtUpAt = async () => Date.parse((await readHeartbeat(archiveDir))?.caughtUpAt ?? '') || 0
    for (let i = 0; i < 300 && Math.floor((await caughtUpAt()) / 1000) <= Math.floor(lastWrite / 1000); i++)
      await sleep(100)
    expect(Math.floor((await caughtUpAt()) / 1000)).toBeGreaterThan(Math.floor(lastWrite / 1000))
    await archiver.stop()
    archiver = undefined
    // The last time the archive held everything: a second after the last write.
    end = new Date((await readHeartbeat(archiveDir))!.caughtUpAt!)
  }, 90_000)
  afterAll(async () => {
    await archiver?.stop()
    await admin?.end()
    await server?.stop()
    await rm(root, { recursive: true, force: true })
  })

  it('restores the state at T --into a new database: every row up to T − 5 s, none after T, no hole', async () => {
    expect((await localBinlogs(archiveDir)).length).toBeGreaterThanOrEqual(2)
    const r = await cli(['restore', '--at', T.toISOString(), '--source', 'my', '--into', 'at_t', '--yes'], env)
    expect(r.exitCode, r.all).toBe(0)
    expect(r.stdout).toContain(`restored my/app as of ${T.toISOString()} into database \`at_t\``)
    expect(r.stderr).toMatch(/replaying the binlog from binlog\.\d+:\d+/)
    const at = await rowsOf('at_t')
    const before = source.filter((row) => row.committed_at <= T.getTime() - 5000).length
    expect(before).toBeGreaterThan(100)
    expect(at.filter((row) => row.committed_at <= T.getTime() - 5000)).toHaveLength(before)
    expect(at.filter((row) => row.committed_at > T.getTime())).toEqual([])
    expect(at.map((row) => row.id)).toEqual(at.map((_, i) => i + 1))
    // Past the rotation: the rows after the base came through both files.
    expect(at.length).toBeGreaterThan(source.filter((row) => row.committed_at <= baseFinished).length + 250)
  }, 60_000)

  it('gives the same state by hand, with the shell tools of docs/RESTORE.md', async () => {
    const script = `set -euo pipefail
B=$(ls "$BACKUP_DIR"/my/app/*.sql.gz | head -1)
FILE=$(jq -r .binlog.file "$B.manifest.json"); POS=$(jq -r .binlog.position "$B.manifest.json")
umask 077; printf '[client]\\nuser=root\\npassword=""\\nhost=127.0.0.1\\nport=%s\\nprotocol=TCP\\n' "$PORT" > "$CNF"
mariadb --defaults-extra-file="$CNF" -e 'CREATE DATABASE by_hand'
gunzip -c "$B" | mariadb --defaults-extra-file="$CNF" --binary-mode by_hand
cd "$ARCHIVE"
FILES=$(ls | grep -xE 'binlog\\.[0-9]+' | awk -v f="$FILE" '$0 >= f')
TZ=UTC mariadb-binlog --skip-gtid-strict-mode --verify-binlog-checksum \\
    --start-position="$POS" --stop-datetime="$STOP" \\
    --database=app --rewrite-db='app->by_hand' $FILES \\
  | grep -avE '^/\\*M!100001 SET @@session\\.(gtid_domain_id|server_id|gtid_seq_no)=' \\
  | mariadb --defaults-extra-file="$CNF" --binary-mode by_hand
rm "$CNF"`
    const r = await execa('bash', ['-c', script], {
      reject: false,
      env: {
        BACKUP_DIR: backupDir,
        PORT: String(server.info.port),
        CNF: join(root, 'my.cnf'),
        ARCHIVE: archiveDir,
        STOP: T.toISOString().slice(0, 19).replace('T', ' '),
      },
    })
    expect(r.exitCode, r.stderr).toBe(0)
    expect(await rowsOf('by_hand')).toEqual(await rowsOf('at_t'))
  }, 60_000)

  it('restores in place after the writer stopped: equal to the source, with a safety backup', async () => {
    const r = await cli(['restore', '--at', end.toISOString(), '--source', 'my', '--yes'], env)
    expect(r.exitCode, r.all).toBe(0)
    expect(r.stdout).toMatch(/into database `app` .*; the previous content is in safety backup /)
    expect(await rowsOf('app')).toEqual(source)
  }, 60_000)

  it('refuses a time before the window, naming the window, and touches nothing', async () => {
    const early = new Date(baseFinished - 60_000)
    const r = await cli(['restore', '--at', early.toISOString(), '--source', 'my', '--into', 'early', '--yes'], env)
    expect(r.exitCode).toBe(1)
    expect(r.stderr).toContain(
      `no restore to ${early.toISOString()} is possible: a restore of my/app to a time reaches 20`,
    )
    expect(await exists('early')).toBe(false)
    const toFile = await cli(
      ['restore', '--at', end.toISOString(), '--source', 'my', '--to-file', join(root, 'x')],
      env,
    )
    expect(toFile.exitCode).toBe(2)
    expect(toFile.stderr).toContain('--into NAME')
  }, 60_000)

  it('shows in status the window a restore reaches, from the base (not the archive’s first event), and holds to it', async () => {
    const [manifest] = (await readdir(join(backupDir, 'my', 'app'))).filter((f) => f.endsWith('.manifest.json'))
    const { finishedAt } = JSON.parse(await readFile(join(backupDir, 'my', 'app', manifest!), 'utf8')) as {
      finishedAt: string
    }
    // The archive began before the base: what it holds starts earlier than what a restore reaches.
    const held = await new MysqlArchive(archiveDir).state(new Date())
    expect(held.ranges[0]!.from.getTime()).toBeLessThan(Date.parse(finishedAt))
    const status = await cli(['status', '--json'], env)
    const pitr = (
      JSON.parse(status.stdout) as {
        sources: { databases: { database: string; pitr: { window: { from: string; to: string } } }[] }[]
      }
    ).sources[0]!.databases.find((d) => d.database === 'app')!.pitr
    expect(pitr.window.from).toBe(finishedAt)
    const from = Date.parse(pitr.window.from)
    const before = new Date(from - 1000).toISOString()
    const refused = await cli(['restore', '--at', before, '--source', 'my', '--into', 'just_before', '--yes'], env)
    expect(refused.exitCode).toBe(1)
    expect(refused.stderr).toContain(`no restore to ${before} is possible`)
    expect(await exists('just_before')).toBe(false)
    const after = new Date(from + 1000).toISOString()
    const accepted = await cli(['restore', '--at', after, '--source', 'my', '--into', 'just_after', '--yes'], env)
    expect(accepted.exitCode, accepted.all).toBe(0)
  }, 60_000)

  it('refuses a time that a gap cuts off from every base, naming the window', async () => {
    const [first, second] = (await localBinlogs(archiveDir)).map((f) => f.file)
    const index = join(archiveDir, 'index.jsonl')
    const before = await readFile(index)
    // As the archiver records it when the server purged what lay between the two files.
    await appendIndex(archiveDir, {
      kind: 'gap',
      after: first!,
      resumedAt: second!,
      detectedAt: new Date().toISOString(),
      reason: 'purged before it was archived',
    })
    try {
      const r = await cli(['restore', '--at', end.toISOString(), '--source', 'my', '--into', 'in_gap', '--yes'], env)
      expect(r.exitCode).toBe(1)
      expect(r.stderr).toContain(
        `no restore to ${end.toISOString()} is possible: a restore of my/app to a time reaches`,
      )
      expect(await exists('in_gap')).toBe(false)
    } finally {
      await writeFile(index, before)
    }
  }, 60_000)

  it('refuses a user without BINLOG REPLAY before anything is touched, naming the GRANT', async () => {
    const r = await cli(['restore', '--at', T.toISOString(), '--source', 'my', '--into', 'noreplay_x', '--yes'], {
      ...env,
      DB01_USER: 'noreplay',
    })
    expect(r.exitCode).toBe(1)
    expect(r.stderr).toContain("GRANT BINLOG REPLAY ON *.* TO 'noreplay'@'%'")
    expect(await exists('noreplay_x')).toBe(false)
  }, 60_000)

  it('refuses a tampered closed binlog file before anything is touched', async () => {
    const closed = (await localBinlogs(archiveDir))[0]!.file
    const path = join(archiveDir, closed)
    const good = await readFile(path)
    const bad = Buffer.from(good)
    bad[bad.length - 20] = bad[bad.length - 20]! ^ 0xff
    await writeFile(path, bad)
    try {
      const r = await cli(['restore', '--at', T.toISOString(), '--source', 'my', '--into', 'tampered', '--yes'], env)
      expect(r.exitCode).toBe(1)
      expect(r.stderr).toContain(`binlog ${closed} in ${archiveDir} is not the file that was archived`)
      expect(await exists('tampered')).toBe(false)
    } finally {
      await writeFile(path, good)
    }
  }, 60_000)

  it('fails on a corrupt growing binlog and leaves the live database as it was', async () => {
    const growing = (await localBinlogs(archiveDir)).at(-1)!.file
    const path = join(archiveDir, growing)
    const bytes = await readFile(path)
    // An event in the middle of the file: one byte of its body flipped, its checksum now wrong.
    let pos = 4
    while (pos < bytes.length / 2) pos += bytes.readUInt32LE(pos + 9)
    const fd = await open(path, 'r+')
    try {
      await fd.write(Buffer.from([bytes[pos + 21]! ^ 0xff]), 0, 1, pos + 21)
      const live = await rowsOf('app')
      const r = await cli(['restore', '--at', end.toISOString(), '--source', 'my', '--yes'], env)
      expect(r.exitCode).toBe(1)
      expect(r.stderr).toMatch(/mariadb-binlog exited \d+ reading the archived binlog/)
      expect(r.stderr).toContain('database `app` on')
      expect(r.stderr).toContain('was not changed')
      expect(await rowsOf('app')).toEqual(live)
    } finally {
      await fd.write(Buffer.from([bytes[pos + 21]!]), 0, 1, pos + 21)
      await fd.close()
    }
  }, 60_000)
})
