import { createRequire } from 'node:module'
import type { Logger as PinoLogger } from 'pino'
import { terminalSafe } from './printable.js'
import { scrubOutput } from './secrets.js'

export type Logger = PinoLogger
export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'silent'
export type LogFormat = 'json' | 'pretty'

const LEVEL_NAMES: Record<number, string> = {
  10: 'TRACE',
  20: 'DEBUG',
  30: 'INFO',
  40: 'WARN',
  50: 'ERROR',
  60: 'FATAL',
}
const BASE_KEYS = new Set(['level', 'time', 'msg', 'pid', 'hostname'])

/**
 * pino and its ~30 modules are loaded by the first createLogger, not by importing this file:
 * `dbkeeper status` (the HEALTHCHECK) and `--help` log nothing and never load them (nor, in the
 * status build, node:module: scripts/build.mjs, ON_FIRST_CALL).
 */
let loaded: typeof import('pino') | undefined
const pinoModule = (): typeof import('pino') =>
  (loaded ??= createRequire(import.meta.url)('pino') as typeof import('pino'))

/** One readable line per record for a terminal: `12:00:01 INFO  message key=value`. */
export function prettyLine(json: string): string {
  try {
    const rec = JSON.parse(json) as Record<string, unknown>
    // ISO 8601 as written by createLogger; a number (epoch ms) from an older log line too.
    const time = new Date(typeof rec.time === 'number' ? rec.time : String(rec.time)).toISOString().slice(11, 19)
    const level = (LEVEL_NAMES[Number(rec.level)] ?? String(rec.level)).padEnd(5)
    const extras = Object.entries(rec)
      .filter(([k]) => !BASE_KEYS.has(k))
      .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
      .join(' ')
    return `${time} ${level} ${typeof rec.msg === 'string' ? rec.msg : ''}${extras ? ` ${extras}` : ''}\n`
  } catch {
    return json
  }
}

/**
 * pino, JSON to stdout (docker logs) or pretty lines; times in ISO 8601, UTC. Every line passes through `scrubOutput`
 * before it is written, so a password that slipped into an error message is still masked.
 */
export function createLogger(opts: {
  level: LogLevel
  format: LogFormat | undefined
  destination?: NodeJS.WritableStream
}): Logger {
  const dest = opts.destination ?? process.stdout
  const format = opts.format ?? ((dest as { isTTY?: boolean }).isTTY ? 'pretty' : 'json')
  const { pino } = pinoModule()
  return pino(
    {
      level: opts.level,
      base: undefined,
      // "time":"2026-12-04T18:30:00.123Z": what people reading `docker logs` read, and what
      // jq, Loki and Elasticsearch parse as a date without being told the unit.
      timestamp: pino.stdTimeFunctions.isoTime,
      hooks: {
        streamWrite: (s: string) => {
          const clean = scrubOutput(oneKeyEach(s))
          return terminalSafe(format === 'pretty' ? prettyLine(clean) : clean)
        },
      },
      serializers: { err: pino.stdSerializers.err },
    },
    dest,
  )
}

/**
 * The line with every key once. pino writes a child's bindings and the call's fields side by
 * side without merging them, so a `source` bound by the run and passed again by retention came
 * out twice: invalid for strict JSON parsers. JSON.parse keeps the last (the most specific) value.
 */
function oneKeyEach(line: string): string {
  try {
    return `${JSON.stringify(JSON.parse(line))}\n`
  } catch {
    return line
  }
}
