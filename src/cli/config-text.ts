/**
 * The human `dbkeeper config`: drawn from the very object `config --json` prints (the Config as
 * JSON, secrets already `***` by Secret.toJSON), walked whole, so that the two cannot drift: a
 * field added to the Config shows up here without a line written for it.
 */
import { formatDuration } from '../runtime/duration.js'

type Json = string | number | boolean | null | Json[] | { [key: string]: Json }

/** Group titles of the top-level keys; the key follows in brackets where the title differs. */
const TITLES: Readonly<Record<string, string>> = {
  backupDir: 'backup directory',
  tz: 'time zone',
  compression: 'compression',
  encryption: 'encryption',
  decryption: 'decryption keys',
  log: 'log',
  retention: 'retention',
  sources: 'sources',
  daemon: 'schedule and health',
  notify: 'alerts',
  restore: 'restore and drills',
  s3: 'S3 off-site copy',
  s3Targets: 'every off-site target, in the order recovery reads them (S3_*, S3_2_*, …)',
  pitr: 'point-in-time recovery',
}

/** Optional groups the JSON leaves out when off: said so here rather than left to guess. */
const WHEN_ABSENT: Readonly<Record<string, string>> = {
  s3: 'off (S3_BUCKET is not set)',
  encryption: 'off (ENCRYPTION is not set)',
}

/** `healthMaxAgeMs` → `health max age`, `sseKmsKeyId` → `sse kms key id`. */
function words(key: string): string {
  return key
    .replace(/Ms$/, '')
    .replace(/([a-z0-9])([A-Z])/g, '$1 $2')
    .toLowerCase()
}

function title(key: string): string {
  const t = TITLES[key] ?? words(key)
  return t === key ? t : `${t} (${key})`
}

function scalar(key: string, value: Json): string {
  if (typeof value === 'number' && key.endsWith('Ms')) return formatDuration(value)
  if (Array.isArray(value)) return value.length === 0 ? '(none)' : value.map((v) => scalar('', v)).join(', ')
  if (value === null) return '(none)'
  return typeof value === 'object' ? JSON.stringify(value) : String(value)
}

const isObject = (v: Json): v is { [key: string]: Json } => typeof v === 'object' && v !== null && !Array.isArray(v)
const isFlat = (v: Json) => !isObject(v) && !(Array.isArray(v) && v.some((x) => isObject(x)))

/** A source: `engine` is the code's kind (`mysql` for `mariadb`); the operator reads `type`. */
function fieldsOf(item: { [key: string]: Json }): [string, Json][] {
  return Object.entries(item).filter(([k]) => !(k === 'engine' && 'type' in item))
}

function block(entries: [string, Json][], indent: string, out: string[]): void {
  for (const [key, value] of entries) {
    if (isFlat(value)) {
      out.push(`${indent}${words(key)}: ${scalar(key, value)}`)
    } else if (isObject(value)) {
      out.push(`${indent}${words(key)}:`)
      block(fieldsOf(value), `${indent}  `, out)
    } else {
      out.push(`${indent}${words(key)}:`)
      items(value as Json[], `${indent}  `, out)
    }
  }
}

/** An array of objects (the sources): each under a line naming it by id and label. */
function items(list: Json[], indent: string, out: string[]): void {
  list.forEach((item, i) => {
    if (!isObject(item)) return void out.push(`${indent}- ${scalar('', item)}`)
    const name = [item.id, item.label].filter((v) => typeof v === 'string').join(' ') || `#${i + 1}`
    out.push(`${indent}${name}:`)
    block(
      fieldsOf(item).filter(([k]) => k !== 'id' && k !== 'label'),
      `${indent}  `,
      out,
    )
  })
}

/** The human text of `view`, the parsed `config --json`: flat values first, then one group per object. */
export function renderConfig(view: { [key: string]: Json }): string {
  const keys = [...new Set([...Object.keys(view), ...Object.keys(WHEN_ABSENT)])]
  const flat = keys.filter((k) => k in view && isFlat(view[k]!))
  const width = Math.max(...flat.map((k) => title(k).length))
  const out = flat.map((k) => `${`${title(k)}:`.padEnd(width + 2)}${scalar(k, view[k]!)}`)
  for (const key of keys.filter((k) => !flat.includes(k))) {
    const value = view[key]
    out.push('')
    if (value === undefined) {
      out.push(`${title(key)}: ${WHEN_ABSENT[key]}`)
    } else if (Array.isArray(value)) {
      out.push(`${title(key)} (${value.length}):`)
      items(value, '  ', out)
    } else {
      out.push(`${title(key)}:`)
      block(fieldsOf(value as { [key: string]: Json }), '  ', out)
    }
  }
  return out.join('\n')
}
