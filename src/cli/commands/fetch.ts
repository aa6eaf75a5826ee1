import { acquireLock } from '../../catalog/lock.js'
import { formatBytes } from '../../pipeline/progress.js'
import { fetchBackup } from '../../pipeline/fetch.js'
import { withoutKey } from '../../restore/content.js'
import { DbkeeperError } from '../../runtime/errors.js'
import type { Command } from '../command.js'
import { parseCommandArgs } from '../args.js'

/** `fetch --json`: one object. Stable. */
export interface FetchJson {
  id: string
  source: string
  database: string
  path: string
  url: string
  size: number
  sha256: string
  alreadyLocal: boolean
}

export const fetchCommand: Command = {
  name: 'fetch',
  usage: `Usage: dbkeeper fetch ID|latest --source SOURCE [--database NAME] [--to FILE] [--json]

Downloads a backup from the off-site copy (S3_BUCKET), checks its size and sha256 against its
manifest, decompresses it to the end and checks the raw size and sha256, and only then puts it
on the volume next to the other backups, with its manifest (so that \`dbkeeper list\` shows it
as "both" and \`dbkeeper restore\` can use it). A damaged or tampered copy is refused (exit 1)
and nothing is written.

  ID|latest        a backup id as \`dbkeeper list\` shows it, or the newest off-site backup
  --source SOURCE  the source's label
  --database NAME  which database, for "latest" on a source with several
  --to FILE        write the proven backup to FILE instead of the volume (FILE must not exist)
  --json           print {id, source, database, path, url, size, sha256, alreadyLocal}

Exit codes: 0 fetched and proven (or already on the volume), 1 not found or damaged,
2 usage or configuration error (S3_BUCKET not set), 3 another run holds the lock.`,
  needsConfig: true,
  usesVolume: true,
  async run(ctx) {
    const { values, positionals } = parseCommandArgs('fetch', ctx.args, {
      source: { type: 'string' },
      database: { type: 'string' },
      to: { type: 'string' },
      json: { type: 'boolean' },
    })
    const id = positionals[0]
    if (positionals.length !== 1 || id === undefined)
      throw new DbkeeperError('USAGE', 'fetch takes one backup ID or "latest"', { hint: 'see dbkeeper fetch --help' })
    if (!values.source)
      throw new DbkeeperError('USAGE', 'fetch needs --source SOURCE', {
        hint: 'dbkeeper list shows the sources and ids',
      })
    if (!ctx.config.s3)
      throw new DbkeeperError('CONFIG', 'there is no off-site copy to fetch from: S3_BUCKET is not set', {
        hint: 'set S3_BUCKET and the other S3_* variables (docs/CONFIGURATION.md)',
      })
    // Into the volume: under the run lock, so a run's debris cleanup never sees a half-written file.
    const lock = values.to
      ? undefined
      : await acquireLock(ctx.config.backupDir, { command: 'fetch', signal: ctx.signal, logger: ctx.logger })
    try {
      const got = await fetchBackup({
        config: ctx.config,
        source: values.source,
        id,
        database: values.database,
        to: values.to,
        logger: ctx.logger,
        signal: ctx.signal,
      })
      const m = got.manifest
      if (values.json) {
        const out: FetchJson = {
          id: m.id,
          source: m.source,
          database: m.database,
          path: got.path,
          url: got.url,
          size: m.compressed.size,
          sha256: m.compressed.sha256,
          alreadyLocal: got.alreadyLocal,
        }
        ctx.print(JSON.stringify(out, null, 2))
      } else if (got.alreadyLocal) {
        ctx.print(`${m.id} is on the volume already: ${got.path} (nothing downloaded)`)
      } else {
        // Encrypted and no key here: only the ciphertext's sha256 was checked (pipeline/fetch.ts).
        const proof = withoutKey(m, ctx.config.decryption)
          ? 'encrypted: not decrypted here (no AGE_IDENTITY_FILE); the sha256 proves it is the file its backup verified'
          : `${m.encryption ? 'decrypted and ' : ''}decompressed to the end and checked (${formatBytes(m.raw.size)})`
        ctx.print(
          `fetched ${m.id} from ${got.url}\n  → ${got.path}\n  ${formatBytes(m.compressed.size)}, sha256 ${m.compressed.sha256}; ${proof}`,
        )
      }
      return 0
    } finally {
      await lock?.release()
    }
  },
}
