/**
 * Issue 10, faults 2 and 3: the database server dies in the middle of a dump, and the dump tool
 * itself is killed. Against a PRIVATE MariaDB and a PRIVATE PostgreSQL started here (the shared
 * servers of global-setup must never be stopped: other test files use them).
 *
 * Every time: the run fails loudly (exit 1, the error names the cause), nothing partial is kept
 * or listed, and the backups proven before are intact and still verify.
 */
import { readFileSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { listJson, runCli, startCli } from '../support/cli.js'
import { startMariadb } from '../support/mariadb-server.js'
import { startPostgres } from '../support/postgres-server.js'
import { mysqlAdmin, pgAdmin, startWithRetry, type RunningServer } from '../support/servers.js'
import { trial } from '../support/faults/trials.js'
import { assessLoss } from '../support/faults/loss-accounting.js'
import { cmdline, descendants, procStat, whileRunning } from '../support/faults/processes.js'
import { debrisOnDisk, tempFiles } from '../support/faults/volume-files.js'
import type { ListedBackup } from '../../src/cli/commands/list.js'
import type { BackupJson } from '../../src/cli/commands/backup.js'

const SERVER_DIES = 'database server dies mid-dump'
const TOOL_KILLED = 'dump tool killed'
const DB = 'shop'

let dir: string
let backupDir: string
let env: Record<string, string>
let maria: RunningServer | undefined
let postgres: RunningServer | undefined
/** Servers that died in a trial: only their directories are left to remove. */
const dead: RunningServer[] = []
let current: ListedBackup[] = []

/** Private servers (both at once), each holding database `shop` with ~30 MB of SQL to dump. */
async function startServers(): Promise<void> {
  const [m, p] = await Promise.allSettled([
    startWithRetry(startMariadb).then(fillMaria),
    startWithRetry(startPostgres).then(fillPostgres),
  ])
  if (m.status === 'fulfilled') maria = m.value
  if (p.status === 'fulfilled') postgres = p.value
  if (m.status === 'rejected' || p.status === 'rejected') {
    throw new Error(
      `private servers did not start: ${[m, p].map((r) => (r.status === 'rejected' ? (r.reason as Error).message : 'ok')).join('; ')}`,
    )
  }
  env = {
    BACKUP_DIR: backupDir,
    TZ: 'UTC',
    DB01_TYPE: 'mariadb',
    DB01_HOST: maria!.info.host,
    DB01_PORT: String(maria!.info.port),
    DB01_USER: 'root',
    DB01_NAME: DB,
    DB01_LABEL: 'maria',
    DB02_TYPE: 'postgres',
    DB02_HOST: postgres!.info.host,
    DB02_PORT: String(postgres!.info.port),
    DB02_USER: 'postgres',
    DB02_NAME: DB,
    DB02_LABEL: 'pg',
    DB02_PG_GLOBALS: 'false',
  }
}

async function fillMaria(server: RunningServer): Promise<RunningServer> {
  const conn = await mysqlAdmin(server.info)
  try {
    await conn.query(`CREATE DATABASE ${DB}`)
    await conn.query(`USE ${DB}`)
    await conn.query('CREATE TABLE orders (id INT PRIMARY KEY, label VARCHAR(100), payload VARBINARY(32))')
    await conn.query(
      "INSERT INTO orders SELECT seq, CONCAT('order ', seq, ' ', MD5(seq)), UNHEX(SHA2(seq, 256)) FROM seq_1_to_250000",
    )
  } finally {
    await conn.end()
  }
  return server
}

async function fillPostgres(server: RunningServer): Promise<RunningServer> {
  const admin = await pgAdmin(server.info)
  try {
    await admin.query(`CREATE DATABASE ${DB}`)
  } finally {
    await admin.end()
  }
  const pg = await pgAdmin(server.info, DB)
  try {
    await pg.query(
      'CREATE TABLE orders AS SELECT g AS id, md5(g::text) || md5((g + 1)::text) AS label FROM generate_series(1, 400000) g',
    )
  } finally {
    await pg.end()
  }
  return server
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'dbk-death-'))
  backupDir = join(dir, 'backups')
  await startServers()
  // A proven backup of each (the custom format too), made before any fault.
  for (const extra of [{}, { DB02_PG_FORMAT: 'custom' }] as Record<string, string>[]) {
    const r = await runCli(['backup'], { ...env, ...extra })
    expect(r.exitCode, r.all.slice(-3000)).toBe(0)
  }
  current = await listJson(env)
  expect(current).toHaveLength(4)
}, 300_000)

afterAll(async () => {
  await Promise.allSettled([maria?.stop(), postgres?.stop(), ...dead.map((s) => s.stop())])
  if (dir) await rm(dir, { recursive: true, force: true })
})

/** The dump tool's process among the run's descendants, once the run wrote `min` bytes. */
function dumpTool(pid: number, tool: RegExp): number | undefined {
  return descendants(pid).find((p) => tool.test(cmdline(p).split(' ')[0] ?? ''))
}

/**
 * Starts `dbkeeper backup SOURCE --json`, waits until the dump tool runs and the temporary file
 * holds at least 256 KB (mid-dump), injects the fault, and checks what must hold afterwards.
 */
async function faultMidDump(
  source: string,
  tool: RegExp,
  inject: (toolPid: number) => Promise<void> | void,
  expected: { code: RegExp; cause: RegExp },
  extra: Record<string, string> = {},
): Promise<number> {
  const before = current
  const child = startCli(['backup', source, '--json'], { ...env, ...extra })
  let ended = false
  const result = child.then((r) => {
    ended = true
    return r
  })
  let toolPid: number
  try {
    toolPid = await whileRunning(
      () => ended,
      async () => {
        const p = dumpTool(child.pid!, tool)
        return p !== undefined && (await tempFiles(backupDir)).some((f) => f.size >= 256 * 1024) && p
      },
      `${String(tool)} writing 256 KB`,
    )
  } catch (error) {
    child.kill('SIGKILL')
    const r = await result
    throw new Error(`${(error as Error).message}\n${String(r.stderr).slice(-2000)}`)
  }
  await inject(toolPid)
  const r = await result
  // Loudly: exit 1, and the error names the cause.
  expect(r.exitCode, String(r.stderr).slice(-3000)).toBe(1)
  const report = JSON.parse(String(r.stdout)) as BackupJson
  expect(report.ok).toBe(false)
  const [res] = report.results
  expect(res?.ok).toBe(false)
  expect(res?.error?.code).toMatch(expected.code)
  // What the operator reads: the message and its hint (the CLI prints both, and so do alerts).
  const said = `${res?.error?.message ?? ''} — ${res?.error?.hint ?? ''}`
  expect(said).toMatch(expected.cause)
  // ...and the log says it too, as an error.
  const logged = String(r.stderr)
    .split('\n')
    .flatMap((l) => {
      try {
        return [JSON.parse(l) as { level: number; msg: string; code?: string }]
      } catch {
        return []
      }
    })
  expect(
    logged.some((l) => l.level >= 50 && l.msg === res?.error?.message && l.code === res?.error?.code),
    String(r.stderr).slice(-2000),
  ).toBe(true)
  // Nothing partial kept (the run removed its own temporary file) or listed; earlier backups intact.
  expect(await debrisOnDisk(backupDir)).toEqual([])
  const after = await listJson(env)
  expect(after.map((b) => b.id).sort()).toEqual(before.map((b) => b.id).sort())
  const { lost, details } = await assessLoss(env, before, after)
  expect(details).toEqual([])
  current = after
  return lost
}

const MYSQLDUMP = /(^|\/)(mysqldump|mariadb-dump)$/
const PG_DUMP = /(^|\/)pg_dump$/

describe('the dump tool is killed mid-dump', () => {
  it('mysqldump SIGKILLed', async () => {
    await trial(TOOL_KILLED, 'mysqldump SIGKILLed mid-dump', () =>
      faultMidDump('maria', MYSQLDUMP, (p) => void process.kill(p, 'SIGKILL'), {
        code: /^DUMP_FAILED$/,
        cause: /(mysqldump|mariadb-dump) was killed by SIGKILL/,
      }),
    )
  }, 120_000)

  it('pg_dump SIGKILLed (plain format)', async () => {
    await trial(TOOL_KILLED, 'pg_dump SIGKILLed mid-dump (plain)', () =>
      faultMidDump('pg', PG_DUMP, (p) => void process.kill(p, 'SIGKILL'), {
        code: /^DUMP_FAILED$/,
        cause: /pg_dump was killed by SIGKILL/,
      }),
    )
  }, 120_000)

  it('pg_dump SIGKILLed (custom format)', async () => {
    await trial(TOOL_KILLED, 'pg_dump SIGKILLed mid-dump (custom)', () =>
      faultMidDump(
        'pg',
        PG_DUMP,
        (p) => void process.kill(p, 'SIGKILL'),
        {
          code: /^DUMP_FAILED$/,
          cause: /pg_dump was killed by SIGKILL/,
        },
        { DB02_PG_FORMAT: 'custom' },
      ),
    )
  }, 120_000)

  it('mysqldump SIGTERMed (an operator or the OOM killer stopping it)', async () => {
    await trial(TOOL_KILLED, 'mysqldump SIGTERMed mid-dump', () =>
      faultMidDump('maria', MYSQLDUMP, (p) => void process.kill(p, 'SIGTERM'), {
        code: /^DUMP_FAILED$/,
        cause: /(mysqldump|mariadb-dump) was killed by SIGTERM/,
      }),
    )
  }, 120_000)
})

/** The pid of the mariadbd serving `dataDir`. */
function mariadbdPid(dataDir: string): number {
  for (const p of descendants(process.pid)) {
    const cmd = cmdline(p)
    if (/mariadbd|mysqld/.test(cmd.split(' ')[0] ?? '') && cmd.includes(`--datadir=${dataDir}`)) return p
  }
  throw new Error(`no mariadbd for ${dataDir}`)
}

async function gone(pid: number): Promise<void> {
  while (procStat(pid) !== undefined && procStat(pid)?.state !== 'Z') await new Promise((r) => setTimeout(r, 20))
}

/** The PostgreSQL postmaster's pid. */
function postmasterPid(): number {
  return Number(readFileSync(join(postgres!.info.dataDir, 'postmaster.pid'), 'utf8').split('\n')[0])
}

const MARIADB_GONE = /(mysqldump|mariadb-dump) exited \d+: .*(Lost connection|gone away|shutdown|2013|2006|1053)/i
const POSTGRES_GONE = /pg_dump exited \d+: .* — .*server ended the connection mid-way/i

describe('the database server dies mid-dump (private servers)', () => {
  it('MariaDB shuts down (SIGTERM of mariadbd)', async () => {
    await trial(SERVER_DIES, 'MariaDB clean shutdown mid-dump', () =>
      faultMidDump(
        'maria',
        MYSQLDUMP,
        async () => {
          const pid = mariadbdPid(maria!.info.dataDir)
          process.kill(pid, 'SIGTERM')
          await gone(pid)
        },
        { code: /^(DUMP_FAILED|CONNECT)$/, cause: MARIADB_GONE },
      ),
    )
  }, 120_000)

  it('PostgreSQL shuts down (fast: SIGINT of the postmaster)', async () => {
    await trial(SERVER_DIES, 'PostgreSQL fast shutdown mid-dump', () =>
      faultMidDump(
        'pg',
        PG_DUMP,
        async () => {
          const pid = postmasterPid()
          process.kill(pid, 'SIGINT')
          await gone(pid)
        },
        { code: /^(DUMP_FAILED|CONNECT)$/, cause: POSTGRES_GONE },
      ),
    )
  }, 120_000)

  it('new servers for the crashes', async () => {
    dead.push(maria!, postgres!)
    maria = undefined
    postgres = undefined
    await startServers()
  }, 300_000)

  it('MariaDB crashes (SIGKILL of mariadbd)', async () => {
    await trial(SERVER_DIES, 'MariaDB SIGKILLed mid-dump', () =>
      faultMidDump(
        'maria',
        MYSQLDUMP,
        async () => {
          const pid = mariadbdPid(maria!.info.dataDir)
          process.kill(pid, 'SIGKILL')
          await gone(pid)
        },
        { code: /^(DUMP_FAILED|CONNECT)$/, cause: MARIADB_GONE },
      ),
    )
  }, 120_000)

  it('PostgreSQL crashes (immediate shutdown: SIGQUIT of the postmaster)', async () => {
    await trial(SERVER_DIES, 'PostgreSQL immediate shutdown mid-dump', () =>
      faultMidDump(
        'pg',
        PG_DUMP,
        async () => {
          const pid = postmasterPid()
          process.kill(pid, 'SIGQUIT')
          await gone(pid)
        },
        { code: /^(DUMP_FAILED|CONNECT)$/, cause: POSTGRES_GONE },
      ),
    )
  }, 120_000)
})
