import { runDaemon } from '../../daemon/daemon.js'
import type { Command } from '../command.js'
import { parseCommandArgs } from '../args.js'

const SIGNALS = ['SIGTERM', 'SIGINT'] as const

export const daemonCommand: Command = {
  name: 'daemon',
  usage: `Usage: dbkeeper daemon

Runs backups on SCHEDULE (cron syntax, in TZ; default every 6 hours) and once at start
(BACKUP_ON_START, default true). Serves GET /healthz and GET /metrics on HEALTH_PORT
(default 8080; 0 = off). Sends alerts per NOTIFY_ON. Logs JSON to stdout.
SIGTERM/SIGINT: stops scheduling, lets a running backup finish (SHUTDOWN_TIMEOUT, default
60s), takes one last backup when BACKUP_ON_SHUTDOWN=true, exits 0.`,
  needsConfig: true,
  usesVolume: true,
  async run(ctx) {
    parseCommandArgs('daemon', ctx.args, {})
    // main.ts aborts ctx.signal on the first signal; a second one is only logged here, and the
    // shutdown goes on within SHUTDOWN_TIMEOUT (main.ts does not exit early for the daemon).
    let signals = 0
    const onSignal = (sig: NodeJS.Signals): void => {
      signals += 1
      if (signals > 1)
        ctx.logger.warn(
          { signal: sig },
          `received ${sig} again: already shutting down (SHUTDOWN_TIMEOUT bounds the wait)`,
        )
      else ctx.logger.info({ signal: sig }, `received ${sig}`)
    }
    for (const sig of SIGNALS) process.on(sig, onSignal)
    try {
      await runDaemon(ctx.config, ctx.logger, ctx.signal)
    } finally {
      for (const sig of SIGNALS) process.off(sig, onSignal)
    }
    return 0
  },
}
