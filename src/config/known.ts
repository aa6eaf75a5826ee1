/**
 * Unknown variables: a misspelt `SCHEDUEL` or `KEEP_DIALY` would otherwise be ignored without a
 * word, leaving the default schedule or retention. Which names are known is not listed here: the
 * caller measures it (index.ts records every name the readers look up). This file holds only what
 * cannot be measured — which names count as ours, and the peers' names with our equivalents.
 */
import { closest } from '../runtime/did-you-mean.js'
import type { ConfigProblem, Env } from './reader.js'
import { NUMBERED_TARGET } from './s3.js'

/** The names the readers look up: globals whole, source variables as their suffix (`HOST` of `DB01_HOST`). */
export interface KnownVariables {
  readonly globals: ReadonlySet<string>
  readonly sourceSuffixes: ReadonlySet<string>
}

export const SOURCE_VAR = /^(DB\d{2,})_([A-Z0-9_]+)$/
/** `DB1_TYPE`: a one-digit number, which would otherwise be skipped without a word. */
const MISNUMBERED_VAR = /^DB(\d)_([A-Z0-9_]+)$/

/**
 * Prefixes that are ours: every member must be known, so that a variable meant for one of our
 * features is never silently ignored.
 * AWS_ is not ours: the AWS SDK reads its own (AWS_PROFILE, AWS_REGION, …).
 */
const FAMILIES = [
  'S3_',
  'KEEP_',
  'SMTP_',
  'MAIL_',
  'DRILL_',
  'HEALTH_',
  'BACKUP_',
  'AGE_',
  'PITR_',
  'STATUS_',
  'PING_',
] as const

/** Kubernetes (and legacy Docker link) service variables: `SMTP_SERVICE_HOST`, `BACKUP_PORT_8080_TCP`. */
const SERVICE_LINK = /_SERVICE_(HOST|PORT)(_[A-Z0-9_]+)?$|_PORT_\d+_(TCP|UDP|SCTP)(_(ADDR|PORT|PROTO))?$/

const TIREDOFIT = 'tiredofit/nfrastack db-backup'
const DATABACKER = 'databacker/mysql-backup'

/**
 * The peers' variables and ours. A `DBnn_` pattern's `DBnn` is replaced by the source's own
 * prefix in the message. docs/CONFIGURATION.md, "Coming from another image", is the same table
 * for people.
 */
const PEERS: readonly (readonly [RegExp, string, string])[] = [
  [
    /^DB\d+_(BACKUP_INTERVAL|BACKUP_BEGIN|BACKUP_BLACKOUT_BEGIN|BACKUP_BLACKOUT_END)$/,
    TIREDOFIT,
    'SCHEDULE, one cron pattern for every source (e.g. "30 2 * * *")',
  ],
  [/^DB\d+_CLEANUP_TIME$/, TIREDOFIT, 'DBnn_KEEP_WITHIN (a duration such as 7d, not minutes) or the KEEP_* rules'],
  [/^DB\d+_ARCHIVE_TIME$/, TIREDOFIT, 'S3_BUCKET with S3_RETENTION_DAYS or S3_KEEP_* for a longer off-site history'],
  [/^DB\d+_(COMPRESSION|COMPRESSION_LEVEL)$/, TIREDOFIT, 'the global COMPRESSION and COMPRESSION_LEVEL'],
  [/^(DB\d+_)?S3_KEY_ID$/, TIREDOFIT, 'AWS_ACCESS_KEY_ID (or AWS_ACCESS_KEY_ID_FILE)'],
  [/^(DB\d+_)?S3_KEY_SECRET$/, TIREDOFIT, 'AWS_SECRET_ACCESS_KEY (or AWS_SECRET_ACCESS_KEY_FILE)'],
  [/^(DB\d+_)?S3_PATH$/, TIREDOFIT, 'S3_PREFIX'],
  [/^(DB\d+_)?S3_(HOST|PROTOCOL)$/, TIREDOFIT, 'S3_ENDPOINT, one URL such as https://minio:9000'],
  [
    /^(DB\d+_)?S3_(EXTRA_OPTS|CERT_CA_FILE|CERT_SKIP_VERIFY)$/,
    TIREDOFIT,
    'nothing to set: a private CA goes in NODE_EXTRA_CA_CERTS (a PEM file)',
  ],
  [/^DB\d+_S3_([A-Z0-9_]+)$/, TIREDOFIT, 'the global S3_* variables (S3_BUCKET, S3_REGION, S3_PREFIX, S3_ENDPOINT)'],
  [
    /^DB\d+_BACKUP_LOCATION$/,
    TIREDOFIT,
    'BACKUP_DIR for the volume, plus S3_BUCKET for an off-site copy of every backup',
  ],
  [/^DB\d+_(BACKUP_)?FILESYSTEM_PATH$/, TIREDOFIT, 'BACKUP_DIR'],
  [/^DB\d+_EXTRA_BACKUP_OPTS$/, TIREDOFIT, 'DBnn_EXTRA_OPTS'],
  [/^DB\d+_BACKUP_GLOBALS$/, TIREDOFIT, 'DBnn_PG_GLOBALS'],
  [/^DB\d+_SPLIT_DB$/, TIREDOFIT, 'nothing to set: dbkeeper always writes one file per database'],
  [/^DB\d+_LOG_LEVEL$/, TIREDOFIT, 'the global LOG_LEVEL'],
  [
    /^DB\d+_(CHECKSUM|ENABLE_PARALLEL_COMPRESSION|PARALLEL_COMPRESSION_THREADS|CREATE_LATEST_SYMLINK)$/,
    TIREDOFIT,
    'nothing to set: every backup gets a SHA-256 and a manifest, and `dbkeeper list` shows the latest',
  ],
  [
    /^DEFAULT_([A-Z0-9_]+)$/,
    TIREDOFIT,
    'the unprefixed globals (SCHEDULE, COMPRESSION, KEEP_*, S3_*), shared by every source',
  ],
  [/^BACKUP_JOB_CONCURRENCY$/, TIREDOFIT, 'nothing to set: sources are backed up one after another'],
  [/^TIMEZONE$/, TIREDOFIT, 'TZ'],
  // Only its base image's switches: CONTAINER_NAME and the like are set by orchestrators and
  // CI runners on their own, and must not stop a backup.
  [
    /^CONTAINER_(ENABLE|DISABLE)_[A-Z0-9_]+$/,
    TIREDOFIT,
    "nothing to set: its base image's settings; dbkeeper's health check is HEALTH_PORT and HEALTH_MAX_AGE",
  ],
  [
    /^(ENABLE_NOTIFICATIONS|NOTIFICATION_TYPE)$/,
    TIREDOFIT,
    'SMTP_HOST with MAIL_TO, or WEBHOOK_URL; NOTIFY_ON=always for every run',
  ],
  [/^(MATTERMOST|ROCKETCHAT)_WEBHOOK_URL$/, TIREDOFIT, 'WEBHOOK_URL'],
  [
    /^(DB_DUMP_FREQ|DB_DUMP_FREQUENCY|DB_DUMP_BEGIN|DB_DUMP_CRON)$/,
    `${DATABACKER} or ${TIREDOFIT} before v4`,
    'SCHEDULE, one cron pattern (e.g. "30 2 * * *")',
  ],
  [/^DB_DUMP_TARGET$/, DATABACKER, 'BACKUP_DIR for a directory, S3_BUCKET and S3_PREFIX for s3://bucket/path'],
  [/^DB_DUMP_RETENTION$/, DATABACKER, 'KEEP_WITHIN (e.g. 30d) or the KEEP_* rules'],
  [/^DB_DUMP_COMPRESSION$/, DATABACKER, 'COMPRESSION'],
  [/^DB_DUMP_ONCE$/, DATABACKER, '`dbkeeper backup` (one run) instead of `dbkeeper daemon`'],
  [/^(DB_DEBUG|DB_DUMP_DEBUG)$/, DATABACKER, 'LOG_LEVEL=debug'],
  [/^DB_RESTORE_TARGET$/, DATABACKER, '`dbkeeper restore SOURCE [BACKUP]`'],
  [/^(DB_DUMP_INCLUDE|DB_NAMES)$/, DATABACKER, 'DB01_NAME (a comma-separated list, or ALL)'],
  [/^DB_DUMP_[A-Z0-9_]+$/, DATABACKER, 'see docs/CONFIGURATION.md, "Coming from another image"'],
  [
    /^DB_CLEANUP_TIME$/,
    `${TIREDOFIT} before v4`,
    'KEEP_WITHIN (a duration such as 7d, not minutes) or the KEEP_* rules',
  ],
  // DB_HOST, DB_PORT, DB_USER, DB_PASS, DB_NAME are the peers' too, but not refused: our own
  // scripts/restore-mysql.sh reads DB_HOST, DB_PORT and DB_USER, and so do many applications
  // whose env file is shared with the backup container. The table in the docs covers them.
  [/^DB_SERVER$/, DATABACKER, 'DB01_HOST (sources are numbered: DB01_, DB02_, …)'],
  [/^AWS_PATH_STYLE$/, DATABACKER, 'S3_FORCE_PATH_STYLE'],
  [/^SMB_[A-Z0-9_]+$/, DATABACKER, 'nothing to set: dbkeeper writes to a volume (mount the share there) or to S3'],
]

/** Words people write for ours: `DB01_PASSWORD` → `DB01_PASS`, `SMTP_USERNAME` → `SMTP_USER`. */
const ALIASES: Record<string, string> = {
  PASSWORD: 'PASS',
  PASSWD: 'PASS',
  PWD: 'PASS',
  DATABASE: 'NAME',
  DB: 'NAME',
  DBNAME: 'NAME',
  USERNAME: 'USER',
  FILE: 'PATH',
  SERVER: 'HOST',
  HOSTNAME: 'HOST',
  OPTS: 'EXTRA_OPTS',
  OPTIONS: 'EXTRA_OPTS',
  RECIPIENT: 'TO',
  RECIPIENTS: 'TO',
  SENDER: 'FROM',
  BUCKET_NAME: 'BUCKET',
  ENDPOINT_URL: 'ENDPOINT',
  URL: 'ENDPOINT',
}

/** The problems of every variable that is ours (or within a typo of ours) but not known. */
export function unknownVariables(env: Env, known: KnownVariables): ConfigProblem[] {
  const problems: ConfigProblem[] = []
  for (const name of Object.keys(env)) {
    if (env[name] === undefined || !/^[A-Z][A-Z0-9_]*$/.test(name) || SERVICE_LINK.test(name)) continue
    const expected = judge(name, known)
    // The value is never shown: the variable may be a password under a name we do not know.
    if (expected !== undefined) problems.push({ variable: name, value: '…', expected })
  }
  return problems
}

/** What `name` should have been, or undefined when it is known or none of our business. */
function judge(name: string, known: KnownVariables): string | undefined {
  const source = SOURCE_VAR.exec(name)
  if (source) {
    if (known.sourceSuffixes.has(source[2]!)) return undefined
    return `a known source variable (${peer(name, source[1]!) ?? sourceHint(name, source[1]!, source[2]!, known)})`
  }
  const misnumbered = MISNUMBERED_VAR.exec(name)
  if (misnumbered)
    return `a known source variable (sources are numbered with two digits: did you mean DB0${misnumbered[1]}_${misnumbered[2]}?)`
  if (known.globals.has(name)) return undefined
  const target = NUMBERED_TARGET.exec(name)
  if (target) return targetHint(target[1]!, target[2]!, known)
  const fromPeer = peer(name, 'DB01')
  if (fromPeer) return `a known variable (${fromPeer})`
  // A source's setting written globally (PG_FORMAT). Single words (PATH, USER) are the system's.
  if (name.includes('_') && known.sourceSuffixes.has(name))
    return `a known variable (${name} is a source's setting: did you mean DB01_${name}?)`
  const family = FAMILIES.find((f) => name.startsWith(f))
  const near = closest(
    name,
    [...known.globals].filter((g) => !g.startsWith('AWS_')),
  )
  if (family === undefined)
    return near && !name.startsWith('AWS_') ? `a known variable (did you mean ${near}?)` : undefined
  const hint = alias(name, (c) => known.globals.has(c)) ?? near
  if (hint) return `a known variable (did you mean ${hint}?)`
  const members = [...known.globals].filter((g) => g.startsWith(family))
  return members.length === 0
    ? `a known variable (dbkeeper reads no ${family}* variable yet)`
    : `a known variable (the ${family}* variables are ${members.join(', ')})`
}

/**
 * Every target reads the same suffixes, measured on target 2: `S3_7_X` is known when `S3_2_X` is,
 * and a typo is judged against target 2's suffixes (`S3_3_BUKET` → `S3_3_BUCKET`).
 */
function targetHint(n: string, suffix: string, known: KnownVariables): string | undefined {
  const suffixes = [...known.globals].flatMap((g) => (g.startsWith('S3_2_') ? [g.slice('S3_2_'.length)] : []))
  if (n === '1') return `a known variable (target 1 is the plain S3_*: did you mean S3_${suffix}?)`
  if (suffixes.includes(suffix)) return undefined
  const hit = alias(suffix, (c) => suffixes.includes(c)) ?? closest(suffix, suffixes)
  if (hit) return `a known variable (did you mean S3_${n}_${hit}?)`
  return `a known variable (a target's variables are S3_${n}_ followed by ${suffixes.filter((s) => !s.endsWith('_FILE')).join(', ')})`
}

function peer(name: string, id: string): string | undefined {
  for (const [pattern, who, ours] of PEERS) {
    if (pattern.test(name))
      return `${name} comes from ${who}; dbkeeper: ${name.replace(pattern, ours).replace(/\bDBnn_/g, `${id}_`)}`
  }
  return undefined
}

/** Shown first when a source variable has no near match; the other known suffixes follow. */
const SOURCE_SUFFIX_ORDER = ['TYPE', 'HOST', 'PORT', 'NAME', 'USER', 'PASS', 'PATH', 'LABEL', 'EXTRA_OPTS']

function sourceHint(name: string, id: string, suffix: string, known: KnownVariables): string {
  const isKnown = (candidate: string) => known.sourceSuffixes.has(candidate.slice(id.length + 1))
  const base = /^(.+)_FILE$/.exec(suffix)?.[1]
  if (base !== undefined && known.sourceSuffixes.has(base) && !known.sourceSuffixes.has(suffix)) {
    const hit = alias(name, isKnown)
    if (hit) return `did you mean ${hit}?`
    return `only passwords have a _FILE form: set ${id}_${base} itself`
  }
  const hit = alias(name, isKnown) ?? closest(suffix, [...known.sourceSuffixes])
  if (hit) return `did you mean ${hit.startsWith(`${id}_`) ? hit : `${id}_${hit}`}?`
  const rest = [...known.sourceSuffixes].filter(
    (s) => !SOURCE_SUFFIX_ORDER.includes(s) && !/^(KEEP_|RETENTION_DAYS)/.test(s),
  )
  return [...SOURCE_SUFFIX_ORDER, ...rest, 'KEEP_*', 'RETENTION_DAYS'].join(', ')
}

/** `name` with one word replaced by its alias, when that is a known name. */
function alias(name: string, isKnown: (candidate: string) => boolean): string | undefined {
  const words = name.split('_')
  for (let i = 0; i < words.length; i++) {
    for (let j = words.length; j > i; j--) {
      const replacement = ALIASES[words.slice(i, j).join('_')]
      if (replacement === undefined) continue
      const candidate = [...words.slice(0, i), replacement, ...words.slice(j)].join('_')
      if (isKnown(candidate)) return candidate
    }
  }
  return undefined
}
