/**
 * Putting a staged database (the backup, loaded and checked beside the target) in the target's
 * place. MySQL has no RENAME DATABASE; RENAME TABLE moves tables between databases, several in one
 * atomic statement, but not tables with triggers, and no view, routine or event. So:
 *   1. read the staged and the target's definitions (nothing changed yet; a definition that cannot
 *      be read stops here)
 *   2. drop the staged triggers; drop the target's triggers, views, routines and events
 *   3. one RENAME TABLE: the target's tables to `<target>_dbkold_<hex>`, the staged ones to the target
 *   4. create the staged definitions in the target
 *   5. drop the old and the staging databases
 * A failure in 2–4 is rolled back: what was created is dropped, the tables are renamed back, the
 * target's own definitions are created again — the target is as it was. Other connections see the
 * target without views and routines for the moment of 2–4 (milliseconds, plus any wait for their
 * table locks): as for any restore, the application should be stopped.
 */
import mysql, { type Connection, type RowDataPacket } from 'mysql2/promise'
import { DbkeeperError, toDbkeeperError } from '../../runtime/errors.js'
import { createAll, dropStatement, readDefinitions, type Definition } from './definitions.js'
import type { ScratchLedger } from '../restore-driver.js'
import { scratchName } from '../scratch-names.js'

/** How long RENAME TABLE waits for another connection's metadata lock before we say "in use" (MariaDB's default is a year). */
export const LOCK_WAIT_SECONDS = 30

const id = (name: string) => mysql.escapeId(name, true)

/** Base tables and sequences (what RENAME TABLE moves), by name. */
export async function tablesOf(conn: Connection, database: string): Promise<string[]> {
  const [rows] = await conn.query<RowDataPacket[]>(
    "SELECT TABLE_NAME AS n FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_TYPE IN ('BASE TABLE', 'SEQUENCE', 'SYSTEM VERSIONED') ORDER BY 1",
    [database],
  )
  return rows.map((r) => String(r.n))
}

export interface SwapNames {
  staging: string
  target: string
  /** The CREATE DATABASE options of the target (its character set and collation). */
  createOptions: string
  /** "database `shop` on db:3306", for messages. */
  label: string
  scratch: ScratchLedger | undefined
}

/** Swaps; returns notes for the operator (a leftover database that could not be dropped). Throws with the target as it was. */
export async function swapIn(conn: Connection, n: SwapNames): Promise<string[]> {
  const staged = await readDefinitions(conn, n.staging)
  const original = await readDefinitions(conn, n.target)
  const stagedTables = await tablesOf(conn, n.staging)
  const targetTables = await tablesOf(conn, n.target)
  const old = scratchName(n.target, 'dbkold')
  await n.scratch?.record(old, n.target)
  await conn.query(`CREATE DATABASE ${id(old)} ${n.createOptions}`)
  await conn.query(`SET SESSION lock_wait_timeout = ${LOCK_WAIT_SECONDS}`)
  const dropped: Definition[] = []
  const created: Definition[] = []
  let renamed = false
  try {
    for (const d of staged) if (d.kind === 'TRIGGER') await conn.query(dropStatement(d, n.staging))
    for (const d of original) {
      await conn.query(dropStatement(d, n.target))
      dropped.push(d)
    }
    const moves = [
      ...targetTables.map((t) => `${id(n.target)}.${id(t)} TO ${id(old)}.${id(t)}`),
      ...stagedTables.map((t) => `${id(n.staging)}.${id(t)} TO ${id(n.target)}.${id(t)}`),
    ]
    if (moves.length > 0) await conn.query(`RENAME TABLE ${moves.join(', ')}`)
    renamed = true
    await createAll(conn, staged, n.target, n.staging, created)
  } catch (error) {
    const why = describe(error)
    const rollback = await rollBack(conn, { ...n, old, dropped, created, renamed, stagedTables, targetTables })
    if (rollback) {
      // Kept for the operator, who is told not to drop them: the sweep must not either.
      for (const db of [old, n.staging]) await n.scratch?.forget(db).catch(() => {})
      throw new DbkeeperError(
        'RESTORE_FAILED',
        `${n.label} could not be swapped with the restored copy (${why}), and putting it back failed too (${rollback}): ` +
          `its original tables are in \`${old}\`${renamed ? ` and the restored ones may be in \`${n.target}\`` : ''}, the restored copy in \`${n.staging}\``,
        {
          hint: `do not drop \`${old}\` or \`${n.staging}\`: move the tables back by hand (RENAME TABLE \`${old}\`.t TO \`${n.target}\`.t …); the views, routines and events of ${n.label} are in the safety backup`,
          cause: error,
        },
      )
    }
    const lockWait = (error as { errno?: number }).errno === 1205
    throw new DbkeeperError(
      'RESTORE_FAILED',
      `${n.label} ${lockWait ? `is in use: RENAME TABLE waited ${LOCK_WAIT_SECONDS} s for another connection's lock` : `could not be swapped with the restored copy: ${why}`}; it was put back as it was, nothing was changed`,
      {
        hint: lockWait
          ? 'stop the application (and anything else connected to the database), then restore again'
          : "see the server's message; the backup itself loaded and checked fine — `--into NEWNAME` restores it beside the current database",
        cause: error,
      },
    )
  }
  const notes: string[] = []
  for (const db of [old, n.staging]) {
    const dropped = await conn.query(`DROP DATABASE IF EXISTS ${id(db)}`).then(
      () => true,
      (error: unknown) => {
        notes.push(
          `the restore is complete, but \`${db}\` could not be dropped (${describe(error)}): the next run drops it, or drop it by hand`,
        )
        return false
      },
    )
    if (dropped) await n.scratch?.forget(db).catch(() => {})
  }
  return notes
}

interface RollbackState extends SwapNames {
  old: string
  dropped: Definition[]
  created: Definition[]
  renamed: boolean
  stagedTables: string[]
  targetTables: string[]
}

/** Undoes a failed swap step by step; returns undefined when the target is as it was, else what failed. */
async function rollBack(conn: Connection, s: RollbackState): Promise<string | undefined> {
  try {
    await conn.query('SET NAMES utf8mb4')
    for (const d of [...s.created].reverse()) await conn.query(dropStatement(d, s.target))
    if (s.renamed) {
      const back = [
        ...s.stagedTables.map((t) => `${id(s.target)}.${id(t)} TO ${id(s.staging)}.${id(t)}`),
        ...s.targetTables.map((t) => `${id(s.old)}.${id(t)} TO ${id(s.target)}.${id(t)}`),
      ]
      if (back.length > 0) await conn.query(`RENAME TABLE ${back.join(', ')}`)
    }
    await createAll(conn, s.dropped, s.target, s.target, [])
  } catch (error) {
    return describe(error)
  }
  // The old database is empty again; the staged copy is of no use once the restore failed.
  for (const db of [s.old, s.staging]) {
    await conn
      .query(`DROP DATABASE IF EXISTS ${id(db)}`)
      .then(() => s.scratch?.forget(db))
      .catch(() => {})
  }
  return undefined
}

function describe(error: unknown): string {
  const e = error as { code?: string; sqlMessage?: string }
  return e.sqlMessage ?? toDbkeeperError(error).message
}
