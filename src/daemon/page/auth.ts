/**
 * STATUS_AUTH on the status page and /api/*: a request is let in with `Authorization: Bearer
 * <token>`, or with basic auth — `user:password` as configured, or, for a token, any user name and
 * the token as the password, so that a browser's own login prompt works for both. Compared in
 * constant time (hashes of equal length), so the answer's timing says nothing about the secret.
 */
import { createHash, timingSafeEqual } from 'node:crypto'
import type { IncomingMessage } from 'node:http'
import type { StatusAuth } from '../../config/daemon.js'

/** What a 401 answer of the page carries: browsers show their login prompt for it. */
export const CHALLENGE = 'Basic realm="dbkeeper status", charset="UTF-8"'
/**
 * The API's 401 asks for the token: a Basic challenge there would make a browser's script (or a
 * headless browser) stop at a login prompt instead of seeing the 401.
 */
export const API_CHALLENGE = 'Bearer realm="dbkeeper status"'

export function authorized(req: IncomingMessage, auth: StatusAuth): boolean {
  const header = req.headers.authorization ?? ''
  const space = header.indexOf(' ')
  const scheme = header.slice(0, space).toLowerCase()
  const value = header.slice(space + 1).trim()
  if (space === -1 || value === '') return false
  if (scheme === 'bearer') return auth.kind === 'token' && same(value, auth.token.reveal())
  if (scheme !== 'basic') return false
  const decoded = Buffer.from(value, 'base64').toString('utf8')
  const colon = decoded.indexOf(':')
  if (colon === -1) return false
  const user = decoded.slice(0, colon)
  const password = decoded.slice(colon + 1)
  if (auth.kind === 'token') return same(password, auth.token.reveal())
  // Both compared, always: stopping at a wrong user would tell which half was wrong by the time.
  const userOk = same(user, auth.user)
  const passwordOk = same(password, auth.password.reveal())
  return userOk && passwordOk
}

function same(a: string, b: string): boolean {
  const ha = createHash('sha256').update(a).digest()
  const hb = createHash('sha256').update(b).digest()
  return timingSafeEqual(ha, hb)
}

/**
 * A POST from another site's page (a form that a logged-in browser would send with its cached
 * basic credentials) is refused: the browser names the page's origin, which must be this host.
 */
export function sameOrigin(req: IncomingMessage): boolean {
  if (req.headers['sec-fetch-site'] === 'cross-site') return false
  const origin = req.headers.origin
  if (origin === undefined || origin === 'null') return origin === undefined
  try {
    return new URL(origin).host === req.headers.host
  } catch {
    return false
  }
}
