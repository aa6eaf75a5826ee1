import type { Manifest } from '../../catalog/manifest.js'
import type { SourceConfig } from '../../config/types.js'
import { acquireLock } from '../../catalog/lock.js'
import { GLOBALS_DATABASE, restoreKind } from '../../engines/index.js'
import { formatBytes, formatDuration } from '../../pipeline/progress.js'
import { verifyBackup, verifyCiphertext, withoutKey } from '../../restore/content.js'
import { drillBackup } from '../../restore/drill.js'
import { sweepScratch } from '../../restore/scratch.js'
import { findBackup, findById, findLatestBackups, findSource, onVolume, type Located } from '../../restore/locate.js'
import { s3Backups } from '../../restore/remote.js'
import { DbkeeperError, toDbkeeperError } from '../../runtime/errors.js'
import type { Command, CommandContext } from '../command.js'
import { parseCommandArgs } from '../args.js'
import { IDENTITY_OPTION, withIdentity } from '../identity.js'

/** `verify --json` prints an array of these. Stable: scripts and monitors depend on it. */
export interface VerifyJson {
  id: string
  source: string
  database: string
  path: string
  /** The off-site copy it was fetched from first (it was not on the volume, or an older one was). */
  fetched?: string
  ok: boolean
  /** Encrypted and no key set: only the file's size and sha256 were checked, not its content. */
  ciphertextOnly?: true
  /** Present with --drill: absent for the _globals backup (never drilled). */
  drill?: { ok: boolean; scratch?: string; server?: string; compared?: number; durationMs?: number }
  error?: { code: string; message: string; hint?: string }
  /** Proven good, but something an operator should know (e.g. a restore of it loads on one connection). */
  warnings?: string[]
}

async function select(
  ctx: CommandContext,
  ref: string | undefined,
  source: SourceConfig | undefined,
  database: string | undefined,
): Promise<{ source: SourceConfig; found: Located }[]> {
  const config = ctx.config
  const opts = { remote: s3Backups(config, ctx), logger: ctx.logger }
  if (ref !== undefined && ref !== 'latest') {
    return [
      source
        ? { source, found: await findBackup(config, { source, ref, database }, opts) }
        : await findById(config, ref, database, opts),
    ]
  }
  const chosen = await findLatestBackups(config, { source, database }, opts)
  if (chosen.length === 0) {
    const where = `${source ? ` of ${source.label}` : ''}${database ? `/${database}` : ''}`
    throw new DbkeeperError(
      'NOT_FOUND',
      `there is no proven backup${where} in ${config.backupDir}${opts.remote ? ` or ${opts.remote.description}` : ''} to verify`,
      { hint: 'run `dbkeeper backup` first; `dbkeeper list` shows what there is' },
    )
  }
  return chosen
}

/**
 * One backup checked. One that is off-site only (or newer there) is fetched first — downloaded and
 * proven onto the volume, under the run lock: the one `--drill` holds already (`locked`), else taken
 * for the download only.
 */
async function check(
  ctx: CommandContext,
  source: SourceConfig,
  found: Located,
  opts: { drill: boolean; locked: boolean; wait: boolean | undefined },
): Promise<VerifyJson> {
  const m = found.manifest
  const drill = opts.drill && m.database !== GLOBALS_DATABASE
  const out: VerifyJson = {
    id: m.id,
    source: m.source,
    database: m.database,
    path: found.entry?.dataPath ?? found.remote?.url ?? '',
    ok: false,
  }
  try {
    if (found.remote && found.note) ctx.logger.info({ backup: m.id, from: found.remote.url }, found.note)
    const entry =
      found.entry ??
      (opts.locked
        ? await found.remote!.fetch()
        : await onVolume(ctx.config, found, { wait: opts.wait, signal: ctx.signal, logger: ctx.logger }))
    out.path = entry.dataPath
    if (!found.entry) out.fetched = found.remote!.url
    if (drill) {
      const r = await drillBackup({ config: ctx.config, source, entry, signal: ctx.signal, logger: ctx.logger })
      out.drill = {
        ok: true,
        scratch: r.scratch,
        ...(r.server ? { server: r.server } : {}),
        compared: r.compared,
        durationMs: r.durationMs,
      }
    } else if (withoutKey(m, ctx.config.decryption)) {
      await verifyCiphertext(source, entry, ctx.signal)
      out.ciphertextOnly = true
    } else {
      const proven = await verifyBackup(source, entry, ctx.config.backupDir, ctx.signal, ctx.config.decryption)
      if (proven.membersDoubted !== undefined) {
        out.warnings = [
          `its manifest's table of gzip members does not describe the file (${proven.membersDoubted}); the file itself is proven, but a restore loads it on one connection, without the parallel load`,
        ]
      }
    }
    out.ok = true
  } catch (error) {
    const e = toDbkeeperError(error)
    if (e.code === 'ABORTED' || e.code === 'LOCKED') throw e
    if (drill) out.drill = { ok: false }
    out.error = { code: e.code, message: e.message, ...(e.hint ? { hint: e.hint } : {}) }
  }
  return out
}

function describe(r: VerifyJson, m: Manifest): string {
  const where = `${r.source}/${r.database} ${r.id}`
  if (!r.ok) return `FAILED ${where}: ${r.error?.message ?? ''}${r.error?.hint ? `\n       → ${r.error.hint}` : ''}`
  const read = r.ciphertextOnly
    ? `${r.fetched ? `fetched from ${r.fetched}, ` : ''}encrypted, no key set: only the file's ${formatBytes(m.compressed.size)} checked (size, sha256); set AGE_IDENTITY_FILE or pass --identity to decrypt it`
    : `${r.fetched ? `fetched from ${r.fetched}, ` : ''}verified ${formatBytes(m.compressed.size)} → ${formatBytes(m.raw.size)} (sha256, end marker)`
  const warned = (r.warnings ?? []).map((w) => `\n       warning: ${w}`).join('')
  if (!r.drill)
    return `ok     ${where}: ${read}${r.database === GLOBALS_DATABASE ? '; roles are never drilled' : ''}${warned}`
  const unit = restoreKind(m.engine).onServer ? 'lines' : 'tables'
  return `ok     ${where}: ${read}; drill: restored into ${r.drill.scratch}${r.drill.server ? ` on ${r.drill.server} (DRILL_HOST)` : ''}, re-dumped, ${r.drill.compared} ${unit} identical (${formatDuration(r.drill.durationMs ?? 0)}), scratch dropped${warned}`
}

export const verifyCommand: Command = {
  name: 'verify',
  usage: `Usage: dbkeeper verify [ID|latest] [--source S] [--database D] [--drill] [--json] [--wait] [--identity FILE]

Without an ID (or with \`latest\`): the newest proven backup of every database of every source
(or of --source / --database). Each is read back in full: data file size and sha256 against
the manifest and its .sha256 file, decompressed to the end, content sha256, end-of-dump marker
(a PostgreSQL custom archive is also read through by pg_restore). With S3_BUCKET set, a
backup that is not on the volume — or, for \`latest\`, a newer one off-site — is fetched onto
the volume first (downloaded, checked against its manifest; a tampered object fails the check).

  --drill  also restore each into a scratch target (MySQL/PostgreSQL: a database
           dbkeeper_drill_<random> on the source's server — or on DRILL_HOST, see
           docs/CONFIGURATION.md — which the user must be allowed to create; SQLite: a
           temporary file), dump it again with the same engine and
           compare with the backup, ignoring comments: identical, or the drill fails. The
           scratch target is dropped afterwards, also on failure. Takes the volume lock.
  --json   an array of {id, source, database, path, fetched?, ok, drill?, error?};
           drill is {ok, scratch, server?, compared, durationMs} (server: DRILL_HOST:PORT)
  --wait   with --drill, or to fetch from S3: wait for a running backup instead of exiting 3
  --identity FILE  the age private key for encrypted backups (default: AGE_IDENTITY_FILE);
           without one only an encrypted file's size and sha256 are checked
           (ciphertextOnly in --json), and --drill fails for it

Exit codes: 0 all good, 1 a backup is damaged or a drill failed, 2 usage, 3 locked.`,
  needsConfig: true,
  usesVolume: true,
  async run(ctx) {
    const { values, positionals } = parseCommandArgs('verify', ctx.args, {
      source: { type: 'string' },
      database: { type: 'string' },
      drill: { type: 'boolean' },
      json: { type: 'boolean' },
      wait: { type: 'boolean' },
      ...IDENTITY_OPTION,
    })
    // --identity: this command's private key for encrypted backups, in place of AGE_IDENTITY_FILE.
    ctx = { ...ctx, config: withIdentity(ctx.config, values.identity) }
    if (positionals.length > 1)
      throw new DbkeeperError('USAGE', 'verify takes at most one backup ID', { hint: 'see dbkeeper verify --help' })
    const source = values.source === undefined ? undefined : findSource(ctx.config, values.source)
    const chosen = await select(ctx, positionals[0], source, values.database)
    const drill = values.drill === true
    // A drill creates databases and must not run beside a backup; a plain verify only reads (and
    // takes the lock only to fetch a backup from S3 onto the volume).
    const lock = drill
      ? await acquireLock(ctx.config.backupDir, {
          command: 'verify --drill',
          wait: values.wait,
          signal: ctx.signal,
          logger: ctx.logger,
        })
      : undefined
    const results: VerifyJson[] = []
    try {
      if (lock) await sweepScratch(ctx.config, ctx.logger, ctx.signal)
      for (const { source: s, found } of chosen) {
        const r = await check(ctx, s, found, { drill, locked: lock !== undefined, wait: values.wait })
        results.push(r)
        if (!values.json) ctx.print(describe(r, found.manifest))
      }
    } finally {
      await lock?.release()
    }
    if (values.json) ctx.print(JSON.stringify(results, null, 2))
    return results.every((r) => r.ok) ? 0 : 1
  },
}
