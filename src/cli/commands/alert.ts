import { hostname } from 'node:os'
import { sendTestAlert } from '../../notify/index.js'
import { DbkeeperError } from '../../runtime/errors.js'
import type { Command } from '../command.js'
import { parseCommandArgs } from '../args.js'

export const alertCommand: Command = {
  name: 'alert',
  usage: `Usage: dbkeeper alert --test [--json]

Sends one alert marked "dbkeeper test alert — no action needed" on every configured channel
(email through SMTP_HOST to MAIL_TO, a JSON POST to WEBHOOK_URL with "kind": "test"), and
reports each channel's outcome. Nothing is backed up and nothing else is sent.
Exit 0 when every channel delivered, 1 when any failed, 2 when no channel is configured.

  --test   required: sending is what this command does, so it is never done by accident
  --json   an array of {channel, ok, detail}`,
  needsConfig: true,
  usesVolume: false,
  async run(ctx) {
    const { values, positionals } = parseCommandArgs('alert', ctx.args, {
      test: { type: 'boolean' },
      json: { type: 'boolean' },
    })
    if (!values.test || positionals.length > 0) {
      throw new DbkeeperError(
        'USAGE',
        positionals.length > 0 ? `alert takes no arguments (got ${positionals.join(' ')})` : 'alert needs --test',
        { hint: 'run dbkeeper alert --test' },
      )
    }
    const { email, webhook } = ctx.config.notify
    if (!email && !webhook) {
      throw new DbkeeperError('CONFIG', 'no alert channel is configured: there is nothing to test', {
        hint: 'set SMTP_HOST and MAIL_TO (email) and/or WEBHOOK_URL (docs/OPERATIONS.md, Alerts)',
      })
    }
    const deliveries = await sendTestAlert(ctx.config.notify, hostname())
    // A failed channel's error already starts with the channel ("email to … via …: 535 …").
    const results = deliveries.map((d) => ({
      channel: d.target,
      ok: d.error === undefined,
      detail: d.error === undefined ? 'test alert delivered' : `${d.error} — ${d.hint}`,
    }))
    if (values.json) ctx.print(JSON.stringify(results, null, 2))
    else for (const r of results) ctx.print(r.ok ? `sent   ${r.channel}: ${r.detail}` : `FAILED ${r.detail}`)
    return results.every((r) => r.ok) ? 0 : 1
  },
}
