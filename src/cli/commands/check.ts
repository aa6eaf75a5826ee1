import { runPreflight } from '../../daemon/preflight.js'
import type { Command } from '../command.js'
import { parseCommandArgs } from '../args.js'

export const checkCommand: Command = {
  name: 'check',
  usage: `Usage: dbkeeper check [--json]

Checks, without taking a backup or sending an alert:
  - every source is reachable with its credentials, and its dump tool is installed and
    compatible with the server;
  - the backup volume is writable with free space for at least the last backup;
  - S3 (when S3_BUCKET is set): the credentials and the bucket, by writing a small probe object
    (S3_PREFIX/.dbkeeper-check-<random>), reading it back equal and deleting it; the bucket's
    versioning and Object Lock state where the store answers ("unknown" where it does not);
  - SMTP (when SMTP_HOST is set): connection, TLS as configured and the login; no mail is sent;
  - the webhook (when WEBHOOK_URL is set): a HEAD request answered; no alert is posted.
One line per check. Exit 0 when all pass, 1 otherwise. \`dbkeeper alert --test\` sends a real
(test) alert on every channel.

  --json   an array of {name, ok, detail}`,
  needsConfig: true,
  usesVolume: false,
  async run(ctx) {
    const { values } = parseCommandArgs('check', ctx.args, { json: { type: 'boolean' } })
    const results = await runPreflight(ctx.config, ctx.logger, { bucketState: true, signal: ctx.signal })
    if (values.json) ctx.print(JSON.stringify(results, null, 2))
    else for (const r of results) ctx.print(`${r.ok ? 'ok    ' : 'FAILED'} ${r.name}: ${r.detail}`)
    return results.every((r) => r.ok) ? 0 : 1
  },
}
