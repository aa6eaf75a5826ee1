import { readFileSync } from 'node:fs'
import { chown, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { execa } from 'execa'
import { freePort, pgAdmin, tail, waitUntil, type RunningServer, type ServerInfo } from './servers.js'

const PG_BIN = process.env.PG_BIN ?? '/usr/lib/postgresql/15/bin'

/** PostgreSQL refuses to run as root: as root we run its tools as `postgres` and give it the directory. */
function asPostgres(command: string, args: string[]) {
  const bin = join(PG_BIN, command)
  if (process.getuid?.() === 0) return execa('runuser', ['-u', 'postgres', '--', bin, ...args], { stdin: 'ignore' })
  return execa(bin, args, { stdin: 'ignore' })
}

/**
 * Authentication, first matching line wins: the superuser `postgres` is trusted over TCP (the
 * tests' admin connection needs no password), every other user must give a SCRAM password — so a
 * wrong password for a test user is really refused. Unix sockets are trusted.
 */
const PG_HBA = [
  'local all all trust',
  'host all postgres 127.0.0.1/32 trust',
  'host all all 127.0.0.1/32 scram-sha-256',
  '',
].join('\n')

export async function startPostgres(): Promise<RunningServer> {
  const started = Date.now()
  const dir = await mkdtemp(join(tmpdir(), 'dbk-pg-'))
  const dataDir = join(dir, 'data')
  if (process.getuid?.() === 0) {
    const { stdout } = await execa('id', ['-u', 'postgres'])
    const { stdout: gid } = await execa('id', ['-g', 'postgres'])
    await chown(dir, Number(stdout), Number(gid))
  }
  await asPostgres('initdb', [
    '-D',
    dataDir,
    '-A',
    'trust',
    '-U',
    'postgres',
    '-E',
    'UTF8',
    '--locale=C.UTF-8',
    '--no-sync',
  ])
  await writeFile(join(dataDir, 'pg_hba.conf'), PG_HBA)

  const port = await freePort()
  // fsync off and friends: test data is disposable, and the suite creates many databases.
  const serverOpts = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c shared_buffers=32MB`
  const stop = async () => {
    await asPostgres('pg_ctl', ['-D', dataDir, '-m', 'fast', '-w', 'stop']).catch(() => undefined)
    await rm(dir, { recursive: true, force: true })
  }
  const killOnExit = () => {
    // pg_ctl daemonises the server: if vitest dies without teardown, do not leave it running.
    // Only synchronous work runs in an 'exit' handler; SIGQUIT is PostgreSQL's immediate shutdown.
    try {
      process.kill(Number(readFileSync(join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]), 'SIGQUIT')
    } catch {
      // already gone
    }
  }
  try {
    await asPostgres('pg_ctl', [
      '-D',
      dataDir,
      '-o',
      serverOpts,
      '-l',
      join(dir, 'server.log'),
      '-w',
      '-t',
      '60',
      'start',
    ])
  } catch (error) {
    const log = await tail(join(dir, 'server.log'))
    await stop()
    throw new Error(`PostgreSQL did not start: ${(error as Error).message}\n${log}`)
  }
  process.once('exit', killOnExit)
  const info: ServerInfo = {
    host: '127.0.0.1',
    port,
    user: 'postgres',
    password: '',
    socket: dir,
    dataDir,
    version: '',
    startMs: 0,
  }
  info.version = await waitUntil(
    'postgres',
    async () => {
      const client = await pgAdmin(info)
      try {
        return String((await client.query('SHOW server_version')).rows[0].server_version)
      } finally {
        await client.end()
      }
    },
    () => undefined,
  )
  info.startMs = Date.now() - started
  return {
    info,
    stop: async () => {
      process.off('exit', killOnExit)
      await stop()
    },
  }
}
