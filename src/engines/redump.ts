/**
 * The drill's re-dump, the contract (each engine's is `engines/<kind>/redump.ts`): the restored
 * scratch target dumped again by the same engine with the same options as the backup, in a form
 * restore/drill.ts compares without knowing the engine:
 * - `lines`: both sides as SQL text, compared line by line (MySQL, PostgreSQL; a custom-format
 *   archive is binary and carries the database name and a timestamp, so both sides go through
 *   `pg_restore --file=-` first);
 * - `tables`: the differences the engine found itself (SQLite: schema and every table's content
 *   digest of the restored file and of a fresh snapshot of it).
 */
import type { Readable } from 'node:stream'
import type { SourceConfig } from '../config/types.js'
import type { DumpProcess } from './engine.js'
import type { BackupContent, BackupFacts } from './restore-driver.js'

export interface RedumpArgs {
  /** The server the scratch target is on (the drill server or the source's own). */
  source: SourceConfig
  backup: BackupFacts
  /** Opens the backup's decompressed content (the other side of the comparison), when the engine compares it. */
  openBackup: () => BackupContent
  /** The scratch database, or file (SQLite), the backup was restored into. */
  scratch: string
  workDir: string
  /** Aborted by the caller when the comparison is over: stops both sides. */
  signal: AbortSignal
}

export type Redumped =
  | { kind: 'lines'; backup: { stdout: Readable; done: Promise<unknown>; assertComplete(): void }; actual: DumpProcess }
  | { kind: 'tables'; compared: number; differences: string[] }

export type Redump = (args: RedumpArgs) => Promise<Redumped>
