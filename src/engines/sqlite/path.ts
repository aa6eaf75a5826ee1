/**
 * A backup of an SQLite file belongs to that file. When DBnn_PATH changes (old.db → new.db under
 * the same label), the old file's backups stay listed under the source; restored in place they
 * would land on the new file. So a restore in place goes only onto the file the backup was taken
 * from, unless the operator says otherwise (`--force-path`, or `--to-file F`, which touches no
 * database). Checked by the SQLite driver's `prepare`. Pure: no I/O.
 */
import { basename, extname, resolve } from 'node:path'
import type { SourceConfig } from '../../config/types.js'
import { DbkeeperError } from '../../runtime/errors.js'
import type { BackupFacts } from '../restore-driver.js'

/** The file the backup was taken from and DBnn_PATH, each with its symlinks resolved (`from`: when it could be). */
export interface RealPaths {
  from: string | undefined
  target: string
}

/**
 * Why backup `b` does not belong to the source's configured file, or undefined when it does.
 *
 * Manifests record the file's absolute path (`sqlite.path`). Older ones do not: then the database
 * name is compared, which for SQLite is DBnn_NAME or else the file's name without extension, the
 * name the backup was filed under. A rename of the file is caught that way; a move to another
 * directory keeping the name, or a DBnn_NAME kept across a change of path, is not (nothing in such
 * a manifest tells the two files apart).
 *
 * `real` holds both paths with their symlinks resolved (real-target.ts), read by the caller: a
 * backup taken through a symlink belongs to the file it points at, also when DBnn_PATH now names
 * that file directly (or another link to it).
 */
export function sqlitePathMismatch(b: BackupFacts, source: SourceConfig, real?: RealPaths): string | undefined {
  const path = resolve(source.path!)
  if (b.sqlitePath !== undefined) {
    const from = resolve(b.sqlitePath)
    if (from === path || (real?.from !== undefined && real.from === real.target)) return undefined
    return `backup ${b.id} was taken from ${from}, but ${source.id}_PATH is now ${path}`
  }
  const current = source.databases === 'ALL' ? undefined : source.databases[0]
  const name = current ?? basename(path, extname(path))
  if (b.database === name) return undefined
  return `backup ${b.id} was taken of SQLite database \`${b.database}\` (its manifest predates recording the file's path), but ${source.id}_PATH ${path} is database \`${name}\``
}

/**
 * The refusal: names both files and the two ways forward; nothing has been touched. With
 * `forcePath`, the line that says so for the operator.
 */
export function checkSqlitePath(b: BackupFacts, source: SourceConfig, forcePath: boolean, real?: RealPaths): string[] {
  const mismatch = sqlitePathMismatch(b, source, real)
  if (mismatch === undefined) return []
  if (forcePath) return [`${mismatch}: restoring onto it anyway (--force-path)`]
  throw new DbkeeperError('USAGE', `${mismatch}: refused to restore it over another file; nothing was changed`, {
    hint: `to put it onto ${resolve(source.path!)} anyway, add --force-path; to get the file back elsewhere, use --to-file F (F must not exist)`,
  })
}
