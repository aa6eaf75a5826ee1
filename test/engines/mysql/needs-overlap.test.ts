/**
 * The restore needs are asked while the read-back finishes (pipeline/backup.ts): a read-back that
 * fails meanwhile still fails the backup, loudly, leaves nothing on the volume, and stops the
 * question instead of waiting for it. The engine is the real MysqlEngine on the private MariaDB;
 * only its read-back verdict and the pace of its question are taken in hand.
 */
import { readdir } from 'node:fs/promises'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { databaseDir } from '../../../src/catalog/naming.js'
import type { DumpObservation, Engine } from '../../../src/engines/engine.js'
import { MysqlEngine } from '../../../src/engines/mysql/engine.js'
import { backupDatabase } from '../../../src/pipeline/backup.js'
import { createCompression } from '../../../src/pipeline/compression.js'
import { createDatabase, mysqlSource, privateDir, removeDir, sql } from './helpers.js'

/** Longer than the test waits: a question that is waited for instead of stopped fails it. */
const QUESTION_MS = 20_000

describe('restore needs asked while the backup is read back', () => {
  let db: string
  let workDir: string
  let backupDir: string
  beforeAll(async () => {
    db = await createDatabase()
    workDir = await privateDir()
    backupDir = await privateDir()
  })
  afterAll(async () => {
    await sql(`DROP DATABASE IF EXISTS \`${db}\``)
    await removeDir(workDir)
    await removeDir(backupDir)
  })

  it('a read-back that fails during the question fails the backup, commits nothing and stops the question', async () => {
    const source = mysqlSource({ databases: [db] })
    const real = new MysqlEngine(source, workDir)
    let checks = 0
    let stopped = false
    // The first content check is the dump's (backup.ts), the second the read-back's (verify.ts).
    const engine: Engine = {
      kind: real.kind,
      contentExt: real.contentExt,
      measuresStatements: real.measuresStatements,
      probe: (signal) => real.probe(signal),
      dump: (database, signal) => real.dump(database, signal),
      checkContent: (head: Buffer, tail: Buffer) =>
        ++checks === 1 ? real.checkContent(head, tail) : 'the read-back found no end marker (test)',
      restoreNeeds: async (database: string, observed: DumpObservation, signal: AbortSignal) => {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, QUESTION_MS)
          signal.addEventListener('abort', () => (clearTimeout(timer), (stopped = true), resolve()), { once: true })
        })
        return real.restoreNeeds(database, observed, signal)
      },
    }
    const probe = await engine.probe(new AbortController().signal)
    const started = Date.now()
    const failed = await backupDatabase({
      backupDir,
      source,
      engine,
      probe,
      database: db,
      compression: createCompression('gzip', 1),
      signal: new AbortController().signal,
    }).catch((e: unknown) => e)
    expect(failed).toMatchObject({ message: expect.stringContaining('the read-back found no end marker (test)') })
    expect(checks).toBe(2)
    expect(stopped).toBe(true)
    expect(Date.now() - started).toBeLessThan(QUESTION_MS / 2)
    expect(await readdir(databaseDir(backupDir, source.label, db))).toEqual([])
  }, 30_000)
})
