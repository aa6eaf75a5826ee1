/**
 * Names the volume keeps for itself, pure: temporary files (`.<final name>….dbk-tmp`, written
 * before a rename into place) and the state directory. One home for these facts: the catalog's
 * naming re-exports them, and the local target hides both from every listing.
 */
export const TEMP_SUFFIX = '.dbk-tmp'
export const STATE_DIR = '.dbkeeper'

const TEMP_FILE_PATTERN = /^\..+\.dbk-tmp$/

export function isTempName(name: string): boolean {
  return TEMP_FILE_PATTERN.test(name)
}
