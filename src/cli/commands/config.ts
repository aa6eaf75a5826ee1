import type { Command } from '../command.js'
import { CODECS } from '../../config/codecs.js'
import { parseCommandArgs } from '../args.js'

export const configCommand: Command = {
  name: 'config',
  summary: 'show the effective configuration, secrets masked',
  usage: `Usage: dbkeeper config [--json]

Prints the configuration dbkeeper would run with, after defaults and validation.
Passwords and other secrets are shown as ***.

  --json   machine-readable output`,
  needsConfig: true,
  async run(ctx) {
    const { values } = parseCommandArgs('config', ctx.args, { json: { type: 'boolean' } })
    if (values.json) {
      ctx.print(JSON.stringify(ctx.config, null, 2))
      return 0
    }
    const c = ctx.config
    const lines = [
      `backup directory:  ${c.backupDir}`,
      `compression:       ${c.compression.kind}${CODECS[c.compression.kind].levels === undefined ? '' : ` (level ${c.compression.level})`}`,
      `time zone:         ${c.tz}`,
      `retention:         ${describePolicy(c.retention)}`,
      `log:               ${c.log.level}, ${c.log.format ?? 'json (pretty on a terminal)'}`,
      '',
      `sources (${c.sources.length}):`,
    ]
    for (const s of c.sources) {
      const where = s.engine === 'sqlite' ? s.path : `${s.user ?? ''}@${s.host}:${s.port}`
      const dbs = s.databases === 'ALL' ? 'ALL' : s.databases.join(', ')
      lines.push(`  ${s.id} ${s.label}: ${s.engine} ${where} databases=${dbs}${s.password ? ' password=***' : ''}`)
      if (s.extraOpts.length) lines.push(`      extra options: ${s.extraOpts.join(' ')}`)
      if (JSON.stringify(s.retention) !== JSON.stringify(c.retention))
        lines.push(`      retention: ${describePolicy(s.retention)}`)
    }
    ctx.print(lines.join('\n'))
    return 0
  },
}

export function describePolicy(p: object): string {
  const parts = Object.entries(p)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${k}=${String(v)}`)
  return parts.length ? parts.join(' ') : '(none)'
}
