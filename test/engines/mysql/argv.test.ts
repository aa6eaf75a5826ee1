/**
 * "Passwords never appear in a process's argv": while a real dump runs, read every process's
 * command line (what `ps` shows) and environment, and look for the password.
 */
import { randomBytes } from 'node:crypto'
import { readdir, readFile, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { MysqlEngine } from '../../../src/engines/mysql/engine.js'
import { dumpsHistory, flavourOf } from '../../../src/engines/mysql/version.js'
import { createDatabase, createUser, mysqlSource, privateDir, readAll, removeDir, sql } from './helpers.js'

interface ProcessText {
  pid: string
  cmdline: string
  environ: string
}

async function allProcesses(): Promise<ProcessText[]> {
  const pids = (await readdir('/proc')).filter((name) => /^\d+$/.test(name))
  const read = (pid: string, file: string) =>
    readFile(`/proc/${pid}/${file}`).then(
      (b) => b.toString('utf8').replace(/\0/g, ' '),
      () => '',
    )
  return Promise.all(
    pids.map(async (pid) => ({ pid, cmdline: await read(pid, 'cmdline'), environ: await read(pid, 'environ') })),
  )
}

describe('the password never reaches argv', () => {
  let workDir: string
  let db: string
  const password = `pw ${randomBytes(12).toString('hex')} "#$`
  let user: string
  beforeAll(async () => {
    workDir = await privateDir()
    // ~20 MB of rows: far more than the pipe and stream buffers (~1 MB), so mysqldump stays
    // alive (blocked on its full stdout) for as long as we do not read.
    db = await createDatabase(
      'CREATE TABLE big (id INT PRIMARY KEY, pad VARCHAR(100)); INSERT INTO big SELECT seq, REPEAT(CHAR(65 + seq % 26), 100) FROM seq_1_to_200000',
    )
    user = await createUser(password, [
      `SELECT, SHOW VIEW, TRIGGER, EVENT, LOCK TABLES ON \`${db}\`.*`,
      'SELECT ON mysql.proc',
    ])
  })
  afterAll(async () => {
    await sql(`DROP DATABASE IF EXISTS \`${db}\``)
    await removeDir(workDir)
  })

  it('is in a 0600 file during the dump, in no command line or environment, and the file is removed after', async () => {
    const engine = new MysqlEngine(mysqlSource({ user, password, databases: [db] }), workDir)
    const dump = engine.dump(db, new AbortController().signal)

    // Find our mysqldump: its command line names the defaults file in our work directory.
    let mine: ProcessText | undefined
    let processes: ProcessText[] = []
    for (let i = 0; i < 200 && !mine; i++) {
      processes = await allProcesses()
      mine = processes.find((p) => p.cmdline.includes(`--defaults-extra-file=${workDir}`))
      if (!mine) await new Promise((r) => setTimeout(r, 25))
    }
    expect(mine, 'the running mysqldump').toBeDefined()
    expect(mine!.cmdline).toMatch(/^mysqldump --defaults-extra-file=/)
    for (const p of processes) {
      expect(p.cmdline, `argv of pid ${p.pid}`).not.toContain(password)
    }
    expect(mine!.environ).not.toContain(password)
    expect(mine!.environ).not.toMatch(/DB\d+_PASS/)

    const files = await readdir(workDir)
    expect(files).toHaveLength(1)
    const file = join(workDir, files[0]!)
    expect((await stat(file)).mode & 0o777).toBe(0o600)
    expect(await readFile(file, 'utf8')).toContain(`user="${user}"`)

    const content = await readAll(dump.stdout)
    await expect(dump.done).resolves.toBeDefined()
    // The whole table came through (the exact byte count depends on mysqldump's line breaks).
    expect(content.length).toBeGreaterThan(10_000_000)
    expect(content.includes("(200000,'")).toBe(true)
    expect(engine.checkContent(Buffer.alloc(0), content.subarray(-4096))).toBeUndefined()
    expect(await readdir(workDir)).toEqual([])
  })
})

describe('--dump-history: only where the tool and the server both are MariaDB 10.11 or later', () => {
  it('reads the MariaDB release from either version string', () => {
    const tool = (version: string) => ({ command: 'mysqldump', version, flavour: flavourOf(version) })
    const server = '10.11.19-MariaDB-0+deb12u1-log'
    expect(dumpsHistory(tool('10.19 Distrib 10.11.19-MariaDB'), server)).toBe(true)
    expect(dumpsHistory(tool('11.4.2-MariaDB, client 10.19'), '11.4.2-MariaDB')).toBe(true)
    expect(dumpsHistory(tool('10.19 Distrib 10.6.18-MariaDB'), server)).toBe(false)
    expect(dumpsHistory(tool('10.19 Distrib 10.11.19-MariaDB'), '10.6.18-MariaDB-log')).toBe(false)
    expect(dumpsHistory(tool('8.0.36'), '8.0.36')).toBe(false)
  })
})
