import { GLOBALS_DATABASE, restoreKind } from '../../engines/index.js'
import { acquireLock } from '../../catalog/lock.js'
import { prepareBackupDir } from '../../config/backup-dir.js'
import { formatBytes } from '../../pipeline/progress.js'
import { askOnTerminal, requireConfirmable } from '../../restore/confirm.js'
import { assertSameEngine, verifyBackup } from '../../restore/content.js'
import { findBackup, findSource } from '../../restore/locate.js'
import { s3Backups } from '../../restore/remote.js'
import { restoreBackup, restoreItem, type RestoreRequest } from '../../restore/restore.js'
import { writeContentToFile } from '../../restore/to-file.js'
import { DbkeeperError } from '../../runtime/errors.js'
import { terminalSafe } from '../../runtime/printable.js'
import { scrubSecrets } from '../../runtime/secrets.js'
import type { SourceConfig } from '../../config/types.js'
import type { Command, CommandContext } from '../command.js'
import { locateAt, parseAt, pointInTimeItem, toFileRefused, writeAtTimeToFile } from '../../restore/at-time.js'
import { parseCommandArgs } from '../args.js'
import { IDENTITY_OPTION, withIdentity } from '../identity.js'

export const restoreCommand: Command = {
  name: 'restore',
  usage: `Usage: dbkeeper restore ID|latest --source S [--database D] [--into NAME] [--to-file F] [--identity FILE]
                        [--force-path] [--yes] [--no-safety-backup] [--if-missing] [--wait]
       dbkeeper restore --at TIME --source S [--database D] [--into NAME | --to-file F] [--yes] …

Restores a proven backup. Before anything is touched the backup is read back in full (sha256 of
the file and of its content, the end-of-dump marker); a damaged backup is refused. Then a safety
backup of the current content is taken (a normal backup marked pre-restore, listed by
\`dbkeeper list\`, kept SAFETY_KEEP_DAYS days), the backup is loaded, and the tables and row
counts are checked against the backup's manifest.

With S3_BUCKET set, a backup that is not on the volume is fetched from the off-site copy first
(downloaded, checked against its manifest, decompressed to the end, put on the volume), and
\`latest\` is the newest backup on the volume or off-site, whichever is newer. A tampered or
damaged object is refused before anything is touched.

  ID|latest           a backup id from \`dbkeeper list\`, or the newest proven backup (on
                      the volume or, with S3_BUCKET, off-site)
  --at TIME           restore to a time instead of a backup (a DBnn_PITR source): the
                      database as it was at TIME, rolled forward from its point-in-time
                      archive, checked (integrity_check), then restored like a backup.
                      MySQL/MariaDB: the newest proven backup before TIME, loaded beside
                      the target and rolled forward through the archived binlog before
                      it is checked and swapped in (--into NAME: a new database; no
                      --to-file). ISO 8601 with a zone (2026-12-04T10:15:30Z), or
                      without one, read in TZ. A time outside the window is refused.
  --source S          the source, by label or DBnn id
  --database D        which database of the source (needed when it has several)
  --into NAME         MySQL/PostgreSQL: restore into this database instead, created when
                      missing; refused when it exists and is not empty
  --identity FILE     the age private key of an encrypted backup (default: AGE_IDENTITY_FILE)
  --to-file F         write the decompressed dump (SQLite: the database file) to F and touch
                      no database; F must not exist
  --force-path        SQLite: restore onto DBnn_PATH even though the backup was taken from
                      another file (refused without it, naming both files)
  --yes               do not ask (required without a terminal)
  --no-safety-backup  skip the safety backup of the current content
  --if-missing        restore only when the target (SQLite file, database) does not exist;
                      otherwise exit 0 without doing anything (a container's start-up step)
  --wait              wait for a running backup instead of exiting 3

What "replace" means: MySQL/MariaDB: the database is dropped and recreated (same character
set), then the dump is replayed, stopping at the first failing statement (its line is named).
PostgreSQL: the dump is loaded into a new database in one transaction, which then takes the old
one's place. SQLite: the file is written beside the target, checked, and renamed over it (a
file that is a mount point of its own, like a single-file bind mount, is overwritten in place);
its old -wal/-shm/-journal are moved aside first and removed once it is replaced. A backup is
restored in place only onto the file it was taken from (see --force-path). Stop the application
first. See docs/RESTORE.md.

Exit codes: 0 restored (or nothing to do with --if-missing), 1 refused or failed (the message
says what state the target is in), 2 usage error or no confirmation, 3 locked.`,
  needsConfig: true,
  usesVolume: true,
  async run(ctx) {
    const { values, positionals } = parseCommandArgs('restore', ctx.args, {
      source: { type: 'string' },
      database: { type: 'string' },
      into: { type: 'string' },
      'to-file': { type: 'string' },
      'force-path': { type: 'boolean' },
      yes: { type: 'boolean' },
      'no-safety-backup': { type: 'boolean' },
      'if-missing': { type: 'boolean' },
      wait: { type: 'boolean' },
      ...IDENTITY_OPTION,
      at: { type: 'string' },
    })
    // --identity: this command's private key for an encrypted backup, in place of AGE_IDENTITY_FILE.
    ctx = { ...ctx, config: withIdentity(ctx.config, values.identity) }
    const [ref, ...extra] = positionals
    if (values.at !== undefined) {
      if (positionals.length > 0)
        throw new DbkeeperError('USAGE', '--at restores to a time: it takes no backup ID or `latest`', {
          hint: 'dbkeeper restore --at 2026-12-04T10:15:30Z --source S [--yes]',
        })
      return restoreAtTime(ctx, values as AtTimeValues & { at: string })
    }
    if (ref === undefined || extra.length > 0)
      throw new DbkeeperError('USAGE', 'restore takes exactly one backup: an ID or `latest`', {
        hint: 'see dbkeeper restore --help',
      })
    const source = findSource(ctx.config, values.source)
    const into = values.into
    const file = !restoreKind(source.engine).onServer
    if (into !== undefined && (file || into === '')) {
      throw new DbkeeperError(
        'USAGE',
        `--into is for MySQL/PostgreSQL databases${file ? `; ${source.label} is an SQLite source` : ''}`,
        { hint: 'for a copy of an SQLite database elsewhere use --to-file F' },
      )
    }
    const forcePath = values['force-path'] === true
    if (forcePath && (!file || values['to-file'] !== undefined)) {
      throw new DbkeeperError(
        'USAGE',
        !file
          ? `--force-path is for SQLite sources; ${source.label} is ${source.engine}`
          : '--force-path and --to-file exclude each other: --to-file writes only F',
        {
          hint: 'see dbkeeper restore --help',
        },
      )
    }
    const interactive = ctx.isTTY && Boolean(process.stdin.isTTY)
    const yes = values.yes === true
    if (values['to-file'] === undefined) requireConfirmable({ yes, interactive }, `restoring into ${source.label}`)

    // Steps go to stderr, so that stdout carries only the result line.
    const say = (line: string) => process.stderr.write(`${terminalSafe(scrubSecrets(line))}\n`)
    // Nothing is downloaded yet: an off-site backup is fetched under the restore's own lock.
    const backup = await findBackup(
      ctx.config,
      { source, ref, database: values.database },
      { remote: s3Backups(ctx.config, ctx), logger: ctx.logger },
    )
    if (backup.note) say(backup.note)
    const m = backup.manifest
    assertSameEngine(source, m)
    if (into !== undefined && m.database === GLOBALS_DATABASE) {
      throw new DbkeeperError(
        'USAGE',
        'the _globals backup (roles, tablespaces) belongs to the whole server: --into does not apply',
        { hint: 'restore it without --into' },
      )
    }
    await prepareBackupDir(ctx.config.backupDir)
    const lock = () =>
      acquireLock(ctx.config.backupDir, {
        command: `restore ${m.id}`,
        wait: values.wait,
        signal: ctx.signal,
        logger: ctx.logger,
      })

    if (values['to-file'] !== undefined) {
      const held = await lock()
      try {
        let entry = backup.entry
        if (!entry) {
          say(`fetching ${m.id} from ${backup.remote!.url} …`)
          entry = await backup.remote!.fetch()
        }
        say(`verifying ${m.id} …`)
        await verifyBackup(source, entry, ctx.config.backupDir, ctx.signal, ctx.config.decryption)
        const written = await writeContentToFile(entry, values['to-file'], ctx.signal, ctx.config.decryption)
        ctx.print(`wrote ${m.id} (${formatBytes(written.size)}, verified) to ${written.path}`)
      } finally {
        await held.release()
      }
      return 0
    }

    const outcome = await restoreBackup({
      ...restoreFlow(ctx, source, values, { yes, interactive, lock, say }),
      backup,
      into,
      forcePath,
    })
    if (outcome.status === 'restored') {
      ctx.print(
        `restored ${m.id} into ${outcome.target}${outcome.safety ? `; the previous content is in safety backup ${outcome.safety.id}` : ''}`,
      )
    }
    return 0
  },
}

interface AtTimeValues {
  at: string
  source?: string | undefined
  database?: string | undefined
  into?: string | undefined
  'to-file'?: string | undefined
  'force-path'?: boolean | undefined
  yes?: boolean | undefined
  'no-safety-backup'?: boolean | undefined
  'if-missing'?: boolean | undefined
  wait?: boolean | undefined
}

/** What a restore of a backup and a restore to a time share: the flags, the question, the lock, the output. */
function restoreFlow(
  ctx: CommandContext,
  source: SourceConfig,
  values: { 'no-safety-backup'?: boolean | undefined; 'if-missing'?: boolean | undefined },
  how: { yes: boolean; interactive: boolean; lock: RestoreRequest['lock']; say: (line: string) => void },
): Omit<RestoreRequest, 'backup' | 'into' | 'forcePath'> {
  return {
    config: ctx.config,
    source,
    safetyBackup: values['no-safety-backup'] !== true,
    ifMissing: values['if-missing'] === true,
    confirm: { yes: how.yes, interactive: how.interactive, ask: askOnTerminal },
    lock: how.lock,
    print: how.say,
    logger: ctx.logger,
    signal: ctx.signal,
    progress: how.interactive,
  }
}

/** `restore --at T`: the window is checked before the lock and the question; then the one restore flow. */
async function restoreAtTime(ctx: CommandContext, values: AtTimeValues): Promise<number> {
  const source = findSource(ctx.config, values.source)
  const at = parseAt(values.at, ctx.config.tz)
  const onServer = restoreKind(source.engine).onServer
  if (values.into !== undefined && (!onServer || values.into === ''))
    throw new DbkeeperError('USAGE', `--into: a restore to a time goes onto ${source.label}'s own file, or --to-file`, {
      hint: 'for a copy elsewhere use --to-file F',
    })
  if (values['to-file'] !== undefined && onServer) throw toFileRefused(source)
  const interactive = ctx.isTTY && Boolean(process.stdin.isTTY)
  const yes = values.yes === true
  if (values['to-file'] === undefined) requireConfirmable({ yes, interactive }, `restoring ${source.label} to a time`)
  const say = (line: string) => process.stderr.write(`${terminalSafe(scrubSecrets(line))}\n`)
  const point = await locateAt(ctx.config, source, values.database, at)
  await prepareBackupDir(ctx.config.backupDir)
  const lock = () =>
    acquireLock(ctx.config.backupDir, {
      command: `restore --at ${at.toISOString()}`,
      wait: values.wait,
      signal: ctx.signal,
      logger: ctx.logger,
    })
  if (values['to-file'] !== undefined) {
    const held = await lock()
    try {
      say(`rolling the archive forward to ${at.toISOString()} …`)
      const written = await writeAtTimeToFile(ctx.config, point, values['to-file'], ctx.signal)
      ctx.print(
        `wrote ${source.label}/${point.database} as of ${at.toISOString()} (${formatBytes(written.size)}, ${written.m.tables.length} tables, integrity_check ok) to ${written.path}`,
      )
    } finally {
      await held.release()
    }
    return 0
  }
  const outcome = await restoreItem({
    ...restoreFlow(ctx, source, values, { yes, interactive, lock, say }),
    item: pointInTimeItem(point),
    into: values.into,
    forcePath: values['force-path'] === true,
  })
  if (outcome.status === 'restored') {
    ctx.print(
      `restored ${source.label}/${point.database} as of ${at.toISOString()} into ${outcome.target}${outcome.safety ? `; the previous content is in safety backup ${outcome.safety.id}` : ''}`,
    )
  }
  return 0
}
