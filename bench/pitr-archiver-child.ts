/**
 * The binlog archiver alone in a process of its own, for bench/pitr-archiver-cost.ts to measure:
 * `node --import tsx bench/pitr-archiver-child.ts <host> <port> <user> <dir>`. Runs the daemon's
 * archiver (startBinlogArchiver: the supervised `mariadb-binlog --stop-never` and the poller that
 * proves closed files and writes the heartbeat) until SIGTERM.
 */
import { startBinlogArchiver } from '../src/engines/mysql/binlog-archiver.js'
import type { SourceConfig } from '../src/config/types.js'
import { createLogger } from '../src/runtime/logger.js'

const [host, port, user, dir] = process.argv.slice(2)
const source: SourceConfig = {
  id: 'DB01',
  label: 'bench',
  type: 'mariadb',
  engine: 'mysql',
  host: host!,
  port: Number(port),
  user: user!,
  password: undefined,
  databases: 'ALL',
  path: undefined,
  extraOpts: [],
  pgFormat: 'plain',
  pgGlobals: false,
  retention: {},
  pitr: true,
}
const archiver = await startBinlogArchiver({
  source,
  dir: dir!,
  logger: createLogger({ level: 'warn', format: 'json', destination: process.stderr }),
})
process.once('SIGTERM', () => void archiver.stop().then(() => process.exit(0)))
