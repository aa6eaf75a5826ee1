/**
 * The drill's re-dump of a PostgreSQL scratch database (contract: ../redump.ts): pg_dump in the
 * backup's format; a custom-format archive (binary, with the database name and a timestamp
 * inside) is turned into SQL by `pg_restore --file=-` on both sides.
 */
import type { Readable } from 'node:stream'
import { DbkeeperError } from '../../runtime/errors.js'
import type { DumpProcess } from '../engine.js'
import type { Redumped, RedumpArgs } from '../redump.js'
import { childEnv, lastLines, startTool } from '../subprocess.js'
import { PostgresEngine } from './engine.js'
import { PG_INSTALL_HINT } from './errors.js'

export function redumpPostgres(a: RedumpArgs): Promise<Redumped> {
  const custom = a.backup.format === 'dump'
  const engine = new PostgresEngine(
    { ...a.source, databases: [a.scratch], pgFormat: custom ? 'custom' : 'plain' },
    a.workDir,
  )
  const content = a.openBackup()
  const assertComplete = () => content.assertComplete()
  const dump = engine.dump(a.scratch, a.signal)
  return Promise.resolve({
    kind: 'lines',
    backup: custom
      ? { ...asSql(content.stream, Promise.resolve(), a.signal), assertComplete }
      : { stdout: content.stream, done: Promise.resolve(), assertComplete },
    actual: custom ? asSql(dump.stdout, dump.done, a.signal) : dump,
  })
}

/** `pg_restore --file=-`: a custom-format archive on stdin, its SQL script on stdout. */
function asSql(archive: Readable, archiveDone: Promise<unknown>, signal: AbortSignal): DumpProcess {
  const tool = startTool('pg_restore', ['--file=-'], {
    env: childEnv({ LC_MESSAGES: 'C' }),
    input: archive,
    signal,
    installHint: PG_INSTALL_HINT,
    judge: (r) =>
      r.exitCode === 0 && !r.signal
        ? undefined
        : new DbkeeperError(
            'RESTORE_FAILED',
            `pg_restore could not turn the archive into SQL (${r.signal ?? `exit ${r.exitCode ?? '?'}`}): ${lastLines(r.stderr, 3)}`,
            {
              hint: "install postgresql-client of at least the server's major version",
            },
          ),
  })
  const done = Promise.all([tool.exit, archiveDone]).then(() => ({ options: [], stderrTail: '' }))
  done.catch(() => {})
  return { stdout: tool.stdout, done }
}
