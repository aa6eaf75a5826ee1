import { readFileSync } from 'node:fs'
import { DbkeeperError } from '../runtime/errors.js'
import { registerPublic, Secret } from '../runtime/secrets.js'
import { readBackupDir } from './backup-dir.js'
import { CODECS, COMPRESSION_KINDS, DEFAULT_COMPRESSION, compressionAliases } from './codecs.js'
import { readDaemonConfig, readNotifyConfig } from './daemon.js'
import { readEncryptionConfig } from './encryption.js'
import { SOURCE_VAR, unknownVariables, type KnownVariables } from './known.js'
import { EnvReader, formatProblem, type ConfigProblem, type Env, type FileReader } from './reader.js'
import { readPitrConfig } from './pitr.js'
import { isEmptyPolicy, readGlobalRetention } from './retention.js'
import { readRestoreConfig } from './restore.js'
import { readS3Targets } from './s3.js'
import { isTimeZone } from './schedule.js'
import { readSource, sourcePrefixes } from './sources.js'
import type { Config, SourceConfig } from './types.js'

export type { Config, SourceConfig, RetentionPolicy, EngineKind, PitrConfig } from './types.js'
export type { ConfigProblem } from './reader.js'

const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const

/** A configuration error listing every problem; exit code 2. */
export class ConfigError extends DbkeeperError {
  readonly problems: readonly ConfigProblem[]

  constructor(problems: readonly ConfigProblem[]) {
    const lines = problems.map((p) => `  - ${formatProblem(p)}`).join('\n')
    super(
      'CONFIG',
      `invalid configuration (${problems.length} problem${problems.length === 1 ? '' : 's'}):\n${lines}`,
      {
        hint: 'fix the variables above (docs/CONFIGURATION.md lists every variable); nothing was backed up or changed',
      },
    )
    this.problems = problems
  }
}

/**
 * Parses and validates the configuration. Pure apart from `readFile` for `*_FILE` secrets.
 * Throws ConfigError listing every problem; returns a frozen Config otherwise.
 */
export function parseConfig(
  env: Env,
  readFile: FileReader = (p) => readFileSync(p, 'utf8'),
  cwd = process.cwd(),
): Config {
  const { config, problems } = readConfig(env, readFile, cwd, true)
  if (problems.length > 0) throw new ConfigError(problems)
  declarePublic(config)
  return config
}

/**
 * Every reader over `env`: the configuration (meaningless when there are problems), the problems,
 * and every name looked up. `checkUnknown` is off only for the measuring run of knownVariables.
 */
function readConfig(
  env: Env,
  readFile: FileReader,
  cwd: string,
  checkUnknown: boolean,
): { config: Config; problems: ConfigProblem[]; asked: ReadonlySet<string> } {
  const r = new EnvReader(env, readFile)

  const backupDir = readBackupDir(r, cwd)
  const kind = r.oneOf('COMPRESSION', COMPRESSION_KINDS, DEFAULT_COMPRESSION, compressionAliases())
  // Levels, default and the wording of the problem come from the codec's row; a codec without
  // levels (none) does not read COMPRESSION_LEVEL.
  const levels = CODECS[kind].levels
  const level = levels
    ? r.int('COMPRESSION_LEVEL', {
        min: levels.min,
        max: levels.max,
        fallback: levels.default,
        expected: levels.expected,
      })!
    : 0
  const { encryption, keys: decryption } = readEncryptionConfig(r, readFile)
  const logLevel = r.oneOf('LOG_LEVEL', LOG_LEVELS, 'info')
  const logFormatRaw = r.raw('LOG_FORMAT')
  const logFormat = logFormatRaw === undefined ? undefined : r.oneOf('LOG_FORMAT', ['json', 'pretty'] as const, 'json')
  const tz = r.string('TZ', 'UTC')!
  if (!isTimeZone(tz)) r.problem('TZ', tz, 'an IANA time zone such as UTC or Europe/Berlin')

  const retention = readGlobalRetention(r)
  if (isEmptyPolicy(retention)) r.problem('KEEP_*', undefined, 'a retention policy that keeps something')

  const sources: SourceConfig[] = []
  for (const id of sourcePrefixes(env)) {
    const s = readSource(r, id, retention)
    if (s) {
      if (isEmptyPolicy(s.retention))
        r.problem(
          `${id}_KEEP_*`,
          undefined,
          'a retention policy that keeps something (every rule of this source is off)',
        )
      sources.push(s)
    }
  }
  if (sourcePrefixes(env).length === 0) {
    r.problem(
      'DB01_TYPE',
      undefined,
      'at least one database source (DB01_TYPE=mysql|postgres|sqlite with its DB01_* settings)',
    )
  }
  const seen = new Map<string, string>()
  for (const s of sources) {
    const other = seen.get(s.label)
    if (other)
      r.problem(`${s.id}_LABEL`, s.label, `a label different from ${other}'s (two sources cannot share a directory)`)
    seen.set(s.label, s.id)
  }

  const daemon = readDaemonConfig(r, new Date(), checkUnknown)
  const notify = readNotifyConfig(r)
  const restore = readRestoreConfig(r, tz, sources)
  const s3Targets = readS3Targets(r, env, retention)
  const pitr = readPitrConfig(r)
  // Litestream encrypts the archive with X25519 recipients only: with a passphrase it would sit
  // beside the encrypted backups in plain text. (A binlog archive is not encrypted at all yet:
  // daemon/binlog-offsite.ts keeps it on the volume and warns.)
  if (encryption?.passphrase)
    for (const s of sources.filter((x) => x.pitr && x.engine === 'sqlite'))
      r.problem(
        `${s.id}_PITR`,
        r.raw(`${s.id}_PITR`),
        'false or unset with AGE_PASSPHRASE: Litestream encrypts the point-in-time archive to age public keys only; use AGE_RECIPIENTS (or AGE_RECIPIENTS_FILE) to archive this source encrypted',
      )
  // Last: what this run looked up counts as known too, whatever the measuring run took.
  if (checkUnknown) r.problems.push(...unknownVariables(env, knownVariables(r.asked)))
  const config: Config = Object.freeze({
    backupDir,
    compression: Object.freeze({ kind, level }),
    ...(encryption ? { encryption } : {}),
    decryption,
    log: Object.freeze({ level: logLevel, format: logFormat }),
    tz,
    retention: Object.freeze(retention),
    sources: Object.freeze(sources),
    daemon,
    notify,
    restore,
    pitr,
    ...(s3Targets[0] ? { s3: s3Targets[0] } : {}),
    s3Targets: Object.freeze(s3Targets),
  })
  return { config, problems: r.problems, asked: r.asked }
}

/**
 * What the readers switch on: one source of each engine, S3, and each codec (one reads
 * COMPRESSION_LEVEL, another not); the other blocks look up all their names whatever is set.
 * Nothing here becomes a Secret or a public string.
 */
const MEASURING_ENVS: readonly Env[] = COMPRESSION_KINDS.map((kind) => ({
  DB01_TYPE: 'mysql',
  DB02_TYPE: 'postgres',
  DB03_TYPE: 'sqlite',
  S3_BUCKET: 'measuring-bucket',
  // Target 2 stands for every S3_n_: known.ts reads S3_7_X as known when S3_2_X is.
  S3_2_BUCKET: 'measuring-bucket-2',
  COMPRESSION: kind,
}))

/**
 * Every name the readers look up, measured by reading MEASURING_ENVS. The build (scripts/build.mjs)
 * calls this once and writes the result into the bundle as DBKEEPER_KNOWN_NAMES: the measuring
 * reads were ~⅙ of the instructions of every `dbkeeper status`, the HEALTHCHECK
 * (docs/PERFORMANCE.md, "Start-up"). Measured from the same source in the same build, so the list
 * cannot go stale; run from source (tsx, the tests) it is measured here.
 */
export function measureKnownNames(): string[] {
  return [...new Set(MEASURING_ENVS.flatMap((env) => [...readConfig(env, () => '', '/', false).asked]))]
}

/**
 * Set by the build (esbuild `define`) to measureKnownNames()'s result as JSON; undeclared in source.
 * A string, not an array: esbuild inlines a string where it is used, but moves an array into its
 * shared runtime chunk, which `--help` then loads too.
 */
declare const DBKEEPER_KNOWN_NAMES: string | undefined
let measured: readonly string[] | undefined

/** The known variables: every name the readers look up (measureKnownNames), and this run's. */
function knownVariables(alsoAsked: ReadonlySet<string>): KnownVariables {
  measured ??=
    typeof DBKEEPER_KNOWN_NAMES === 'undefined' ? measureKnownNames() : (JSON.parse(DBKEEPER_KNOWN_NAMES) as string[])
  const names = [...measured, ...alsoAsked]
  return {
    globals: new Set(names.filter((n) => !SOURCE_VAR.test(n))),
    sourceSuffixes: new Set(names.flatMap((n) => SOURCE_VAR.exec(n)?.[2] ?? [])),
  }
}

/**
 * Every string of the configuration that is not a Secret is shown openly (by `config`, in paths,
 * ids, log lines): a password equal to one of them is not masked (runtime/secrets.ts says why).
 */
function declarePublic(value: unknown): void {
  if (typeof value === 'string') registerPublic(value)
  else if (Array.isArray(value)) value.forEach(declarePublic)
  else if (value !== null && typeof value === 'object' && !(value instanceof Secret) && !(value instanceof Date))
    Object.values(value).forEach(declarePublic)
}

/** The one reader of process.env. */
export function loadConfig(): Config {
  return parseConfig(process.env)
}
