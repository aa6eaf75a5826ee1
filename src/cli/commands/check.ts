import { runPreflight } from '../../daemon/preflight.js'
import type { Command } from '../command.js'
import { parseCommandArgs } from '../args.js'

export const checkCommand: Command = {
  name: 'check',
  summary: 'preflight: sources reachable, tools compatible, volume writable, alerts reachable',
  usage: `Usage: dbkeeper check [--json]

Checks, without taking a backup: every source is reachable with its credentials and its
dump tool is installed and compatible with the server; the backup volume is writable with
free space for at least the last backup; the SMTP server and webhook are reachable when
configured. One line per check. Exit 0 when all pass, 1 otherwise.

  --json   an array of {name, ok, detail}`,
  needsConfig: true,
  async run(ctx) {
    const { values } = parseCommandArgs('check', ctx.args, { json: { type: 'boolean' } })
    const results = await runPreflight(ctx.config, ctx.logger)
    if (values.json) ctx.print(JSON.stringify(results, null, 2))
    else for (const r of results) ctx.print(`${r.ok ? 'ok    ' : 'FAILED'} ${r.name}: ${r.detail}`)
    return results.every((r) => r.ok) ? 0 : 1
  },
}
