/**
 * The restore driver of a backup's engine (the contract is driver.ts). Apart from the contract so
 * that the drivers, which implement it, and the factory, which names them, import one way only.
 */
import type { DriverTarget, RestoreDriver } from './driver.js'
import { MysqlDriver } from './mysql.js'
import { PostgresDriver } from './postgres.js'
import { SqliteDriver } from './sqlite.js'

export function createDriver(t: DriverTarget): RestoreDriver {
  switch (t.manifest.engine) {
    case 'mysql':
      return new MysqlDriver(t)
    case 'postgres':
      return new PostgresDriver(t)
    case 'sqlite':
      return new SqliteDriver(t)
  }
}
