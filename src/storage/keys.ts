/**
 * The key rules every Target enforces, so that a key means the same file on the volume and the
 * same object in a bucket: a relative path of `/`-separated names, none empty, `.` or `..`, no NUL,
 * no backslash. A key built from a damaged or hostile manifest (`../../etc/x`) is refused before
 * any call reaches the file system or the network.
 */
import { StorageError } from './target.js'

const HINT = 'keys are relative paths of `/`-separated names, as `<source>/<database>/<file>`'

export function refuseKey(key: string, why: string, what = 'key'): never {
  throw new StorageError('USAGE', `refused ${what} ${JSON.stringify(key)}: ${why}`, { retryable: false, hint: HINT })
}

/** Throws StorageError (USAGE, not retryable) for a key that is not a plain relative path. */
export function checkKey(key: string, what = 'key'): void {
  if (typeof key !== 'string' || key === '') refuseKey(String(key), 'it is empty', what)
  if (key.includes('\0')) refuseKey(key, 'it contains a NUL byte', what)
  if (key.includes('\\')) refuseKey(key, 'it contains a backslash', what)
  if (key.startsWith('/')) refuseKey(key, 'it is absolute', what)
  for (const segment of key.split('/')) {
    if (segment === '') refuseKey(key, 'it has an empty segment', what)
    if (segment === '.' || segment === '..') refuseKey(key, `it has a "${segment}" segment`, what)
  }
}

/** A list prefix: empty, or a key, or a key followed by `/`. */
export function checkPrefix(prefix: string): void {
  if (prefix === '') return
  checkKey(prefix.endsWith('/') ? prefix.slice(0, -1) : prefix, 'prefix')
}

/** Key order as AWS S3 lists it: by the bytes of the UTF-8 encoding (`a-b` before `a/`). */
export function byKey(a: { key: string }, b: { key: string }): number {
  return Buffer.compare(Buffer.from(a.key), Buffer.from(b.key))
}
