/**
 * File names on the volume, pure. A backup of database D of source S taken at T (UTC) is
 *   <dir>/<S>/<enc(D)>/<enc(D)>_<yyyymmddThhmmssZ>.<sql|db|dump>[.gz|.zst]
 * with its commit marker `<data>.manifest.json` and `<data>.sha256` (for `sha256sum -c`).
 * Temporary files are `.<final name>.dbk-tmp`: the only names a run creates before a backup is proven.
 */
import { join } from 'node:path'

export const MANIFEST_SUFFIX = '.manifest.json'
export const CHECKSUM_SUFFIX = '.sha256'
export const TEMP_SUFFIX = '.dbk-tmp'
export const STATE_DIR = '.dbkeeper'

export const DATA_FILE_PATTERN = /^(.+)_(\d{8}T\d{6}Z)\.(sql|db|dump)(\.gz|\.zst)?$/
const TEMP_FILE_PATTERN = /^\..+\.dbk-tmp$/

/**
 * A database name as a single safe path segment: letters, digits, `_` and `-` stay, every other
 * byte becomes `%XX` (so `.`, `/`, spaces, quotes and non-ASCII can never escape the directory).
 * Injective, so two databases never share a directory.
 */
export function encodeName(name: string): string {
  let out = ''
  for (const byte of Buffer.from(name, 'utf8')) {
    const c = String.fromCharCode(byte)
    out += /[A-Za-z0-9_-]/.test(c) ? c : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`
  }
  return out
}

export function decodeName(encoded: string): string {
  return Buffer.from(encoded.replace(/%([0-9A-F]{2})/g, (_, h: string) => String.fromCharCode(parseInt(h, 16))), 'latin1').toString('utf8')
}

/** 2026-11-22T03:04:05.678Z → 20261122T030405Z */
export function formatStamp(date: Date): string {
  return date.toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '')
}

export function parseStamp(stamp: string): Date {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(stamp)
  if (!m) throw new Error(`not a backup timestamp: ${stamp}`)
  return new Date(`${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${m[6]}Z`)
}

export function backupId(database: string, at: Date): string {
  return `${encodeName(database)}_${formatStamp(at)}`
}

export function dataFileName(database: string, at: Date, contentExt: string, compressionExt: string): string {
  return `${backupId(database, at)}.${contentExt}${compressionExt}`
}

export function databaseDir(backupDir: string, source: string, database: string): string {
  return join(backupDir, source, encodeName(database))
}

export function tempName(finalName: string): string {
  return `.${finalName}${TEMP_SUFFIX}`
}

export function isTempName(name: string): boolean {
  return TEMP_FILE_PATTERN.test(name)
}

export function parseDataFileName(name: string): { id: string; stamp: string; contentExt: string; compressionExt: string } | undefined {
  const m = DATA_FILE_PATTERN.exec(name)
  if (!m) return undefined
  return { id: `${m[1]}_${m[2]}`, stamp: m[2]!, contentExt: m[3]!, compressionExt: m[4] ?? '' }
}
