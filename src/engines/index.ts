import type { SourceConfig } from '../config/types.js'
import type { Engine } from './engine.js'
import { MysqlEngine } from './mysql/engine.js'
import { PostgresEngine } from './postgres/engine.js'
import { SqliteEngine } from './sqlite/engine.js'

export type { Engine, DumpProcess, DumpResult, ProbeResult, DatabaseInfo, TableInfo } from './engine.js'

/** The engine for one configured source. `workDir` is a private directory for temporary files. */
export function createEngine(source: SourceConfig, workDir: string): Engine {
  switch (source.engine) {
    case 'mysql':
      return new MysqlEngine(source, workDir)
    case 'postgres':
      return new PostgresEngine(source, workDir)
    case 'sqlite':
      return new SqliteEngine(source, workDir)
  }
}
