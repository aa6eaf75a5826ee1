/**
 * The drill's re-dump of a restored SQLite file (contract: ../redump.ts): snapshotted again by the
 * SQLite engine, and the schema and every table's content digest of both files compared.
 */
import { createWriteStream } from 'node:fs'
import { join } from 'node:path'
import { pipeline } from 'node:stream/promises'
import type { Redumped, RedumpArgs } from '../redump.js'
import { SqliteEngine } from './engine.js'
import { inspectSqliteFile, type Inspection } from './restore-driver.js'

export async function redumpSqlite(a: RedumpArgs): Promise<Redumped> {
  // The backup's bytes were proven and loaded already: its side here is the restored file itself.
  const database = a.backup.database
  const engine = new SqliteEngine({ ...a.source, path: a.scratch, databases: [database] }, a.workDir)
  const again = join(a.workDir, 'redump.db')
  const dump = engine.dump(database, a.signal)
  await Promise.all([pipeline(dump.stdout, createWriteStream(again, { mode: 0o600 })), dump.done])
  const [restored, redumped] = await Promise.all([
    inspectSqliteFile(a.scratch, a.workDir, a.signal),
    inspectSqliteFile(again, a.workDir, a.signal),
  ])
  return { kind: 'tables', compared: restored.tables.length, differences: sqliteDifferences(restored, redumped) }
}

export function sqliteDifferences(a: Inspection, b: Inspection): string[] {
  const out = [...a.integrity, ...b.integrity].map((p) => `integrity_check: ${p}`)
  if (a.schemaSha256 !== b.schemaSha256) out.push('the schema differs')
  const other = new Map(b.tables.map((t) => [t.name, t]))
  for (const t of a.tables) {
    const u = other.get(t.name)
    if (!u) out.push(`table ${t.name} is missing`)
    else if (u.rows !== t.rows) out.push(`table ${t.name}: ${t.rows} rows vs ${u.rows}`)
    else if (u.sha256 !== t.sha256) out.push(`table ${t.name}: content differs`)
  }
  return out
}
