/**
 * A restore to a time (`dbkeeper restore --at T`): the database of a DBnn_PITR source as it was at
 * T, rolled forward by its engine's archive (engines/archive.ts; Litestream for SQLite) into a
 * temporary file, checked, then put back by the one restore flow (restore.ts: confirmation, safety
 * backup, load, exact row counts) — or written to a file (`--to-file`). A time outside the
 * archive's window, or in a gap of it, is refused before anything is touched, with the window.
 */
import { createHash } from 'node:crypto'
import { copyFile, constants, rm, stat } from 'node:fs/promises'
import { createReadStream } from 'node:fs'
import { dirname, join } from 'node:path'
import { PassThrough } from 'node:stream'
import { randomUUID } from 'node:crypto'
import { archiveDir, STATE_DIR } from '../catalog/naming.js'
import type { Config, SourceConfig } from '../config/types.js'
import {
  createArchive,
  describeLag,
  describeRanges,
  rangeOrRefuse,
  type ArchiveRange,
  type BackupContent,
  type Materialized,
} from '../engines/index.js'
import { restoreTempPath } from '../engines/restore-driver.js'
import { ensureDir } from '../runtime/durable.js'
import { checkToFilePath } from './to-file.js'
import { DbkeeperError, toDbkeeperError } from '../runtime/errors.js'
import { commitRename } from '../storage/local/files.js'
import { locateMysqlAt, mysqlPointInTimeItem, type MysqlPointInTime } from './at-time-mysql.js'
import type { RestoreItem } from './restore.js'

/** `--at … --to-file` of a MySQL/MariaDB source: it is rolled forward on the server, never into a file. */
export function toFileRefused(source: SourceConfig): DbkeeperError {
  return new DbkeeperError(
    'USAGE',
    `--to-file: a restore to a time of ${source.label} (MySQL/MariaDB) is rolled forward on the server, not written to a file`,
    {
      hint: `restore it into a new database beside the live one with --into NAME (dbkeeper restore --at … --source ${source.label} --into NAME)`,
    },
  )
}

/**
 * `--at`: ISO 8601 with a zone (`2026-12-04T10:15:30Z`, `…+01:00`), or without one, read in `tz`
 * (`2026-12-04 10:15:30`). Seconds optional, fractions allowed.
 */
export function parseAt(text: string, tz: string): Date {
  const m = /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?$/i.exec(text.trim())
  const bad = () =>
    new DbkeeperError('USAGE', `--at ${JSON.stringify(text)} is not a time`, {
      hint: `ISO 8601 such as 2026-12-04T10:15:30Z or 2026-12-04T11:15:30+01:00; without a zone it is read in TZ (${tz})`,
    })
  if (!m) throw bad()
  const [, y, mo, d, h, mi, sec = '00', frac = '', zone] = m
  const wall = `${y}-${mo}-${d}T${h}:${mi}:${sec}${frac}`
  if (zone) {
    const at = new Date(`${wall}${zone.toUpperCase() === 'Z' ? 'Z' : zone.replace(/^([+-]\d{2})(\d{2})$/, '$1:$2')}`)
    if (Number.isNaN(at.getTime())) throw bad()
    return at
  }
  // A wall-clock time in tz: find the instant whose local time in tz reads `wall`.
  const asUtc = new Date(`${wall}Z`)
  if (Number.isNaN(asUtc.getTime())) throw bad()
  const offset = (instant: Date) => {
    const parts = new Intl.DateTimeFormat('en-US', {
      timeZone: tz,
      hourCycle: 'h23',
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
    }).formatToParts(instant)
    const get = (t: string) => Number(parts.find((p) => p.type === t)!.value)
    const local = Date.UTC(get('year'), get('month') - 1, get('day'), get('hour'), get('minute'), get('second'))
    return local - Math.floor(instant.getTime() / 1000) * 1000
  }
  const first = new Date(asUtc.getTime() - offset(asUtc))
  return new Date(asUtc.getTime() - offset(first))
}

export interface PointInTime {
  source: SourceConfig
  database: string
  at: Date
  range: ArchiveRange
  dir: string
  /** What reads an encrypted archive (AGE_IDENTITY_FILE, `--identity`). */
  keys: Config['decryption'] | undefined
}

/** Where a restore to a time starts from: an archive's range (SQLite), or a base dump and its binlog (MySQL). */
export type PointInTimeOf = PointInTime | MysqlPointInTime

/** The archive's range holding `at`; refused (NOT_FOUND) naming the window when none does. */
export async function locateAt(
  config: Pick<Config, 'backupDir'> & Partial<Pick<Config, 'decryption'>>,
  source: SourceConfig,
  database: string | undefined,
  at: Date,
  now = new Date(),
): Promise<PointInTimeOf> {
  if (!source.pitr) {
    throw new DbkeeperError('USAGE', `${source.label} (${source.id}) is not archived for point-in-time recovery`, {
      hint: `set ${source.id}_PITR=true (docs/CONFIGURATION.md); until then restore a scheduled backup: dbkeeper list --source ${source.label}`,
    })
  }
  const names = source.databases === 'ALL' ? [] : source.databases
  const name = database ?? (names.length === 1 ? names[0] : undefined)
  // A MySQL source's binlog archive holds all its databases: with DBnn_NAME=ALL any one of them.
  const anyName = source.engine === 'mysql' && source.databases === 'ALL'
  if (name === undefined || (!anyName && !names.includes(name))) {
    throw new DbkeeperError(
      'USAGE',
      `--database: ${source.label} archives ${anyName ? 'all its databases' : names.join(', ') || 'no database'}`,
      {
        hint: `name one of them with --database`,
      },
    )
  }
  if (source.engine === 'mysql') return locateMysqlAt(config.backupDir, source, name, at, now, config.decryption)
  const dir = archiveDir(config.backupDir, source.label, name)
  const state = await (await createArchive(source, dir)).state(now)
  const window =
    state.ranges.length > 0
      ? `the archive of ${source.label}/${name} reaches ${describeRanges(state.ranges)} (${describeLag(state.lagMs)})`
      : `nothing of ${source.label}/${name} is archived yet in ${dir} (the daemon archives DBnn_PITR sources while it runs: is it running, and does its log show litestream?)`
  const range = rangeOrRefuse(state.ranges, at, now, window, source.label)
  return { source, database: name, at, range, dir, keys: config.decryption }
}

/** Rolls the archive forward to `at` into a new file in `workDir`, checked. */
async function materialize(
  p: PointInTime,
  workDir: string,
  signal: AbortSignal,
): Promise<{ file: string; m: Materialized }> {
  await ensureDir(workDir)
  const file = join(workDir, `at-${randomUUID().slice(0, 8)}.db`)
  const m = await (await createArchive(p.source, p.dir, p.keys)).materialize(p.at, p.range, file, workDir, signal)
  return { file, m }
}

/** The content of the materialized file, read once more with its sha256 compared at the end. */
async function fileContent(file: string): Promise<() => BackupContent> {
  const hash = createHash('sha256')
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer)
  const expected = hash.digest('hex')
  return () => {
    const seen = createHash('sha256')
    const stream = createReadStream(file).pipe(
      new PassThrough({
        transform(chunk: Buffer, _enc, cb) {
          seen.update(chunk)
          cb(null, chunk)
        },
      }),
    )
    return {
      stream,
      assertComplete() {
        if (seen.digest('hex') !== expected)
          throw new DbkeeperError('RESTORE_FAILED', `${file} changed while it was being restored`, {
            hint: 'run the restore again',
          })
      },
    }
  }
}

/** The state at a time as an item of the one restore flow (restore.ts restoreItem). */
export function pointInTimeItem(p: PointInTimeOf): RestoreItem {
  if ('plan' in p) return mysqlPointInTimeItem(p)
  const iso = `${p.at.toISOString().slice(0, 19)}Z`
  return {
    id: `${p.database}@${iso}`,
    engine: p.source.engine,
    database: p.database,
    facts: {
      id: `${p.database}@${iso}`,
      database: p.database,
      format: 'db',
      tool: { version: 'litestream', options: [] },
      ...(p.source.engine === 'sqlite' ? { sqlitePath: p.source.path } : {}),
    },
    describe: [
      `  state   ${p.source.label}/${p.database} as of ${p.at.toISOString()}, rolled forward from the point-in-time archive (${p.dir})`,
    ],
    async prove(workDir, print, signal) {
      print(`rolling the archive forward to ${p.at.toISOString()} …`)
      const { file, m } = await materialize(p, workDir, signal)
      print(`${m.tool}: ${m.tables.length} tables as of ${p.at.toISOString()}, integrity_check ok`)
      return { open: await fileContent(file), tables: m.tables }
    },
  }
}

/** `--at T --to-file F`: the database as of T written to F (never over a file), touching no database. */
export async function writeAtTimeToFile(
  config: Pick<Config, 'backupDir'>,
  p: PointInTimeOf,
  file: string,
  signal: AbortSignal,
): Promise<{ path: string; size: number; m: Materialized }> {
  if ('plan' in p) throw toFileRefused(p.source)
  const path = await checkToFilePath(file)
  const workDir = join(config.backupDir, STATE_DIR, 'tmp', `restore-at-${randomUUID().slice(0, 8)}`)
  try {
    const { file: made, m } = await materialize(p, workDir, signal)
    const tmp = restoreTempPath(path)
    await rm(tmp, { force: true })
    try {
      await copyFile(made, tmp, constants.COPYFILE_EXCL)
      await commitRename(tmp, path)
    } catch (error) {
      await rm(tmp, { force: true })
      // F's own file system, not the backup volume: that is where space or permission is missing.
      throw toDbkeeperError(error, `writing ${path}`, dirname(path))
    }
    return { path, size: (await stat(path)).size, m }
  } finally {
    await rm(workDir, { recursive: true, force: true })
  }
}
