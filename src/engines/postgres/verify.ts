/**
 * Proof that a custom-format archive is readable. Its header is checked by `checkContent`; this
 * goes further and has pg_restore read the whole archive (table of contents and every data block)
 * and turn it into SQL thrown away. It needs no server and no credentials.
 *
 * Stronger than `pg_restore --list`, which reads only the table of contents: a truncated or
 * corrupt data block passes --list and fails here.
 */
import { createReadStream } from 'node:fs'
import type { Readable } from 'node:stream'
import { childEnv, runTool, type ToolExit } from '../subprocess.js'
import { keyLine } from './errors.js'
import { PG_FEED } from './client.js'

const PG_RESTORE_TO_NOWHERE = ['--file=/dev/null']

function verdict(exit: ToolExit): string | undefined {
  if (exit.inputError) return `the archive could not be read to the end: ${exit.inputError.message}`
  if (exit.exitCode === 0 && !exit.signal) return undefined
  const how = exit.signal ? `was killed by ${exit.signal}` : `exited ${exit.exitCode ?? '?'}`
  return `pg_restore cannot read the custom-format archive (pg_restore ${how}: ${keyLine(exit.stderr) || 'no message'})`
}

/**
 * Reads a decompressed custom-format archive from `input` (pg_restore reads custom archives
 * sequentially from stdin). Resolves undefined when the whole archive reads, else the reason.
 * Consumes `input` to its end, even when pg_restore gives up early.
 */
export async function verifyCustomArchiveStream(input: Readable, signal?: AbortSignal): Promise<string | undefined> {
  const exit = await runTool('pg_restore', PG_RESTORE_TO_NOWHERE, {
    ...PG_FEED,
    env: childEnv({ LC_MESSAGES: 'C' }),
    input,
    signal,
  })
  return verdict(exit)
}

/** The same check for an uncompressed archive on disk. */
export async function verifyCustomArchive(path: string, signal?: AbortSignal): Promise<string | undefined> {
  const input = createReadStream(path)
  try {
    return await verifyCustomArchiveStream(input, signal)
  } finally {
    input.destroy()
  }
}
