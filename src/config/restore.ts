/**
 * Settings of restores and restore drills. Pure like the rest of config/: every problem goes to
 * the EnvReader, the result is frozen.
 */
import type { EnvReader } from './reader.js'
import { isTimeZone, scheduleProblem } from './schedule.js'
import type { DrillServer, RestoreConfig, SourceConfig } from './types.js'

const DRILL_TYPES: Record<string, DrillServer['engine']> = {
  mysql: 'mysql',
  mariadb: 'mysql',
  postgres: 'postgres',
  postgresql: 'postgres',
  pgsql: 'postgres',
}
const DRILL_DEFAULT_PORT: Record<DrillServer['engine'], number> = { mysql: 3306, postgres: 5432 }

export const DEFAULT_SAFETY_KEEP_DAYS = 7

export function readRestoreConfig(
  r: EnvReader,
  tz: string,
  sources: readonly SourceConfig[] = [],
  now = new Date(),
): RestoreConfig {
  const safetyKeepDays = r.int('SAFETY_KEEP_DAYS', {
    min: 1,
    max: 3650,
    fallback: DEFAULT_SAFETY_KEEP_DAYS,
    expected: "a number of days from 1 to 3650 (how long a restore's safety backup is kept)",
  })!
  const drillSchedule = r.raw('DRILL_SCHEDULE')
  if (drillSchedule !== undefined) {
    // An invalid TZ is reported by parseConfig; judge the pattern in UTC meanwhile.
    const problem = scheduleProblem(drillSchedule, isTimeZone(tz) ? tz : 'UTC', now)
    if (problem)
      r.problem(
        'DRILL_SCHEDULE',
        drillSchedule,
        `a cron pattern such as "30 4 * * 0" (Sundays 04:30), or unset for no drills (${problem})`,
      )
  }
  return Object.freeze({ safetyKeepDays, drillSchedule, drillServer: readDrillServer(r, sources) })
}

/** DRILL_HOST, DRILL_TYPE, DRILL_PORT, DRILL_USER, DRILL_PASS(_FILE): all read, so that a stray one is judged too. */
function readDrillServer(r: EnvReader, sources: readonly SourceConfig[]): DrillServer | undefined {
  const host = r.raw('DRILL_HOST')
  const typeRaw = r.raw('DRILL_TYPE')
  const portRaw = r.raw('DRILL_PORT')
  const user = r.raw('DRILL_USER')
  const password = r.secret('DRILL_PASS')
  if (host === undefined) {
    for (const [name, value] of [
      ['DRILL_TYPE', typeRaw],
      ['DRILL_PORT', portRaw],
      ['DRILL_USER', user],
    ] as const) {
      if (value !== undefined) r.problem(name, value, 'to be unset without DRILL_HOST (the drill server it belongs to)')
    }
    if (password !== undefined)
      r.problem('DRILL_PASS', '***', 'to be unset without DRILL_HOST (the drill server it belongs to)')
    return undefined
  }
  if (host === '' || /[\s/]/.test(host))
    r.problem(
      'DRILL_HOST',
      host,
      'the host name of a scratch MySQL/MariaDB or PostgreSQL server for the restore drills',
    )
  const kinds = [...new Set(sources.flatMap((s) => (s.engine === 'sqlite' ? [] : [s.engine])))]
  let engine: DrillServer['engine'] | undefined
  if (typeRaw !== undefined) {
    engine = DRILL_TYPES[typeRaw.toLowerCase()]
    if (engine === undefined)
      r.problem('DRILL_TYPE', typeRaw, 'mysql, mariadb or postgres: the kind of server DRILL_HOST is')
  } else if (kinds.length === 1) {
    engine = kinds[0]
  } else {
    r.problem(
      'DRILL_TYPE',
      undefined,
      kinds.length === 0
        ? 'a MySQL/MariaDB or PostgreSQL source for DRILL_HOST to serve (SQLite drills use a temporary file)'
        : 'mysql, mariadb or postgres: the sources are of both kinds, so say which kind of server DRILL_HOST is (the others drill on their own server)',
    )
  }
  const port = r.int('DRILL_PORT', {
    min: 1,
    max: 65535,
    fallback: engine ? DRILL_DEFAULT_PORT[engine] : 1,
    expected: 'a port number from 1 to 65535',
  })!
  if (password !== undefined && user === undefined)
    r.problem(
      'DRILL_PASS',
      '***',
      "to be set with DRILL_USER only (without it, each source's own user and password are used)",
    )
  if (engine === undefined) return undefined
  return Object.freeze({ engine, host, port, user, password })
}
