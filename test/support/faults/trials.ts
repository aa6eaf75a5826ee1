/**
 * The fault-injection suite's ledger (issue 10). Every injected fault is one trial; a test
 * records each trial it ran with `recordTrial`, and `scripts/fault-table.mjs` turns the ledger
 * into the table of docs/RELIABILITY.md (fault, trials, survived, data lost).
 *
 * A trial is recorded as survived only when every check of that trial passed: record it AFTER
 * the assertions (a failed assertion throws first, and the trial is recorded as not survived by
 * `trial()` below). `dataLost` counts backups or rows that were proven before the fault and are
 * gone or unreadable after it.
 */
import { appendFileSync } from 'node:fs'
import { join } from 'node:path'

const ROOT = new URL('../../..', import.meta.url).pathname

/** Where the ledger goes: FAULTS_RESULTS, or .faults-results.jsonl at the repository root. */
export const LEDGER = process.env.FAULTS_RESULTS ?? join(ROOT, '.faults-results.jsonl')

export interface TrialRecord {
  /** The table row: one fault class, e.g. "SIGKILL of dbkeeper backup". Keep it stable. */
  fault: string
  /** What was tried this time, e.g. "during compression (after 40 MB)". */
  point: string
  survived: boolean
  dataLost: number
  /** For a trial that was not survived: what went wrong. */
  detail?: string
}

export function recordTrial(record: TrialRecord): void {
  appendFileSync(LEDGER, `${JSON.stringify({ ...record, at: new Date().toISOString() })}\n`)
}

/**
 * Runs one trial: `body` injects the fault and asserts everything that must hold afterwards,
 * returning the number of proven backups (or rows) lost, normally 0. Any throw records the
 * trial as not survived, then rethrows so that the test fails too.
 */
export async function trial(fault: string, point: string, body: () => Promise<number | void>): Promise<void> {
  let lost: number
  try {
    lost = (await body()) ?? 0
  } catch (error) {
    recordTrial({
      fault,
      point,
      survived: false,
      dataLost: 0,
      detail: error instanceof Error ? error.message.slice(0, 300) : String(error),
    })
    throw error
  }
  recordTrial({ fault, point, survived: lost === 0, dataLost: lost })
  if (lost !== 0) throw new Error(`${fault} at ${point}: ${lost} proven backups or rows lost`)
}
