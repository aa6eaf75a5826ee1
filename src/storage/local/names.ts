/**
 * Names the volume keeps for itself, pure: temporary files (`.<final name>….dbk-tmp`, written
 * before a rename into place), the state directory, and each source's continuous archive
 * (`<source>/.pitr/`, point-in-time recovery). One home for these facts: the catalog's naming
 * re-exports them, and the local target hides all three from every listing.
 */
export const TEMP_SUFFIX = '.dbk-tmp'
export const STATE_DIR = '.dbkeeper'
/**
 * `<source>/.pitr/`: the archivers' own files (a Litestream replica holds a WAL segment per second
 * of writes, 600 000 files a week). They are no backups: the listing never walks them. No database
 * directory can be named so (`enc()` writes `.` as `%2E`).
 */
export const ARCHIVE_DIR = '.pitr'

const TEMP_FILE_PATTERN = /^\..+\.dbk-tmp$/

export function isTempName(name: string): boolean {
  return TEMP_FILE_PATTERN.test(name)
}
