import { parseArgs, type ParseArgsConfig } from 'node:util'
import { closest } from '../runtime/did-you-mean.js'
import { DbkeeperError } from '../runtime/errors.js'

type Options = NonNullable<ParseArgsConfig['options']>

/** node:util parseArgs, with its errors turned into USAGE errors of our own wording that point at --help. */
export function parseCommandArgs<T extends Options>(command: string, args: string[], options: T) {
  try {
    return parseArgs({ args, options, allowPositionals: true, strict: true })
  } catch (error) {
    throw new DbkeeperError('USAGE', usageMessage(command, error as Error & { code?: string }, options), {
      hint: `see dbkeeper ${command} --help`,
    })
  }
}

/**
 * Node's own wording quotes the option once and leaves a quote open ("as in '-- "--jsn"");
 * ours names the option, the nearest one the command takes, or all of them.
 */
function usageMessage(command: string, error: Error & { code?: string }, options: Options): string {
  const flags = Object.keys(options).map((name) => `--${name}`)
  if (error.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
    const given = /^Unknown option '([^']+)'/.exec(error.message)?.[1] ?? '?'
    const near = closest(given.replace(/=.*$/, ''), flags)
    if (near) return `unknown option ${given}: did you mean ${near}?`
    return flags.length === 0
      ? `unknown option ${given}: ${command} takes no options`
      : `unknown option ${given}: ${command} takes ${flags.join(', ')}`
  }
  if (error.code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') {
    const missing = /^Option '(?:-\w, )?(--[\w-]+) <value>' argument missing/.exec(error.message)?.[1]
    if (missing) return `option ${missing} needs a value (${missing} VALUE)`
    const noValue = /^Option '(?:-\w, )?(--[\w-]+)' does not take an argument/.exec(error.message)?.[1]
    if (noValue) return `option ${noValue} takes no value`
  }
  return error.message
}
