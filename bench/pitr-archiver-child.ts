/**
 * The binlog archiver alone in a process of its own, for bench/pitr-archiver-cost.ts to measure:
 * `node --import tsx bench/pitr-archiver-child.ts <host> <port> <user> <dir>`. Runs the daemon's
 * archiver (startBinlogArchiver: the supervised `mariadb-binlog --stop-never` and the poller that
 * proves closed files and writes the heartbeat) until SIGTERM.
 */
import { parseConfig } from '../src/config/index.js'
import { startBinlogArchiver } from '../src/engines/mysql/binlog-archiver.js'
import { createLogger } from '../src/runtime/logger.js'

const [host, port, user, dir] = process.argv.slice(2)
// The source as the daemon reads it from the environment.
const source = parseConfig({
  BACKUP_DIR: dir!,
  DB01_TYPE: 'mariadb',
  DB01_HOST: host!,
  DB01_PORT: port!,
  DB01_USER: user!,
  DB01_NAME: 'ALL',
  DB01_LABEL: 'bench',
  DB01_PITR: 'true',
}).sources[0]!
const archiver = await startBinlogArchiver({
  source,
  dir: dir!,
  logger: createLogger({ level: 'warn', format: 'json', destination: process.stderr }),
})
process.once('SIGTERM', () => void archiver.stop().then(() => process.exit(0)))
