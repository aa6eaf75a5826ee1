/**
 * The question before a restore replaces anything. On a terminal the operator types `yes`; without
 * one (cron, CI, `docker exec` without -t) there is nobody to ask, so `--yes` must say it up front.
 */
import { createInterface } from 'node:readline/promises'
import { DbkeeperError } from '../runtime/errors.js'

export type Ask = (question: string) => Promise<string>

/** Asks on stderr and reads stdin: stdout stays the command's output. */
export const askOnTerminal: Ask = async (question) => {
  const rl = createInterface({ input: process.stdin, output: process.stderr })
  try {
    return await rl.question(question)
  } finally {
    rl.close()
  }
}

export interface ConfirmOptions {
  yes: boolean
  /** stdin and stderr are terminals. */
  interactive: boolean
  ask: Ask
}

/** USAGE (exit 2) when confirmation is impossible; ABORTED when the operator says no. */
export function requireConfirmable(opts: Pick<ConfirmOptions, 'yes' | 'interactive'>, what: string): void {
  if (opts.yes || opts.interactive) return
  throw new DbkeeperError('USAGE', `${what} needs a confirmation, and there is no terminal to ask on`, {
    hint: 'run it in a terminal (docker exec -it …), or add --yes to confirm on the command line',
  })
}

export async function confirm(plan: string, opts: ConfirmOptions): Promise<void> {
  if (opts.yes) return
  const answer = (await opts.ask(`${plan}\nType yes to continue: `)).trim().toLowerCase()
  if (answer !== 'yes') {
    throw new DbkeeperError('ABORTED', `not confirmed (answer ${JSON.stringify(answer)}): nothing was changed`, {
      hint: 'type yes to restore, or add --yes',
    })
  }
}
