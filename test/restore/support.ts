/**
 * Shared pieces of the restore tests: a restore-capable MariaDB user, running the CLI, and backups
 * written by hand from an existing one — "tampered but consistently signed" (new content with a
 * valid manifest and checksums, so that only the content is wrong) or with a flipped byte.
 */
import { createHash } from 'node:crypto'
import { readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'
import { gunzipSync, gzipSync } from 'node:zlib'
import { execa } from 'execa'
import { inject } from 'vitest'
import { decodeManifest, encodeManifest, type Manifest } from '../../src/catalog/manifest.js'
import { binlogArchiveDir } from '../../src/catalog/naming.js'
import {
  CHECKSUM_SUFFIX,
  MANIFEST_SUFFIX,
  backupId,
  dataFileName,
  parseDataFileName,
} from '../../src/catalog/naming.js'
import type { BackupJson } from '../../src/cli/commands/backup.js'
import type { ListedBackup } from '../../src/cli/commands/list.js'
import { runCli, type CliResult } from '../support/cli.js'
import { uniqueName, type ServerInfo } from '../support/servers.js'
import type { Archiver } from '../../src/engines/archive.js'
import { startBinlogArchiver } from '../../src/engines/mysql/binlog-archiver.js'
import { mysqlSourceOn } from '../engines/mysql/helpers.js'
import { captureLogger } from '../support/logs.js'
import { NASTY_PASSWORD, rootQuery } from '../backup/mysql-support.js'

/** A MariaDB user that may restore anything (ALL incl. SET USER for DEFINERs), with the nasty password. */
export async function makeAdminUser(): Promise<string> {
  const user = uniqueName('adm')
  await rootQuery("CREATE USER ?@'%' IDENTIFIED BY ?", [user, NASTY_PASSWORD])
  await rootQuery("GRANT ALL PRIVILEGES ON *.* TO ?@'%' WITH GRANT OPTION", [user])
  return user
}

export async function cli(args: string[], env: Record<string, string>): Promise<CliResult> {
  return runCli(args, env, { timeoutMs: 300_000 })
}

/** `dbkeeper backup --json`; fails the test unless every backup was proven. */
export async function backupNow(env: Record<string, string>): Promise<BackupJson['results']> {
  const r = await cli(['backup', '--json'], env)
  if (r.exitCode !== 0) throw new Error(`backup failed (${r.exitCode}):\n${r.all}`)
  return (JSON.parse(r.stdout) as BackupJson).results
}

export async function listNow(env: Record<string, string>, ...args: string[]): Promise<ListedBackup[]> {
  const r = await cli(['list', '--json', ...args], env)
  if (r.exitCode !== 0) throw new Error(`list failed:\n${r.all}`)
  return JSON.parse(r.stdout) as ListedBackup[]
}

export async function readManifest(dataPath: string): Promise<Manifest> {
  const decoded = decodeManifest(await readFile(`${dataPath}${MANIFEST_SUFFIX}`, 'utf8'))
  if ('error' in decoded) throw new Error(decoded.error)
  return decoded.manifest
}

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex')

/**
 * Writes a new backup beside `dataPath` whose raw content is `transform(old content)`, with a
 * correct `.sha256` and manifest (a later start time, `secondsLater`, moved on to the next free
 * second when a backup of that second exists: two backups of one database must never share an
 * id), so that verification passes and only the content itself is wrong. gzip only (what the
 * tests use). Returns its manifest, its path and `remove()`, which deletes its three files.
 */
export async function writeResignedBackup(
  dataPath: string,
  transform: (raw: Buffer) => Buffer,
  secondsLater = 1,
  patch: Partial<Manifest> = {},
): Promise<{ manifest: Manifest; path: string; remove: () => Promise<void> }> {
  const old = await readManifest(dataPath)
  const raw = transform(gunzipSync(await readFile(dataPath)))
  const file = gzipSync(raw)
  const taken = await readdir(dirname(dataPath))
  let at = new Date(Date.parse(old.startedAt) + secondsLater * 1000)
  while (taken.some((name) => name.startsWith(`${backupId(old.database, at)}.`))) at = new Date(at.getTime() + 1000)
  const parsed = parseDataFileName(old.file)!
  const name = dataFileName(old.database, at, parsed.contentExt, parsed.compressionExt)
  const path = join(dirname(dataPath), name)
  // One gzip member now: the old file's members (engines/mysql/sections.ts) describe it no more.
  const { members: _members, ...kept } = old
  const manifest: Manifest = {
    ...kept,
    id: backupId(old.database, at),
    file: name,
    startedAt: at.toISOString(),
    finishedAt: at.toISOString(),
    raw: { size: raw.length, sha256: sha256(raw) },
    compressed: { size: file.length, sha256: sha256(file) },
    locations: { local: path },
    ...patch,
  }
  await writeFile(path, file, { mode: 0o600 })
  await writeFile(`${path}${CHECKSUM_SUFFIX}`, `${manifest.compressed.sha256}  ${basename(path)}\n`)
  await writeFile(`${path}${MANIFEST_SUFFIX}`, encodeManifest(manifest))
  const remove = async () => {
    for (const suffix of [MANIFEST_SUFFIX, CHECKSUM_SUFFIX, '']) await rm(`${path}${suffix}`, { force: true })
  }
  return { manifest, path, remove }
}

/** Flips every bit of one byte in the middle of a file (the manifest and .sha256 stay as they were). */
export async function flipByte(path: string): Promise<void> {
  const data = await readFile(path)
  const at = Math.floor(data.length / 2)
  data[at] = data[at]! ^ 0xff
  await writeFile(path, data)
}

/** Inserts `statement` as its own line before the line that starts with `before`; returns the new content and its line number. */
export function insertLine(raw: Buffer, before: RegExp, statement: string): { content: Buffer; line: number } {
  const lines = raw.toString('latin1').split('\n')
  const at = lines.findIndex((l) => before.test(l))
  if (at < 0) throw new Error(`no line matches ${before}`)
  lines.splice(at, 0, statement)
  return { content: Buffer.from(lines.join('\n'), 'latin1'), line: at + 1 }
}

export function stripCr(text: string): string {
  return text.replace(/\r/g, '')
}

/**
 * Runs the CLI on a pseudo-terminal (util-linux `script`), typing `answer` at the prompt: the
 * interactive path that an operator in `docker exec -it` takes.
 */
export async function cliOnTerminal(args: string[], env: Record<string, string>, answer: string): Promise<CliResult> {
  const entry = inject('cliEntry')
  const command = [process.execPath, entry, ...args].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ')
  const r = await execa('script', ['-qefc', command, '/dev/null'], {
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/root', LOG_FORMAT: 'json', ...env },
    extendEnv: false,
    reject: false,
    input: `${answer}\n`,
    timeout: 300_000,
  })
  const out = stripCr(r.stdout)
  return { exitCode: r.exitCode ?? -1, stdout: out, stderr: stripCr(r.stderr), all: `${out}\n${stripCr(r.stderr)}` }
}

/**
 * A DBnn_PITR MariaDB source `my` (database `app`) on a private server, as user `restorer` (ALL on
 * *.*, the nasty password; created here over `admin`), and the binlog archiver the daemon would run
 * for it, polling every 200 ms.
 */
export async function pitrSource(
  info: ServerInfo,
  admin: { query(sql: string, values?: unknown[]): Promise<unknown> },
  backupDir: string,
): Promise<{ env: Record<string, string>; archiveDir: string; archiver: Archiver }> {
  await admin.query("CREATE USER restorer@'%' IDENTIFIED BY ?", [NASTY_PASSWORD])
  await admin.query("GRANT ALL PRIVILEGES ON *.* TO restorer@'%'")
  const archiveDir = binlogArchiveDir(backupDir, 'my')
  const env = {
    DB01_TYPE: 'mysql',
    DB01_LABEL: 'my',
    DB01_HOST: info.host,
    DB01_PORT: String(info.port),
    DB01_USER: 'restorer',
    DB01_PASS: NASTY_PASSWORD,
    DB01_NAME: 'app',
    DB01_PITR: 'true',
    BACKUP_DIR: backupDir,
  }
  const source = mysqlSourceOn(info, { user: 'restorer', password: NASTY_PASSWORD, label: 'my' })
  const archiver = await startBinlogArchiver({ source, dir: archiveDir, logger: captureLogger().logger, pollMs: 200 })
  return { env, archiveDir, archiver }
}
