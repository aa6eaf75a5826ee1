#!/usr/bin/env node
/**
 * The fault-injection suite's figures (issue 10): reads the ledger that test/support/faults/trials.ts
 * writes (FAULTS_RESULTS, or .faults-results.jsonl at the repository root; one JSON object per
 * line: {fault, point, survived, dataLost, detail?, at}) and prints a markdown table — fault,
 * trials, survived, data lost — with a total row, then every trial that was not survived with
 * what went wrong. It only reports: the exit code is always 0 (vitest decides pass or fail).
 *
 *   node scripts/fault-table.mjs [LEDGER]
 */
import { existsSync, readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))
const ledger = process.argv[2] ?? process.env.FAULTS_RESULTS ?? `${root}.faults-results.jsonl`

/** `|` and line ends would break a table cell. */
const cell = (text) =>
  String(text)
    .replace(/\|/g, '\\|')
    .replace(/\s*\n\s*/g, ' ')

function main() {
  if (!existsSync(ledger)) {
    console.log(`No fault-injection results: ${ledger} does not exist (run \`npm run test:faults\`).`)
    return
  }
  const trials = []
  const unreadable = []
  readFileSync(ledger, 'utf8')
    .split('\n')
    .forEach((line, i) => {
      if (line.trim() === '') return
      try {
        const t = JSON.parse(line)
        if (typeof t.fault !== 'string' || typeof t.survived !== 'boolean') throw new Error('not a trial')
        trials.push({
          fault: t.fault,
          point: String(t.point ?? ''),
          survived: t.survived,
          dataLost: Number(t.dataLost) || 0,
          detail: t.detail,
          at: t.at,
        })
      } catch {
        unreadable.push(i + 1)
      }
    })

  // One row per fault class, in the order the classes first appear in the ledger.
  const rows = new Map()
  for (const t of trials) {
    const row = rows.get(t.fault) ?? { trials: 0, survived: 0, dataLost: 0 }
    row.trials += 1
    if (t.survived) row.survived += 1
    row.dataLost += t.dataLost
    rows.set(t.fault, row)
  }
  const total = {
    trials: trials.length,
    survived: trials.filter((t) => t.survived).length,
    dataLost: trials.reduce((n, t) => n + t.dataLost, 0),
  }

  const out = ['| fault | trials | survived | data lost |', '| --- | ---: | ---: | ---: |']
  for (const [fault, r] of rows) out.push(`| ${cell(fault)} | ${r.trials} | ${r.survived} | ${r.dataLost} |`)
  out.push(`| **total** | **${total.trials}** | **${total.survived}** | **${total.dataLost}** |`)

  const failed = trials.filter((t) => !t.survived)
  if (failed.length > 0) {
    out.push('', `Not survived (${failed.length}):`, '')
    for (const t of failed) {
      const lost = t.dataLost > 0 ? ` (${t.dataLost} lost)` : ''
      out.push(`- **${cell(t.fault)}** at ${cell(t.point)}${lost}: ${cell(t.detail ?? 'no detail recorded')}`)
    }
  }
  if (unreadable.length > 0) out.push('', `Unreadable ledger lines (skipped): ${unreadable.join(', ')}`)
  console.log(out.join('\n'))
}

try {
  main()
} catch (error) {
  // A report, never a verdict: even an unreadable ledger does not change the exit code.
  console.log(
    `cannot read the fault-injection results in ${ledger}: ${error instanceof Error ? error.message : String(error)}`,
  )
}
process.exitCode = 0
