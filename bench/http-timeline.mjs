/**
 * Preloaded (`node --import`) by bench/s3-timeline.ts into a dbkeeper run: every HTTP request the
 * S3 client makes, with the time it was started and the time its response ended (ms since epoch),
 * appended as JSON lines to $DBK_TIMELINE when the process exits. node:http is patched before the
 * SDK reads `request` from it (lazily, at its first request).
 */
import { appendFileSync } from 'node:fs'
import http from 'node:http'

const file = process.env.DBK_TIMELINE
const rows = [{ start: Date.now(), method: 'START', path: '' }]
const original = http.request
http.request = function request(...args) {
  const req = original.apply(this, args)
  const opts = typeof args[0] === 'object' && !(args[0] instanceof URL) ? args[0] : {}
  const headers = opts.headers ?? {}
  const row = {
    start: Date.now(),
    method: opts.method ?? 'GET',
    path: opts.path ?? '',
    copy: Boolean(headers['x-amz-copy-source']),
  }
  rows.push(row)
  req.on('response', (res) => {
    row.status = res.statusCode
    res.on('end', () => (row.end = Date.now()))
  })
  req.on('error', (e) => (row.error = e.message))
  return req
}
process.on('exit', () => {
  rows.push({ start: Date.now(), method: 'EXIT', path: '' })
  if (file) appendFileSync(file, rows.map((r) => `${JSON.stringify(r)}\n`).join(''))
})
