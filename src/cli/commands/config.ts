import type { Command } from '../command.js'
import { parseCommandArgs } from '../args.js'
import { renderConfig } from '../config-text.js'

export const configCommand: Command = {
  name: 'config',
  usage: `Usage: dbkeeper config [--json]

Prints the configuration dbkeeper would run with, after defaults and validation, grouped:
sources, schedule and health, retention, compression, alerts, S3, restore and drills.
Passwords and other secrets are shown as ***. Engines are shown as configured (DBnn_TYPE).

  --json   machine-readable output (the same fields; a source's "engine" is the kind the
           type maps to, e.g. mysql for mariadb, its "type" what DBnn_TYPE says)`,
  needsConfig: true,
  usesVolume: false,
  async run(ctx) {
    const { values } = parseCommandArgs('config', ctx.args, { json: { type: 'boolean' } })
    // One object for both outputs: the human text is drawn from the JSON, never beside it.
    const view = JSON.parse(JSON.stringify(ctx.config)) as Parameters<typeof renderConfig>[0]
    ctx.print(values.json ? JSON.stringify(view, null, 2) : renderConfig(view))
    return 0
  },
}
