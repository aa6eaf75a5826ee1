import { parseArgs, type ParseArgsConfig } from 'node:util'
import { DbkeeperError } from '../runtime/errors.js'

type Options = NonNullable<ParseArgsConfig['options']>

/** node:util parseArgs, with its errors turned into USAGE errors that point at --help. */
export function parseCommandArgs<T extends Options>(command: string, args: string[], options: T) {
  try {
    return parseArgs({ args, options, allowPositionals: true, strict: true })
  } catch (error) {
    throw new DbkeeperError('USAGE', (error as Error).message, { hint: `see dbkeeper ${command} --help` })
  }
}
