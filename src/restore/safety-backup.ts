/**
 * The safety backup a restore takes of its target first: a normal proven backup (dump, verify,
 * commit, manifest last) marked `pre-restore`, filed under the target's own directory. It is
 * listed by `dbkeeper list`, restorable by id like any backup, never counted or removed by normal
 * retention, and expires after SAFETY_KEEP_DAYS (safety-prune.ts).
 */
import type { Config, SourceConfig } from '../config/types.js'
import { engineForDatabase } from '../engines/index.js'
import { backupDatabase, type CommittedBackup } from '../pipeline/backup.js'
import { createCompression } from '../pipeline/compression.js'
import { createEncryption } from '../pipeline/encryption.js'
import { DbkeeperError, toDbkeeperError } from '../runtime/errors.js'

export interface SafetyBackupArgs {
  config: Config
  source: SourceConfig
  /** The database on the server (MySQL, PostgreSQL) whose current content is saved; ignored for SQLite (the source's file). */
  database: string
  workDir: string
  signal: AbortSignal
  progress?: boolean
}

export async function takeSafetyBackup(args: SafetyBackupArgs): Promise<CommittedBackup> {
  const { config, source, database, workDir, signal } = args
  try {
    const { engine, probe, database: name } = await engineForDatabase(source, database, workDir, signal)
    try {
      return await backupDatabase({
        backupDir: config.backupDir,
        source,
        engine,
        probe,
        database: name,
        compression: createCompression(config.compression.kind, config.compression.level),
        // Encrypted like every backup: it holds the same data.
        encryption: config.encryption ? createEncryption(config.encryption) : undefined,
        kind: 'pre-restore',
        signal,
        progress: args.progress,
      })
    } finally {
      await engine.close?.() // what the probe left for the dump, if the dump never came
    }
  } catch (error) {
    const e = toDbkeeperError(error)
    if (e.code === 'ABORTED') throw e
    throw new DbkeeperError(
      e.code,
      `the safety backup of the current ${database} failed, so nothing was restored: ${e.message}`,
      {
        hint: `${e.hint ? `${e.hint}; ` : ''}or, knowing that the current content is then lost, restore with --no-safety-backup`,
        cause: error,
      },
    )
  }
}
