import { spawn, type ChildProcess } from 'node:child_process'
import { mkdir, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { execa } from 'execa'
import { freePort, mysqlAdmin, tail, waitUntil, type RunningServer, type ServerInfo } from './servers.js'

/** Binary logging, as a point-in-time recovery source needs it (or misconfigures it). */
export interface BinlogOptions {
  /** --binlog-format; ROW by default. */
  format?: 'ROW' | 'STATEMENT' | 'MIXED'
  /** --server-id; 1 by default. */
  serverId?: number
  /** --expire-logs-days; the server's default (0: never) when absent. */
  expireLogsDays?: number
}

/**
 * MariaDB as root in a temp dir. Small buffer pool and redo log, no name resolution, and no binlog
 * unless `binlog` asks for one (then its files are `<binlogDir>/binlog.NNNNNN`): a test server
 * starts in well under a second and holds tiny databases.
 */
export async function startMariadb(
  options: { binlog?: BinlogOptions } = {},
): Promise<RunningServer & { binlogDir?: string }> {
  const started = Date.now()
  const dir = await mkdtemp(join(tmpdir(), 'dbk-my-'))
  const dataDir = join(dir, 'data')
  const socket = join(dir, 's')
  const errLog = join(dir, 'error.log')
  // A private tmpdir: servers set up in parallel shared /tmp's temporary files and failed now and then.
  const tmp = join(dir, 'tmp')
  await mkdir(tmp)
  const common = [
    '--no-defaults',
    `--datadir=${dataDir}`,
    `--tmpdir=${tmp}`,
    '--user=root',
    '--innodb-buffer-pool-size=128M',
    '--innodb-log-file-size=16M',
  ]
  await execa(
    'mariadb-install-db',
    [...common, '--auth-root-authentication-method=normal', '--skip-test-db', '--skip-name-resolve'],
    { stdin: 'ignore' },
  ).catch(async (error: Error) => {
    await rm(dir, { recursive: true, force: true })
    throw new Error(`mariadb-install-db failed (is mariadb-server installed?): ${error.message}`)
  })

  const port = await freePort()
  const child: ChildProcess = spawn(
    'mariadbd',
    [
      ...common,
      `--socket=${socket}`,
      `--port=${port}`,
      '--bind-address=127.0.0.1',
      ...binlogArgs(dir, options.binlog),
      '--skip-name-resolve',
      '--innodb-flush-log-at-trx-commit=0',
      `--log-error=${errLog}`,
      `--pid-file=${join(dir, 'pid')}`,
    ],
    { stdio: 'ignore' },
  )
  let exited: string | undefined
  const gone = new Promise<void>((resolve) => {
    child.once('exit', (code, sig) => {
      exited = `${sig ?? code}`
      resolve()
    })
    child.once('error', (e) => {
      exited = e.message
      resolve()
    })
  })
  const killOnExit = () => child.kill('SIGKILL')
  process.once('exit', killOnExit)

  const info: ServerInfo = {
    host: '127.0.0.1',
    port,
    user: 'root',
    password: '',
    socket,
    dataDir,
    version: '',
    startMs: 0,
  }
  try {
    info.version = await waitUntil(
      'mariadbd',
      async () => {
        const conn = await mysqlAdmin(info)
        try {
          const [rows] = await conn.query('SELECT VERSION() AS v')
          return String((rows as { v: string }[])[0]!.v)
        } finally {
          await conn.end()
        }
      },
      () => exited,
    )
  } catch (error) {
    child.kill('SIGKILL')
    const log = await tail(errLog)
    await gone
    process.off('exit', killOnExit)
    await rm(dir, { recursive: true, force: true })
    throw new Error(`${(error as Error).message}\n${log}`)
  }
  info.startMs = Date.now() - started
  return {
    info,
    ...(options.binlog ? { binlogDir: dir } : {}),
    async stop() {
      // SIGTERM is mariadbd's clean shutdown; the data is thrown away, but a clean exit frees the port now.
      if (exited === undefined) child.kill('SIGTERM')
      const timer = setTimeout(() => child.kill('SIGKILL'), 20_000)
      await gone
      clearTimeout(timer)
      process.off('exit', killOnExit)
      await rm(dir, { recursive: true, force: true })
    },
  }
}

function binlogArgs(dir: string, binlog: BinlogOptions | undefined): string[] {
  if (!binlog) return ['--skip-log-bin']
  return [
    `--log-bin=${join(dir, 'binlog')}`,
    `--binlog-format=${binlog.format ?? 'ROW'}`,
    `--server-id=${binlog.serverId ?? 1}`,
    ...(binlog.expireLogsDays === undefined ? [] : [`--expire-logs-days=${binlog.expireLogsDays}`]),
  ]
}
