#!/usr/bin/env node
// Turns vitest's JSON report plus the results of the other checks (typecheck, lint, shellcheck)
// into the one closing line CI reads: `N passed, N failed` (`, N skipped` outside CI). Called by
// scripts/test.sh; plain JavaScript so that it runs even when the TypeScript toolchain is broken.
//
//   node scripts/test-summary.mjs --results .vitest-results.json --vitest-exit 1 --failed-check lint
//
// Exits 0 only when nothing failed. Notes go first; the count line is always the last line printed.
import { existsSync, readFileSync } from 'node:fs'
import { relative } from 'node:path'
import { parseArgs, stripVTControlCharacters } from 'node:util'

const { values } = parseArgs({
  options: {
    results: { type: 'string' },
    'vitest-exit': { type: 'string' },
    'failed-check': { type: 'string', multiple: true, default: [] },
  },
})

const inCI = process.env.CI === 'true' || process.env.CI === '1'
const notes = []
let passed = 0
let failed = 0
let skipped = 0
const failedNames = []
const skippedNames = []

// A check (typecheck, lint, shellcheck) counts as one failure when it fails and not at all when it
// passes: "N passed" stays the number of tests that ran, so a run that executed no test never
// looks green because the linters were happy.
for (const check of values['failed-check']) {
  failed++
  notes.push(`${check} failed (see its output above)`)
}

const vitestExit = values['vitest-exit'] === undefined ? undefined : Number(values['vitest-exit'])
const resultsFile = values.results

if (vitestExit !== undefined) {
  let report
  if (resultsFile && existsSync(resultsFile)) {
    try {
      report = JSON.parse(readFileSync(resultsFile, 'utf8'))
    } catch (error) {
      notes.push(`vitest's JSON report ${resultsFile} is unreadable: ${error.message}`)
    }
  } else {
    notes.push(
      `vitest wrote no JSON report${resultsFile ? ` (${resultsFile})` : ''}: it crashed or its global setup failed (see above)`,
    )
  }

  let vitestFailures = 0
  for (const file of report?.testResults ?? []) {
    const name = relative(process.cwd(), file.name ?? '?')
    let failedHere = 0
    for (const t of file.assertionResults ?? []) {
      const title = `${name} > ${t.fullName ?? t.title}`
      if (t.status === 'passed') passed++
      else if (t.status === 'failed') {
        failedHere++
        // The assertion's first line goes with the name: CI keeps only the tail of the output,
        // and a flaky failure is only worth anything with what it measured.
        const why = firstLine(t.failureMessages?.[0])
        failedNames.push(why ? `${title}\n      ${why}` : title)
      } else {
        // skipped, pending, todo
        skipped++
        skippedNames.push(`${title} (${t.status})`)
      }
    }
    // A file that failed to load or whose beforeAll threw has no failed test of its own: count it
    // once, or a broken file would disappear from the count.
    if (file.status === 'failed' && failedHere === 0) {
      failedHere = 1
      failedNames.push(`${name} (the file failed: ${firstLine(file.message) || 'see above'})`)
    }
    vitestFailures += failedHere
  }
  // Unhandled errors, a crashed worker or a failed global setup make vitest exit non-zero with
  // every recorded test passing: that is a failure too.
  if (vitestExit !== 0 && vitestFailures === 0) {
    vitestFailures = 1
    notes.push(
      `vitest exited ${vitestExit} without a failed test in its report (an unhandled error, a crash or a failed global setup: see above)`,
    )
  }
  if (report && (report.testResults ?? []).length === 0) notes.push('vitest ran no test file')
  failed += vitestFailures
}

if (failedNames.length > 0) {
  notes.push(`failed tests:\n${list(failedNames)}`)
}

// A skipped test is a hole in CI (restic's habit): under CI=true every skipped, pending or todo
// test counts as failed, so that a `.skip` or a missing server cannot pass unnoticed.
if (skipped > 0 && inCI) {
  notes.push(`skipped tests count as failed in CI (CI=true):\n${list(skippedNames)}`)
  failed += skipped
} else if (skipped > 0) {
  notes.push(`skipped tests (these would fail in CI):\n${list(skippedNames)}`)
}

for (const note of notes) console.log(`note: ${note}`)
console.log(`${passed} passed, ${failed} failed${skipped > 0 && !inCI ? `, ${skipped} skipped` : ''}`)
process.exitCode = failed === 0 ? 0 : 1

function firstLine(text) {
  return stripVTControlCharacters(String(text ?? ''))
    .split('\n')[0]
    .slice(0, 300)
}

function list(names) {
  const shown = names.slice(0, 30).map((n) => `  - ${n}`)
  if (names.length > 30) shown.push(`  … and ${names.length - 30} more`)
  return shown.join('\n')
}
