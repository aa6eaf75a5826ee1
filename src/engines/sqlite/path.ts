/**
 * A backup of an SQLite file belongs to that file. When DBnn_PATH changes (old.db → new.db under
 * the same label), the old file's backups stay listed under the source; restored in place they
 * would land on the new file. So a restore in place goes only onto the file the backup was taken
 * from, unless the operator says otherwise (`--force-path`, or `--to-file F`, which touches no
 * database). Pure: no I/O.
 */
import { basename, extname, resolve } from 'node:path'
import type { Manifest } from '../catalog/manifest.js'
import type { SourceConfig } from '../config/types.js'
import { DbkeeperError } from '../runtime/errors.js'

/**
 * Why backup `m` does not belong to the source's configured file, or undefined when it does.
 *
 * Manifests record the file's absolute path (`sqlite.path`). Older ones do not: then the database
 * name is compared, which for SQLite is DBnn_NAME or else the file's name without extension, the
 * name the backup was filed under. A rename of the file is caught that way; a move to another
 * directory keeping the name, or a DBnn_NAME kept across a change of path, is not (nothing in such
 * a manifest tells the two files apart).
 */
export function sqlitePathMismatch(m: Manifest, source: SourceConfig): string | undefined {
  const path = resolve(source.path!)
  if (m.sqlite !== undefined) {
    const from = resolve(m.sqlite.path)
    return from === path ? undefined : `backup ${m.id} was taken from ${from}, but ${source.id}_PATH is now ${path}`
  }
  const current = source.databases === 'ALL' ? undefined : source.databases[0]
  const name = current ?? basename(path, extname(path))
  if (m.database === name) return undefined
  return `backup ${m.id} was taken of SQLite database \`${m.database}\` (its manifest predates recording the file's path), but ${source.id}_PATH ${path} is database \`${name}\``
}

/** The refusal: names both files and the two ways forward; nothing has been touched. */
export function assertSqlitePath(m: Manifest, source: SourceConfig, forcePath: boolean): void {
  const mismatch = sqlitePathMismatch(m, source)
  if (mismatch === undefined || forcePath) return
  throw new DbkeeperError('USAGE', `${mismatch}: refused to restore it over another file; nothing was changed`, {
    hint: `to put it onto ${resolve(source.path!)} anyway, add --force-path; to get the file back elsewhere, use --to-file F (F must not exist)`,
  })
}
