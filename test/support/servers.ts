/**
 * Private database servers for the integration tests: one MariaDB and one PostgreSQL 15, each in
 * its own temporary directory on a free port, started once per test run by global-setup.ts and
 * handed to the tests through vitest's provide/inject. Nothing touches a system-wide server.
 * The servers themselves start in mariadb-server.ts and postgres-server.ts.
 */
import { readFile } from 'node:fs/promises'
import { createServer, type Server } from 'node:net'
import mysql from 'mysql2/promise'
import pg from 'pg'

export interface ServerInfo {
  host: string
  port: number
  user: string
  password: string
  /** MariaDB: the socket file; PostgreSQL: the socket directory. */
  socket: string
  dataDir: string
  version: string
  /** Milliseconds from "create the data directory" to "accepts connections". */
  startMs: number
}

declare module 'vitest' {
  export interface ProvidedContext {
    /** The CLI compiled for this test run (global-setup.ts). */
    cliEntry: string
    mariadb: ServerInfo
    postgres: ServerInfo
  }
}

export interface RunningServer {
  info: ServerInfo
  stop(): Promise<void>
}

const READY_TIMEOUT_MS = 60_000

/** A port nobody listens on right now (the kernel picks it). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      server.close(() =>
        typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port')),
      )
    })
  })
}

/**
 * Runs `bind` again while it fails with EADDRINUSE (for 5 s at most): a fixed port that was free a
 * moment ago may still be in TIME_WAIT from our own last listener on it.
 */
export async function retryWhilePortBusy<T>(bind: () => Promise<T>): Promise<T> {
  for (let i = 0; ; i++) {
    try {
      return await bind()
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EADDRINUSE' || i >= 50) throw error
      await new Promise((r) => setTimeout(r, 100))
    }
  }
}

/** Listens on 127.0.0.1:`port`, a fixed port that a test closes and opens again (an endpoint switched down and up). */
export async function listenOn(server: Server, port: number): Promise<void> {
  await retryWhilePortBusy(
    () =>
      new Promise<void>((resolve, reject) => {
        server.once('error', reject)
        server.listen(port, '127.0.0.1', () => {
          server.off('error', reject)
          resolve()
        })
      }),
  )
}

let counter = 0
/** A database/user name unique within this run, valid unquoted in MariaDB and PostgreSQL. */
export function uniqueName(prefix: string): string {
  counter += 1
  return `${prefix}_${process.pid}_${counter}_${Math.random().toString(36).slice(2, 7)}`.toLowerCase()
}

/** A root connection to the private MariaDB; `multipleStatements` so fixtures can be one script. */
export function mysqlAdmin(info: ServerInfo, database?: string): Promise<mysql.Connection> {
  return mysql.createConnection({
    host: info.host,
    port: info.port,
    user: info.user,
    password: info.password,
    multipleStatements: true,
    ...(database ? { database } : {}),
  })
}

/** A connected superuser client for the private PostgreSQL. The caller ends it. */
export async function pgAdmin(info: ServerInfo, database = 'postgres'): Promise<pg.Client> {
  const client = new pg.Client({ host: info.host, port: info.port, user: info.user, password: info.password, database })
  await client.connect()
  return client
}

/** Polls `ready` until it resolves, the process died, or the timeout passed. */
export async function waitUntil(
  what: string,
  ready: () => Promise<string>,
  died: () => string | undefined,
): Promise<string> {
  const deadline = Date.now() + READY_TIMEOUT_MS
  let last: unknown
  while (Date.now() < deadline) {
    const death = died()
    if (death) throw new Error(`${what} exited during start-up: ${death}`)
    try {
      return await ready()
    } catch (error) {
      last = error
      await new Promise((r) => setTimeout(r, 50))
    }
  }
  throw new Error(`${what} did not accept connections within ${READY_TIMEOUT_MS / 1000}s: ${String(last)}`)
}

export async function tail(file: string): Promise<string> {
  return (await readFile(file, 'utf8').catch(() => '')).split('\n').slice(-15).join('\n')
}

/** Starts a server, trying a fresh port when another process took ours between probe and bind. */
export async function startWithRetry(start: () => Promise<RunningServer>, attempts = 3): Promise<RunningServer> {
  for (let i = 1; ; i++) {
    try {
      return await start()
    } catch (error) {
      if (i >= attempts) throw error
    }
  }
}
