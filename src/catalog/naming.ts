/**
 * File names on the volume, pure. A backup of database D of source S taken at T (UTC) is
 *   <dir>/<S>/<enc(D)>/<enc(D)>_<yyyymmddThhmmssZ>.<sql|db|dump>[.gz|.zst][.age]
 * (the compression and encryption extensions are those of the codec table, config/codecs.ts),
 * with its commit marker `<data>.manifest.json` and `<data>.sha256` (for `sha256sum -c`).
 * Temporary files are `.<final name>.dbk-tmp`: the only names a run creates before a backup is proven.
 */
import { join } from 'node:path'
import { CODECS, COMPRESSION_KINDS, ENCRYPTION_KINDS } from '../config/codecs.js'
import { ARCHIVE_DIR, TEMP_SUFFIX } from '../storage/local/names.js'

export const MANIFEST_SUFFIX = '.manifest.json'
export const CHECKSUM_SUFFIX = '.sha256'

/** The `.sha256` sidecar's content, in `sha256sum -c` format: plain tools can check a backup. */
export function checksumLine(sha256: string, file: string): string {
  return `${sha256}  ${file}\n`
}

export { ARCHIVE_DIR, STATE_DIR, TEMP_SUFFIX, isTempName } from '../storage/local/names.js'

const escapeRegExp = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
/** `\.gz|\.zst`: the extension of every compression that has one. */
const COMPRESSION_EXTS = COMPRESSION_KINDS.map((k) => CODECS[k].ext)
  .filter((ext) => ext !== '')
  .map(escapeRegExp)
  .join('|')
/** `\.age`: the extension of every encryption. */
const ENCRYPTION_EXTS = ENCRYPTION_KINDS.map((k) => escapeRegExp(CODECS[k].ext)).join('|')
export const DATA_FILE_PATTERN = new RegExp(
  `^(.+)_(\\d{8}T\\d{6}Z)\\.(sql|db|dump)(${COMPRESSION_EXTS})?(${ENCRYPTION_EXTS})?$`,
)

/**
 * The longest encoded name written as it is. Up to here names were always written in full, and
 * the longest file a backup makes, the manifest's temporary file
 * `.<enc>_<stamp>.dump.zst.manifest.json.dbk-tmp`, is `<enc>` + 49 bytes: 200 + 49 + a future
 * `.age` (4) = 253 fits NAME_MAX (255). Keeping every name of up to 200 bytes as it was keeps the
 * backups taken before long names were shortened where listing, restore and retention look.
 */
export const MAX_PLAIN_ENCODED = 200
/** The kept start of a shortened name: with `~` and the hash, 117 bytes, so its longest file is 170. */
const SHORT_PREFIX_BYTES = 100
/** 64 bits of sha256 of the full name: collisions between two database names are out of reach. */
const HASH_HEX = 16

function percentEncode(name: string): string {
  let out = ''
  for (const byte of Buffer.from(name, 'utf8')) {
    const c = String.fromCharCode(byte)
    out += /[A-Za-z0-9_-]/.test(c) ? c : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`
  }
  return out
}

/**
 * A database name as a single safe path segment: letters, digits, `_` and `-` stay, every other
 * byte becomes `%XX` (so `.`, `/`, spaces, quotes and non-ASCII can never escape the directory).
 *
 * An encoding longer than MAX_PLAIN_ENCODED (a 61-character Cyrillic name is 366 bytes) would
 * break NAME_MAX (ENAMETOOLONG) once the time stamp and suffixes are added. It is shortened to its
 * first whole characters (at most SHORT_PREFIX_BYTES encoded), `~`, and a hash of the full name: stable, and
 * still recognisable in `ls`. `~` never occurs in a full encoding, so a shortened name never equals
 * a full one; the real name is in every manifest, which is what listing, restore and retention read.
 * Injective (up to a 64-bit hash collision), so two databases never share a directory.
 */
export function encodeName(name: string): string {
  const full = percentEncode(name)
  if (full.length <= MAX_PLAIN_ENCODED) return full
  // Whole characters only: the start decodes to readable text, never half a `%XX` or a UTF-8 sequence.
  let start = ''
  for (const char of name) {
    const enc = percentEncode(char)
    if (start.length + enc.length > SHORT_PREFIX_BYTES) break
    start += enc
  }
  // node:crypto loaded here, not at import: `dbkeeper status` (the HEALTHCHECK) imports this module
  // and never hashes; loading crypto cost ~8% of its start-up (docs/PERFORMANCE.md, "Start-up").
  const hash = process
    .getBuiltinModule('node:crypto')
    .createHash('sha256')
    .update(name, 'utf8')
    .digest('hex')
    .slice(0, HASH_HEX)
  return `${start}~${hash}`
}

/** Whether `encoded` is a shortened name (`decodeName` cannot give the real name back then). */
export function isShortenedName(encoded: string): boolean {
  return encoded.includes('~')
}

/** The name `encoded` stands for; for a shortened name only its start (read the manifest for the rest). */
export function decodeName(encoded: string): string {
  return Buffer.from(
    encoded.replace(/%([0-9A-F]{2})/g, (_, h: string) => String.fromCharCode(parseInt(h, 16))),
    'latin1',
  ).toString('utf8')
}

/** 2026-11-22T03:04:05.678Z → 20261122T030405Z */
export function formatStamp(date: Date): string {
  return date
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}/, '')
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

/**
 * The continuous archive of one database (point-in-time recovery): `<dir>/<S>/.pitr/<enc(D)>/`,
 * owned by the engine's archiver (a Litestream replica for SQLite), its configuration beside it.
 */
export function archiveDir(backupDir: string, source: string, database: string): string {
  return join(backupDir, source, ARCHIVE_DIR, encodeName(database))
}

export function tempName(finalName: string): string {
  return `.${finalName}${TEMP_SUFFIX}`
}

export function parseDataFileName(
  name: string,
): { id: string; stamp: string; contentExt: string; compressionExt: string; encryptionExt: string } | undefined {
  const m = DATA_FILE_PATTERN.exec(name)
  if (!m) return undefined
  return {
    id: `${m[1]}_${m[2]}`,
    stamp: m[2]!,
    contentExt: m[3]!,
    compressionExt: m[4] ?? '',
    encryptionExt: m[5] ?? '',
  }
}

/**
 * The binlog archive of a MySQL/MariaDB source (point-in-time recovery): `<dir>/<S>/.pitr/.binlog/`.
 * One per source, not per database: the server writes one binlog for all of them. A leading dot
 * can never be an encoded database name (`enc()` writes `.` as `%2E`), so it never meets a
 * database's archiveDir.
 */
export function binlogArchiveDir(backupDir: string, source: string): string {
  return join(backupDir, source, ARCHIVE_DIR, '.binlog')
}
