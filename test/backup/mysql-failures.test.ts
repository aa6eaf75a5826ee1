/**
 * A MySQL dump that fails must fail the run (exit 1), list nothing new, leave no debris, and leave
 * the earlier backups intact and verifiable. The dump tool's failures are fixture scripts put
 * first on PATH (test/fixtures/bin/mysqldump-*); the rest are real: a wrong password, a dead port.
 */
import { readdir, rm } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { execa } from 'execa'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ROOT, runCli } from '../support/cli.js'
import { freePort } from '../support/servers.js'
import { NASTY_PASSWORD, dropDatabases, makeRichDatabase, mysqlEnv } from './mysql-support.js'
import type { BackupJson } from '../../src/cli/commands/backup.js'
import type { ListedBackup } from '../../src/cli/commands/list.js'

const fixture = (name: string) => join(ROOT, 'test/fixtures/bin', name)

describe('failing MySQL backups through the CLI', () => {
  let db: string
  let dir: string
  let env: Record<string, string>
  let first: ListedBackup

  const listed = async () => JSON.parse((await runCli(['list', '--json'], env)).stdout) as ListedBackup[]

  /** The earlier backup is still listed, unchanged, and still proves itself with plain tools. */
  async function expectEarlierBackupIntact(): Promise<void> {
    expect(await listed()).toEqual([first])
    const folder = dirname(first.path)
    await execa('sha256sum', ['-c', `${first.path}.sha256`], { cwd: folder })
    await execa('gzip', ['-t', first.path])
    const tail = await execa('bash', ['-o', 'pipefail', '-c', 'gunzip -c "$1" | tail -n 1', 'tail', first.path])
    expect(tail.stdout).toMatch(/^-- Dump completed/)
    // No temporary file or half-written backup next to it.
    const name = first.path.slice(folder.length + 1)
    expect((await readdir(folder)).sort()).toEqual([name, `${name}.manifest.json`, `${name}.sha256`].sort())
  }

  beforeAll(async () => {
    let user: string
    ;({ db, user } = await makeRichDatabase(2000))
    ;({ dir, env } = await mysqlEnv(db, user))
    const ok = await runCli(['backup'], env, { timeoutMs: 180_000 })
    expect(ok.exitCode, ok.all).toBe(0)
    ;[first] = (await listed()) as [ListedBackup]
  })
  afterAll(async () => {
    await dropDatabases(db)
    await rm(dir, { recursive: true, force: true })
  })

  it('mysqldump dying halfway (exit 2): exit 1 with its error, nothing new listed', async () => {
    const r = await runCli(['backup', '--json'], env, { pathPrepend: fixture('mysqldump-dies-halfway') })
    expect(r.exitCode, r.all).toBe(1)
    const report = JSON.parse(r.stdout) as BackupJson
    expect(report.ok).toBe(false)
    expect(report.results[0]!.error).toMatchObject({ code: 'DUMP_FAILED' })
    expect(report.results[0]!.error!.message).toContain('mysqldump exited 2: Error 2013: Lost connection to server')
    // The tool's last lines on stderr travel with the error (journal, alert), not just the one that failed it.
    expect(report.results[0]!.error!.output).toBe(
      [
        '-- Retrieving table structure for table half...',
        '-- Sending SELECT query...',
        '-- Retrieving rows...',
        'mysqldump: Error 2013: Lost connection to server during query when dumping table `half` at row: 3000',
      ].join('\n'),
    )
    await expectEarlierBackupIntact()
  })

  it('mysqldump exiting 0 without its end marker: exit 1 naming the missing marker', async () => {
    const r = await runCli(['backup'], env, { pathPrepend: fixture('mysqldump-no-marker') })
    expect(r.exitCode, r.all).toBe(1)
    expect(r.all).toContain("no '-- Dump completed' end marker")
    await expectEarlierBackupIntact()
  })

  it('a wrong password: exit 1 naming DB01_PASS, the password nowhere in the output', async () => {
    const wrong = `${NASTY_PASSWORD} but wrong`
    const { DB01_PASS_FILE: _unused, ...rest } = env
    const r = await runCli(['backup'], { ...rest, DB01_PASS: wrong })
    expect(r.exitCode, r.all).toBe(1)
    expect(r.all).toContain('Access denied')
    expect(r.all).toContain('DB01_USER / DB01_PASS or DB01_PASS_FILE')
    expect(r.all).not.toContain(wrong)
    expect(r.all).not.toContain(NASTY_PASSWORD)
    await expectEarlierBackupIntact()
  })

  it('a port nobody listens on: exit 1 naming DB01_HOST / DB01_PORT', async () => {
    const port = await freePort()
    const r = await runCli(['backup'], { ...env, DB01_PORT: String(port) })
    expect(r.exitCode, r.all).toBe(1)
    expect(r.all).toContain(`127.0.0.1:${port}`)
    expect(r.all).toContain('check DB01_HOST / DB01_PORT')
    await expectEarlierBackupIntact()
  })
})
