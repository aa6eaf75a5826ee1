/**
 * `dbkeeper check` and the daemon's start-up check of a DBnn_PITR MySQL/MariaDB source: the binlog
 * tool runs, and the server keeps a binlog our user may stream for longer than PITR_WINDOW
 * (binlog-preflight.ts judges). Errors refuse with every variable and GRANT named at once; warnings
 * (a non-ROW format) pass, named in the line the check prints and the daemon logs.
 */
import type { SourceConfig } from '../../config/types.js'
import { formatDuration } from '../../runtime/duration.js'
import { childEnv, runToolForOutput } from '../subprocess.js'
import { BINLOG_TOOL } from './binlog-archiver.js'
import { binlogProblemsError, checkBinlogSettings } from './binlog-preflight.js'

/** One line when the source can be archived (with its warnings); throws the refusal otherwise. */
export async function checkBinlogArchiving(
  source: SourceConfig,
  windowMs: number,
  signal: AbortSignal = AbortSignal.timeout(60_000),
): Promise<string> {
  const version = await runToolForOutput(BINLOG_TOOL, ['--version'], {
    env: childEnv(),
    installHint: 'install the MariaDB client tools (Debian: mariadb-client)',
  })
  if (version.exitCode !== 0) throw new Error(`${BINLOG_TOOL} --version exited ${version.exitCode}: ${version.stderr}`)
  const problems = await checkBinlogSettings(source, windowMs, signal)
  const refusal = binlogProblemsError(source, problems)
  if (refusal) throw refusal
  const warnings = problems.filter((p) => p.severity === 'warning')
  const tool = version.stdout.trim().split('\n')[0] ?? BINLOG_TOOL
  return [
    `binlog streamable for PITR_WINDOW ${formatDuration(windowMs)} (${tool})`,
    ...warnings.map((w) => `warning: ${w.message} (${w.subject}: ${w.fix})`),
  ].join('; ')
}
