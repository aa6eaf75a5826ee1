/**
 * Two DBnn_PITR sources on one server, each with its own binlog archiver, and a user's own
 * `mariadb-binlog --stop-never` beside them: the server keeps one reader per replica id and drops
 * the older of two that share one, so each archiver announces an id of its own (replicaId).
 * Without that, the readers dropped each other in turn (found by bench/pitr-archiver-cost.ts).
 */
import { spawn } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import mysql from 'mysql2/promise'
import { afterAll, beforeAll, expect, it } from 'vitest'
import type { Archiver } from '../../../src/engines/archive.js'
import { localBinlogs } from '../../../src/engines/mysql/binlog-archive.js'
import { replicaId, startBinlogArchiver } from '../../../src/engines/mysql/binlog-archiver.js'
import { captureLogger } from '../../support/logs.js'
import { startMariadb } from '../../support/mariadb-server.js'
import type { RunningServer } from '../../support/servers.js'
import { mysqlSource } from './helpers.js'

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
let server: RunningServer
let admin: mysql.Connection
let work: string

beforeAll(async () => {
  server = await startMariadb({ binlog: {} })
  const { host, port, user } = server.info
  admin = await mysql.createConnection({ host, port, user, password: '' })
  await admin.query('CREATE DATABASE app')
  await admin.query('CREATE TABLE app.t (id INT AUTO_INCREMENT PRIMARY KEY, v VARCHAR(100))')
  work = await mkdtemp(join(tmpdir(), 'dbk-binlog-shared-'))
}, 60_000)
afterAll(async () => {
  await admin?.end()
  await server?.stop()
  await rm(work, { recursive: true, force: true })
})

it('gives each source its own replica id', () => {
  expect(replicaId({ id: 'DB01' })).not.toBe(replicaId({ id: 'DB02' }))
  expect(replicaId({ id: 'DB01' })).toBeLessThan(2 ** 32)
})

it('keeps two archivers of one server and a plain mariadb-binlog streaming side by side', async () => {
  const { host, port, user } = server.info
  const archivers: Archiver[] = []
  const cnf = join(work, 'plain.cnf')
  await writeFile(cnf, `[client]\nuser=${user}\npassword=""\nhost=${host}\nport=${port}\nprotocol=TCP\n`, {
    mode: 0o600,
  })
  const [[status]] = (await admin.query('SHOW MASTER STATUS')) as unknown as [{ File: string }[]]
  const plain = spawn(
    'mariadb-binlog',
    [
      `--defaults-extra-file=${cnf}`,
      '--read-from-remote-server',
      '--raw',
      '--stop-never',
      `--result-file=${work}/plain-`,
      status!.File,
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  )
  let plainErr = ''
  plain.stderr.on('data', (d: Buffer) => (plainErr += d.toString()))
  try {
    for (const [id, label] of [
      ['DB01', 'one'],
      ['DB02', 'two'],
    ] as const) {
      const source = mysqlSource({ id, label, host, port, user })
      const dir = join(work, label)
      archivers.push(
        await startBinlogArchiver({
          source,
          dir,
          logger: captureLogger().logger,
          backoff: { initialMs: 100 },
          pollMs: 200,
        }),
      )
    }
    for (let i = 0; i < 20; i++) {
      await admin.query(`INSERT INTO app.t (v) VALUES ${Array(20).fill('(UUID())').join(',')}`)
      await sleep(100)
    }
    const [[end]] = (await admin.query('SHOW MASTER STATUS')) as unknown as [{ File: string; Position: number }[]]
    const until = Date.now() + 15_000
    const sizes = async () =>
      Promise.all(['one', 'two'].map(async (l) => (await localBinlogs(join(work, l))).at(-1)?.size ?? 0))
    while ((await sizes()).some((s) => s < Number(end!.Position)) && Date.now() < until) await sleep(100)
    expect(await sizes()).toEqual([Number(end!.Position), Number(end!.Position)])
    expect(archivers.map((a) => a.restarts)).toEqual([0, 0])
    expect(plain.exitCode).toBeNull()
    expect(plainErr).toBe('')
  } finally {
    plain.kill('SIGTERM')
    await Promise.all(archivers.map((a) => a.stop()))
  }
}, 60_000)
