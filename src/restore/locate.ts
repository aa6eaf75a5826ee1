/**
 * Which backup a restore or a verify means: `latest` or an id (or data file name), within a
 * configured source and optionally one database — on the volume, or (S3_BUCKET set) off-site.
 *
 * The off-site side is the `RemoteBackups` seam (restore/remote.ts implements it for S3): its
 * proven backups are listed from their manifest objects, nothing downloaded, so that the choice is
 * made first and the download only when it is needed (and, for a restore, only after the target
 * was inspected and the operator confirmed). The rule:
 *
 * - an id: the volume's backup of that id; when the volume has none, the off-site one.
 * - `latest`: the newest proven backup of the database on the volume or off-site, whichever is
 *   newer (a volume restored from an old snapshot must not win over the newer off-site backups).
 *   When S3 cannot be listed, the volume's newest is used, with a warning. A backup stamped in
 *   the future (a clock that jumped, catalog/order.ts) is never `latest`: it is named in a
 *   warning, and can still be restored by its id.
 *
 * A backup chosen off-site is brought onto the volume by `located.remote.fetch()` — downloaded and
 * proven the way a backup is (size and sha256 against the manifest, decompressed to the end,
 * manifest last) — and is then an ordinary backup on the volume: verify, safety backup and restore
 * work unchanged. The fetch writes into the volume: the caller holds the run lock (`onVolume`
 * takes it for the length of the download).
 */
import { listBackups, type BackupEntry, type CatalogEntry } from '../catalog/catalog.js'
import { futureBackups, latestProvenBackups, mayBeNewest, newestProven } from '../catalog/latest.js'
import type { Manifest } from '../catalog/manifest.js'
import { futureWarning, isNewer } from '../catalog/order.js'
import type { Config, SourceConfig } from '../config/types.js'
import { acquireLock } from '../catalog/lock.js'
import { DbkeeperError, describeError, toDbkeeperError } from '../runtime/errors.js'
import type { Logger } from '../runtime/logger.js'

export interface BackupQuery {
  source: SourceConfig
  /** `latest`, a backup id (`shop_20260101T030000Z`) or its data file name. */
  ref: string
  database?: string | undefined
}

/** The off-site copy, as locating sees it (restore/remote.ts: S3). */
export interface RemoteBackups {
  /** For messages: `s3://bucket/prefix/`. */
  readonly description: string
  /** Every backup of the source (of one database) off-site, newest first; damaged ones carry `problem`. Downloads nothing. */
  list(source: string, database: string | undefined): Promise<BackupEntry[]>
  /** Its address, for messages: `s3://bucket/prefix/app/shop/shop_….sql.gz`. */
  url(entry: BackupEntry): string
  /** Downloads and proves the backup onto the volume; its local entry. THE CALLER HOLDS THE RUN LOCK. */
  fetch(entry: BackupEntry): Promise<CatalogEntry>
}

/** A backup found: on the volume (`entry`), or off-site only / newer off-site (`remote`). */
export interface Located {
  manifest: Manifest
  entry?: CatalogEntry
  remote?: {
    url: string
    /** Downloads and proves it onto the volume; the caller holds the run lock. */
    fetch(): Promise<CatalogEntry>
  }
  /** Which backup was chosen and where from, for the operator: set for `latest` and for an off-site backup. */
  note?: string
}

export interface LocateOptions {
  /** The off-site copy; undefined without S3_BUCKET. */
  remote?: RemoteBackups | undefined
  logger?: Logger | undefined
  /** The clock that decides what is "in the future"; default the current time. */
  now?: Date | undefined
}

/** A source by label or DBnn id; USAGE listing the configured ones otherwise. */
export function findSource(config: Config, name: string | undefined): SourceConfig {
  const known = config.sources.map((s) => `${s.label} (${s.id})`).join(', ') || 'none'
  if (name === undefined)
    throw new DbkeeperError('USAGE', '--source is required', {
      hint: `name the source by label or id; configured: ${known}`,
    })
  const source = config.sources.find((s) => s.label === name || s.id === name)
  if (!source) throw new DbkeeperError('USAGE', `unknown source "${name}"`, { hint: `configured sources: ${known}` })
  return source
}

/** Names the backups stamped in the future, once per lookup: they were passed over, and why. */
function warnFuture(entries: readonly { manifest: Manifest }[], now: Date, logger: Logger | undefined): void {
  const future = futureBackups(entries, now)
  if (future.length > 0)
    logger?.warn(
      { backups: future.map((e) => e.manifest.id) },
      futureWarning(
        future.map((e) => e.manifest),
        now,
      ),
    )
}

function fromRemote(remote: RemoteBackups, e: BackupEntry, note: string): Located {
  return { manifest: e.manifest, remote: { url: remote.url(e), fetch: () => remote.fetch(e) }, note }
}

function taken(m: Manifest): string {
  return `taken ${m.startedAt.slice(0, 19).replace('T', ' ')} UTC`
}

/** Finds the backup `query` means, on the volume or off-site; downloads nothing. */
export async function findBackup(config: Config, query: BackupQuery, opts: LocateOptions = {}): Promise<Located> {
  const { source, ref, database } = query
  const { remote, logger } = opts
  const now = opts.now ?? new Date()
  const entries = await listBackups(config.backupDir, { source: source.label, database })
  const where = `${source.label}${database === undefined ? '' : `/${database}`}`
  const places = `${config.backupDir}${remote ? ` or ${remote.description}` : ''}`
  const offsite = async (): Promise<BackupEntry[]> => (remote ? remote.list(source.label, database) : [])

  if (ref === 'latest') {
    let listed: BackupEntry[] = []
    let listError: DbkeeperError | undefined
    try {
      listed = await offsite()
    } catch (error) {
      listError = toDbkeeperError(error, `listing the off-site backups in ${remote?.description ?? ''}`)
    }
    const here = newestProven(entries, now)
    const there = newestProven(listed, now)
    const databases = [
      ...new Set([...entries, ...listed].filter((e) => mayBeNewest(e, now)).map((e) => e.manifest.database)),
    ].sort()
    if (database === undefined && databases.length > 1) {
      throw new DbkeeperError(
        'USAGE',
        `source ${source.label} has backups of ${databases.length} databases: ${databases.join(', ')}`,
        {
          hint: 'say which one with --database NAME',
        },
      )
    }
    warnFuture([...entries, ...listed], now, logger)
    const chosen = chooseLatest(here, there, { remote, logger, listError })
    if (chosen) return chosen
    if (listError) {
      throw new DbkeeperError(
        listError.code,
        `there is no proven backup of ${where} in ${config.backupDir}, and the off-site backups cannot be listed: ${listError.message}`,
        { hint: listError.hint ?? notFoundHint(source, remote), cause: listError },
      )
    }
    throw new DbkeeperError('NOT_FOUND', `there is no proven backup of ${where} in ${places}`, {
      hint: notFoundHint(source, remote),
    })
  }

  const matches = entries.filter((e) => e.manifest.id === ref || e.manifest.file === ref)
  if (matches.length > 1) {
    throw new DbkeeperError('USAGE', `${matches.length} backups of ${where} are called ${ref}`, {
      hint: 'add --database NAME',
    })
  }
  if (matches[0]) return { manifest: matches[0].manifest, entry: matches[0] }
  if (remote) {
    const hits = (await offsite()).filter((e) => e.manifest.id === ref || e.manifest.file === ref)
    if (hits.length > 1)
      throw new DbkeeperError('USAGE', `${hits.length} off-site backups of ${where} are called ${ref}`, {
        hint: 'add --database NAME',
      })
    const hit = hits[0]
    if (hit?.problem) {
      throw new DbkeeperError(
        'VERIFY_FAILED',
        `backup ${ref} is not on the volume, and its off-site copy ${remote.url(hit)} is damaged: ${hit.problem}`,
        {
          hint: `do not restore from it; \`dbkeeper list ${source.label}\` shows the other backups`,
        },
      )
    }
    if (hit) {
      return fromRemote(
        remote,
        hit,
        `${hit.manifest.id} is not on the volume: using the off-site copy ${remote.url(hit)}`,
      )
    }
  }
  throw new DbkeeperError('NOT_FOUND', `there is no backup ${ref} of ${where} in ${places}`, {
    hint: notFoundHint(source, remote),
  })
}

/**
 * Brings a located backup onto the volume when it is off-site, under the run lock for the length
 * of the download only (LOCKED, or with `wait` waiting, while a run holds it). The caller must
 * not hold the lock itself: the lock is not re-entrant.
 */
export async function onVolume(
  config: Config,
  found: Located,
  lock: { wait?: boolean | undefined; signal?: AbortSignal; logger?: Logger },
): Promise<CatalogEntry> {
  if (found.entry) return found.entry
  const held = await acquireLock(config.backupDir, {
    command: `fetch ${found.manifest.id}`,
    wait: lock.wait,
    signal: lock.signal,
    logger: lock.logger,
  })
  try {
    return await found.remote!.fetch()
  } finally {
    await held.release()
  }
}

/** A backup on the volume; one off-site is fetched first (`onVolume`). */
export async function locateBackup(
  config: Config,
  query: BackupQuery,
  opts: LocateOptions & { wait?: boolean | undefined; signal?: AbortSignal } = {},
): Promise<CatalogEntry> {
  return onVolume(config, await findBackup(config, query, opts), {
    wait: opts.wait,
    signal: opts.signal,
    logger: opts.logger,
  })
}

function notFoundHint(source: SourceConfig, remote: RemoteBackups | undefined): string {
  return remote
    ? `\`dbkeeper list ${source.label}\` shows the backups on the volume and off-site`
    : `\`dbkeeper list ${source.label}\` shows the backups on the volume; with S3_BUCKET set, restore and verify also look in the off-site copy (docs/RESTORE.md, "The volume is gone")`
}

/**
 * The newer of the volume's newest proven backup of one database (`here`) and the off-site one
 * (`there`); the volume's when both are the same backup. Logs which one and where from.
 */
function chooseLatest(
  here: CatalogEntry | undefined,
  there: BackupEntry | undefined,
  opts: LocateOptions & { listError?: DbkeeperError | undefined },
): Located | undefined {
  const { remote, logger, listError } = opts
  const any = here?.manifest ?? there?.manifest
  if (!any) return undefined
  const name = `${any.source}/${any.database}`
  if (remote && there && (!here || isNewer(there.manifest, here.manifest))) {
    const m = there.manifest
    const note = here
      ? `the off-site copy has a newer backup of ${name} than the volume: ${m.id} (${taken(m)}); the volume's newest is ${here.manifest.id} (${taken(here.manifest)}); using ${m.id} from ${remote.url(there)}`
      : `the newest backup of ${name} is ${m.id} (${taken(m)}), off-site only: using it from ${remote.url(there)}`
    return fromRemote(remote, there, note)
  }
  const m = here!.manifest
  if (listError)
    logger?.warn(
      { backup: m.id, code: listError.code },
      `cannot look for newer off-site backups of ${name}: ${describeError(listError)}; using the newest on the volume, ${m.id}`,
    )
  return {
    manifest: m,
    entry: here!,
    note: `the newest backup of ${name} is ${m.id} (${taken(m)}), on the volume${remote && !listError ? '; none newer off-site' : ''}`,
  }
}

/**
 * The backups `dbkeeper verify` checks when no id is given: the newest proven backup of every
 * database of the configured sources (or of the one named), on the volume only. The daemon's
 * drills use this: they prove what is on the volume and never download.
 */
export async function latestBackups(
  config: Config,
  filter: { source?: SourceConfig | undefined; database?: string | undefined },
  opts: Pick<LocateOptions, 'logger' | 'now'> = {},
): Promise<CatalogEntry[]> {
  const sources = filter.source ? [filter.source] : config.sources
  const now = opts.now ?? new Date()
  const out: CatalogEntry[] = []
  for (const source of sources) {
    const entries = await listBackups(config.backupDir, { source: source.label, database: filter.database })
    warnFuture(entries, now, opts.logger)
    out.push(
      ...[...latestProvenBackups(entries, now).values()].sort((a, b) =>
        a.manifest.database.localeCompare(b.manifest.database),
      ),
    )
  }
  return out
}

/**
 * `latestBackups` with the off-site copy: per database of the volume or off-site, the newer of the
 * two newest (the rule of `latest`). When a source's off-site backups cannot be listed, its
 * volume's are used, with a warning.
 */
export async function findLatestBackups(
  config: Config,
  filter: { source?: SourceConfig | undefined; database?: string | undefined },
  opts: LocateOptions = {},
): Promise<{ source: SourceConfig; found: Located }[]> {
  const sources = filter.source ? [filter.source] : config.sources
  const out: { source: SourceConfig; found: Located }[] = []
  const now = opts.now ?? new Date()
  for (const source of sources) {
    const entries = await listBackups(config.backupDir, { source: source.label, database: filter.database })
    const local = latestProvenBackups(entries, now)
    const offsite = new Map<string, BackupEntry>()
    let listError: DbkeeperError | undefined
    try {
      const listed = opts.remote ? await opts.remote.list(source.label, filter.database) : []
      for (const e of listed) {
        const seen = offsite.get(e.manifest.database)
        if (mayBeNewest(e, now) && (!seen || isNewer(e.manifest, seen.manifest))) offsite.set(e.manifest.database, e)
      }
      warnFuture([...entries, ...listed], now, opts.logger)
    } catch (error) {
      listError = toDbkeeperError(error, `listing the off-site backups in ${opts.remote?.description ?? ''}`)
      if (local.size === 0)
        opts.logger?.warn(
          { source: source.label, code: listError.code },
          `cannot list the off-site backups of ${source.label}: ${describeError(listError)}`,
        )
    }
    const databases = [...new Set([...[...local.values()].map((e) => e.manifest.database), ...offsite.keys()])].sort()
    for (const database of databases) {
      const found = chooseLatest(local.get(`${source.label}/${database}`), offsite.get(database), {
        ...opts,
        listError,
      })
      if (found) out.push({ source, found })
    }
  }
  return out
}

/** A backup by id across every configured source (verify without --source): on the volume, else off-site. */
export async function findById(
  config: Config,
  ref: string,
  database?: string,
  opts: LocateOptions = {},
): Promise<{ source: SourceConfig; found: Located }> {
  const hits: { source: SourceConfig; found: Located }[] = []
  for (const source of config.sources) {
    const entries = await listBackups(config.backupDir, { source: source.label, database })
    for (const entry of entries)
      if (entry.manifest.id === ref || entry.manifest.file === ref)
        hits.push({ source, found: { manifest: entry.manifest, entry } })
  }
  if (hits.length === 0 && opts.remote) {
    for (const source of config.sources) {
      try {
        hits.push({ source, found: await findBackup(config, { source, ref, database }, opts) })
      } catch (error) {
        if (toDbkeeperError(error).code !== 'NOT_FOUND') throw error
      }
    }
  }
  if (hits.length === 1) return hits[0]!
  if (hits.length > 1) {
    throw new DbkeeperError(
      'USAGE',
      `backup ${ref} exists in ${hits.length} sources: ${hits.map((h) => h.source.label).join(', ')}`,
      { hint: 'add --source LABEL' },
    )
  }
  throw new DbkeeperError(
    'NOT_FOUND',
    `there is no backup ${ref} of a configured source in ${config.backupDir}${opts.remote ? ` or ${opts.remote.description}` : ''}`,
    {
      hint: `\`dbkeeper list\` shows the backups on the volume${opts.remote ? ' and off-site' : ''}`,
    },
  )
}
