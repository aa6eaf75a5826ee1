/**
 * The drill's re-dump of a MySQL/MariaDB scratch database (contract: ../redump.ts): mysqldump with
 * the options the backup's ran with, and the view qualifiers of the scratch database named back
 * as the backup's (rewrite.ts), so that the two dumps can be compared line by line.
 */
import { pipeline } from 'node:stream'
import type { Redumped, RedumpArgs } from '../redump.js'
import { FIXED_OPTIONS, PITR_OPTIONS } from './args.js'
import { MysqlEngine } from './engine.js'
import { DatabaseNameRewrite } from './rewrite.js'

/**
 * The options the backup's mysqldump ran with besides the fixed ones (DBnn_EXTRA_OPTS then), from
 * its manifest: a re-dump with today's options would differ whenever they changed since.
 */
export function mysqlExtraOptsOf(backup: { tool: { options: readonly string[] } }): string[] {
  const options = backup.tool.options
  const end = options.lastIndexOf('--')
  const fixed = new Set<string>([...FIXED_OPTIONS, ...PITR_OPTIONS.mariadb, ...PITR_OPTIONS.mysql])
  return (end >= 0 ? options.slice(0, end) : options).filter((o) => !fixed.has(o))
}

export async function redumpMysql(a: RedumpArgs): Promise<Redumped> {
  const engine = new MysqlEngine(
    // No binlog coordinates: the scratch database's re-dump is compared, never rolled forward.
    { ...a.source, databases: [a.scratch], extraOpts: mysqlExtraOptsOf(a.backup), pitr: false },
    a.workDir,
  )
  await engine.probe(a.signal) // picks the dump tool matching the server
  const dump = engine.dump(a.scratch, a.signal)
  // A view the server prints with its database's name inside names the scratch database in the re-dump.
  const stdout = pipeline(dump.stdout, new DatabaseNameRewrite(a.scratch, a.backup.database), () => {})
  const content = a.openBackup()
  return {
    kind: 'lines',
    backup: { stdout: content.stream, done: Promise.resolve(), assertComplete: () => content.assertComplete() },
    actual: { stdout, done: dump.done },
  }
}
