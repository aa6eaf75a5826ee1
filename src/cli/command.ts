import type { Config } from '../config/types.js'
import type { FileReads } from '../runtime/file-reads.js'
import type { Logger } from '../runtime/logger.js'

/**
 * One CLI command, one file in `src/cli/commands/`, loaded through the table in
 * `commands/index.ts` (which holds its one-line summary). `run` returns the exit code; it throws a
 * DbkeeperError for failures, which `main.ts` maps to an exit code in one place (errors.ts).
 */
export interface Command {
  readonly name: string
  /** The full `dbkeeper <name> --help` text. */
  readonly usage: string
  /** Whether the command needs a valid configuration (all but `help`). */
  readonly needsConfig: boolean
  /**
   * Whether the command reads or writes BACKUP_DIR: main.ts checks its path first (config/backup-dir.ts:
   * a missing parent is a typo, exit 2, before anything is read or created). `check` reports the
   * volume as one of its checks instead; `config` and `alert` never touch it.
   */
  readonly usesVolume: boolean
  /**
   * How main.ts's check of BACKUP_DIR reads it (runtime/file-reads.ts): fs/promises when unset.
   * `status` gives node:fs's synchronous calls, as it does for its own reads of the volume.
   */
  readonly volumeReads?: FileReads
  run(ctx: CommandContext): Promise<number>
}

export interface CommandContext {
  /** The arguments after the command name. */
  args: string[]
  /** Loaded and validated; undefined only when `needsConfig` is false. */
  config: Config
  logger: Logger
  /** Human or JSON output for the user: stdout, scrubbed of secrets. */
  print(text: string): void
  /** Whether stdout/stderr is a terminal (progress, confirmations). */
  isTTY: boolean
  /** Aborted on SIGINT/SIGTERM. */
  signal: AbortSignal
}
