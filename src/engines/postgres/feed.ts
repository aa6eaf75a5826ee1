/**
 * Runs a client tool that reads a dump on standard input (psql, pg_restore), for restores and for
 * verifying custom-format archives.
 */
import { execa } from 'execa'
import type { Readable } from 'node:stream'
import { DbkeeperError } from '../../runtime/errors.js'
import { scrubSecrets } from '../../runtime/secrets.js'
import type { ToolExit } from '../subprocess.js'

const STDERR_LIMIT = 64 * 1024

export interface FedExit extends ToolExit {
  /** The input stream failed (e.g. a corrupt gzip) before the tool read it all. */
  inputError: Error | undefined
}

/**
 * Pipes `input` into `command` and resolves once the tool exited. `input` is never destroyed: when
 * the tool stops reading early (an error, or it needed only part of it), `input` is unpiped and
 * drained, so that a tee feeding it elsewhere (the verifier's hash) is not stalled.
 */
export async function runFedTool(command: string, args: string[], opts: { env: Record<string, string>; input: Readable; signal?: AbortSignal | undefined }): Promise<FedExit> {
  const child = execa(command, args, {
    stdin: 'pipe',
    stdout: 'ignore',
    stderr: 'pipe',
    buffer: false,
    reject: false,
    extendEnv: false,
    env: opts.env,
    cancelSignal: opts.signal,
    forceKillAfterDelay: 5000,
  })
  let stderr = ''
  child.stderr.setEncoding('utf8')
  child.stderr.on('data', (chunk: string) => {
    if (stderr.length < STDERR_LIMIT) stderr += chunk
  })
  // EPIPE when the tool exits before reading everything: its exit status tells us what happened.
  child.stdin.on('error', () => {})
  let inputError: Error | undefined
  const onInputError = (error: Error) => {
    inputError = error
    child.stdin.destroy()
  }
  opts.input.on('error', onInputError)
  opts.input.pipe(child.stdin)
  try {
    const result = await child
    if ((result.cause as NodeJS.ErrnoException | undefined)?.code === 'ENOENT') {
      throw new DbkeeperError('TOOL_MISSING', `${command} is not installed (not found on PATH)`, {
        hint: 'install postgresql-client (Debian/Ubuntu) in the dbkeeper image, at least the major version of the server',
      })
    }
    if (result.isCanceled) throw new DbkeeperError('ABORTED', `${command} was stopped: the run was aborted`)
    return { exitCode: result.exitCode, signal: result.signal, stderr: scrubSecrets(stderr).trim(), inputError }
  } finally {
    opts.input.off('error', onInputError)
    if (!opts.input.readableEnded) {
      opts.input.unpipe(child.stdin)
      // Drained only to unblock others: a later error of ours to ignore, not to crash on.
      opts.input.on('error', () => {})
      opts.input.resume()
    }
  }
}
