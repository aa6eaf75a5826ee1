/**
 * Issue 14, item 10: masking that cannot mangle. Short and common passwords on the real servers —
 * `2` and `mysql` for MariaDB users, user = password = `postgres` for PostgreSQL, `root`/`root`
 * refused by MariaDB — and every command's output compared byte for byte with the same commands
 * run with long random passwords instead: ids, paths and engine names come out exact, and a
 * failed login's message is the same whatever the password was (so the password is not in it).
 * A webhook receiver that echoes the request path in its 404 page does not put the URL's token
 * into the log. Every JSON log line has each key once (a strict parser).
 */
import { randomBytes } from 'node:crypto'
import { createServer, type Server } from 'node:http'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import { runCli, type CliResult } from '../support/cli.js'
import { freePort, mysqlAdmin, pgAdmin, uniqueName } from '../support/servers.js'
import { trial } from '../support/faults/trials.js'
import type { BackupJson } from '../../src/cli/commands/backup.js'

const FAULT = 'adversarial: short and common secrets'
const tag = randomBytes(4).toString('hex')
const TOKEN = `hooktok${tag}`
const db = uniqueName('shs')
const userA = uniqueName('shs_a')
const userB = uniqueName('shs_b')
let dir: string
let hookServer: Server
let hookUrl: string
/** The short passwords, and the same configuration with long random ones (list/status/config do not log in). */
let short: Record<string, string>
let long: Record<string, string>
const logs: string[] = []

async function run(args: string[], env: Record<string, string>): Promise<CliResult> {
  const r = await runCli(args, env, { timeoutMs: 180_000 })
  logs.push(r.stderr)
  return r
}

/** JSON.parse, but a key repeated in one object is an error (as in strict parsers). */
function parseStrict(text: string): unknown {
  const keys = /"((?:[^"\\]|\\.)*)"\s*:/y
  // Track objects by nesting: a stack of key sets, opened by `{` and closed by `}` outside strings.
  const stack: Set<string>[] = []
  let i = 0
  while (i < text.length) {
    const c = text[i]!
    if (c === '"') {
      keys.lastIndex = i
      const m = keys.exec(text)
      const end = m && m.index === i ? keys.lastIndex : skipString(text, i)
      if (m && m.index === i) {
        const top = stack.at(-1)!
        if (top.has(m[1]!)) throw new Error(`duplicate key "${m[1]}" in ${text.slice(0, 200)}`)
        top.add(m[1]!)
      }
      i = end
      continue
    }
    if (c === '{') stack.push(new Set())
    if (c === '}') stack.pop()
    i += 1
  }
  return JSON.parse(text)
}

function skipString(text: string, start: number): number {
  let i = start + 1
  while (i < text.length && text[i] !== '"') i += text[i] === '\\' ? 2 : 1
  return i + 1
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'dbk-short-secrets-'))
  const maria = await mysqlAdmin(inject('mariadb'))
  try {
    await maria.query(
      `CREATE DATABASE \`${db}\`; USE \`${db}\`; CREATE TABLE t (id INT PRIMARY KEY, s TEXT); INSERT INTO t VALUES (2, 'mysql 2 postgres root')`,
    )
    for (const [u, pw] of [
      [userA, '2'],
      [userB, 'mysql'],
    ] as const) {
      await maria.query("CREATE USER ?@'%' IDENTIFIED BY ?", [u, pw])
      await maria.query(`GRANT ALL PRIVILEGES ON \`${db}\`.* TO ?@'%'`, [u])
      await maria.query("GRANT SELECT ON mysql.proc TO ?@'%'", [u])
    }
  } finally {
    await maria.end()
  }
  const pg = await pgAdmin(inject('postgres'))
  try {
    await pg.query(`CREATE DATABASE ${db}`)
  } finally {
    await pg.end()
  }
  const own = await pgAdmin(inject('postgres'), db)
  await own
    .query("CREATE TABLE t (id INT PRIMARY KEY, s TEXT); INSERT INTO t VALUES (2, 'postgres 2')")
    .finally(() => own.end())
  // A receiver that answers 404 with the path it was asked for, as many frameworks do.
  const port = await freePort()
  hookServer = createServer((req, res) => {
    req.resume()
    req.on('end', () => res.writeHead(404).end(`Cannot POST ${req.url ?? ''}`))
  })
  await new Promise<void>((resolve) => hookServer.listen(port, '127.0.0.1', resolve))
  hookUrl = `http://127.0.0.1:${port}/hooks/${TOKEN}?key=${TOKEN}q`
  const mi = inject('mariadb')
  const pi = inject('postgres')
  short = {
    BACKUP_DIR: join(dir, 'backups'),
    TZ: 'UTC',
    KEEP_LAST: '5',
    DB01_TYPE: 'mariadb',
    DB01_HOST: mi.host,
    DB01_PORT: String(mi.port),
    DB01_USER: userA,
    DB01_PASS: '2',
    DB01_NAME: db,
    DB01_LABEL: 'short',
    DB02_TYPE: 'postgres',
    DB02_HOST: pi.host,
    DB02_PORT: String(pi.port),
    DB02_USER: 'postgres',
    DB02_PASS: 'postgres',
    DB02_NAME: db,
    DB02_LABEL: 'pg',
    DB03_TYPE: 'mysql',
    DB03_HOST: mi.host,
    DB03_PORT: String(mi.port),
    DB03_USER: userB,
    DB03_PASS: 'mysql',
    DB03_NAME: db,
    DB03_LABEL: 'common',
  }
  long = { ...short, DB01_PASS: `long-a-${tag}-Zq9`, DB02_PASS: `long-b-${tag}-Zq9`, DB03_PASS: `long-c-${tag}-Zq9` }
}, 120_000)

afterAll(async () => {
  await new Promise<void>((resolve) => (hookServer ? hookServer.close(() => resolve()) : resolve()))
  const maria = await mysqlAdmin(inject('mariadb')).catch(() => undefined)
  await maria?.query(`DROP DATABASE IF EXISTS \`${db}\``).catch(() => undefined)
  for (const u of [userA, userB]) await maria?.query("DROP USER IF EXISTS ?@'%'", [u]).catch(() => undefined)
  await maria?.end()
  const pg = await pgAdmin(inject('postgres')).catch(() => undefined)
  await pg?.query(`DROP DATABASE IF EXISTS ${db} WITH (FORCE)`).catch(() => undefined)
  await pg?.end()
  if (dir) await rm(dir, { recursive: true, force: true })
})

/** status --json minus what changes from one call to the next. */
const stable = (s: string) => s.replace(/"checkedAt": "[^"]*"/g, '').replace(/"ageSeconds": \d+/g, '')

describe('short and common passwords (issue 14)', () => {
  it('backup, list --json, status --json and config are exact, whatever the password', async () => {
    await trial(
      FAULT,
      'passwords 2, mysql, user = password = postgres: backup, list, status, config byte-exact',
      async () => {
        const backup = await run(['backup', '--json'], short)
        expect(backup.exitCode, backup.all).toBe(0)
        const report = JSON.parse(backup.stdout) as BackupJson
        expect(report.results.map((r) => r.source).sort()).toEqual(['common', 'pg', 'short'])
        for (const r of report.results) {
          expect(r.id, backup.stdout).toBe(`${db}_${/_(\d{8}T\d{6}Z)\./.exec(r.path ?? '')?.[1]}`)
          expect(r.path).toContain(join(dir, 'backups', r.source))
        }
        expect(backup.stdout).not.toContain('***')
        for (const args of [['list', '--json'], ['list'], ['config'], ['config', '--json']]) {
          const a = await run(args, short)
          const b = await run(args, long)
          expect(a.exitCode, a.all).toBe(0)
          expect(a.stdout, args.join(' ')).toBe(b.stdout.replace(/long-[abc]-[0-9a-f]+-Zq9/g, '***'))
        }
        const list = (await run(['list', '--json'], short)).stdout
        expect(list).toContain('"engine": "postgres"')
        expect(list).toContain('"engine": "mysql"')
        for (const r of report.results) expect(list).toContain(`"id": "${r.id}"`)
        const sa = await run(['status', '--json'], short)
        const sb = await run(['status', '--json'], long)
        expect(stable(sa.stdout)).toBe(stable(sb.stdout))
        expect(sa.stdout).not.toContain('***')
        const human = (t: string) => t.replace(/\b\d+[smhd](?: \d+[smhd])*\b/g, 'N')
        expect(human((await run(['status'], short)).stdout)).toBe(human((await run(['status'], long)).stdout))
      },
    )
  }, 240_000)

  it('a refused login says the same whatever the password: 3, mysq, and root for root', async () => {
    await trial(
      FAULT,
      'wrong passwords 3, mysq, root/root: the error message is exact and holds no password',
      async () => {
        const rootEnv = {
          DB04_TYPE: 'mariadb',
          DB04_HOST: inject('mariadb').host,
          DB04_PORT: String(inject('mariadb').port),
          DB04_USER: 'root',
          DB04_NAME: db,
          DB04_LABEL: 'rootpw',
        }
        const wrongShort = { ...short, ...rootEnv, DB01_PASS: '3', DB03_PASS: 'mysq', DB04_PASS: 'root' }
        const wrongLong = {
          ...short,
          ...rootEnv,
          DB01_PASS: `wrong-a-${tag}-Zq9`,
          DB03_PASS: `wrong-c-${tag}-Zq9`,
          DB04_PASS: `wrong-d-${tag}-Zq9`,
        }
        const a = await run(['backup', '--json', 'short', 'common', 'rootpw'], wrongShort)
        const b = await run(['backup', '--json', 'short', 'common', 'rootpw'], wrongLong)
        expect(a.exitCode, a.all).toBe(1)
        const errors = (r: CliResult) =>
          (JSON.parse(r.stdout) as BackupJson).results
            .map((x) => `${x.source}: ${x.error?.code} ${x.error?.message} — ${x.error?.hint}`)
            .sort()
        expect(errors(a)).toEqual(errors(b))
        expect(
          errors(a).every((e) => / AUTH /.test(e)),
          errors(a).join('\n'),
        ).toBe(true)
        expect(errors(a).join('\n')).toContain("'root'")
        expect(errors(a).join('\n')).toContain(userA)
        expect(a.all).not.toContain('***')
        expect(b.all).not.toMatch(/wrong-[acd]-/)
      },
    )
  }, 240_000)

  it('a webhook receiver echoing the path in its 404 page: the token is not logged', async () => {
    await trial(FAULT, 'webhook 404 page echoing the URL path and query', async () => {
      const r = await run(['backup', '--json', 'short'], { ...short, DB01_PASS: '3', WEBHOOK_URL: hookUrl })
      expect(r.exitCode, r.all).toBe(1)
      const line = r.stderr.split('\n').find((l) => l.includes('alert NOT sent'))
      expect(line, r.stderr).toBeDefined()
      expect(line).toContain('404')
      expect(line).toContain('Cannot POST')
      expect(r.all).not.toContain(TOKEN)
      expect(r.all).not.toContain('/hooks/')
      // The message and its code, not a stack of fetch internals.
      expect(line).not.toContain('"stack"')
    })
  }, 240_000)

  it('every JSON log line of every run above has each key once', async () => {
    await trial('hostile configuration', 'JSON log lines parsed with a strict duplicate-key check', async () => {
      const lines = logs
        .join('\n')
        .split('\n')
        .filter((l) => l.startsWith('{'))
      expect(lines.length).toBeGreaterThan(10)
      expect(lines.some((l) => l.includes('"source"'))).toBe(true)
      for (const l of lines) parseStrict(l)
    })
  })
})
