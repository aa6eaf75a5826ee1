/**
 * zstd as a pipeline stage: the `zstd` binary as a Duplex (our writes → its stdin, its stdout →
 * our reads). Node 20's zlib has no zstd; the binary is multi-threaded, well tested, and its output
 * is what `zstd -d` / `zstd -t` expect during an incident.
 */
import { spawn, type ChildProcessByStdio } from 'node:child_process'
import { availableParallelism } from 'node:os'
import { Duplex, type Readable, type Writable } from 'node:stream'
import { childEnv, lastLines } from '../engines/subprocess.js'
import { DbkeeperError } from '../runtime/errors.js'

const STDERR_TAIL_BYTES = 4096

/**
 * A filter process (stdin → stdout) as one Duplex with backpressure both ways: when our reader
 * stalls, the tool's stdout is paused, the tool blocks, stops reading, and our writes wait for
 * 'drain'. The readable side ends only once the tool exited 0: a stream that ended says nothing
 * about whether the tool succeeded. Destroying the stage kills the tool.
 */
export class ToolFilter extends Duplex {
  readonly #child: ChildProcessByStdio<Writable, Readable, Readable>
  readonly #what: string
  #stderr = ''
  #stdinError: Error | undefined

  constructor(command: string, args: string[], what: string) {
    // 1 MiB buffers: a pipe delivers 64 KiB at a time, and pausing the tool's stdout after every
    // chunk (the 16 KiB default) cost more main-thread time than hashing the data.
    super({ readableHighWaterMark: 1 << 20, writableHighWaterMark: 1 << 20 })
    this.#what = what
    // A minimal environment: not ours (it holds DBnn_PASS), and no ZSTD_CLEVEL/ZSTD_NBTHREADS
    // from the operator's shell silently changing what the manifest says.
    const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'], env: childEnv() })
    this.#child = child
    child.on('error', (error: NodeJS.ErrnoException) => this.destroy(this.#spawnError(command, error)))
    child.stdout.on('data', (chunk: Buffer) => {
      if (!this.push(chunk)) child.stdout.pause()
    })
    child.stderr.setEncoding('utf8')
    child.stderr.on('data', (text: string) => {
      this.#stderr = (this.#stderr + text).slice(-STDERR_TAIL_BYTES)
    })
    // EPIPE when the tool died early: its exit status and stderr say why, reported on 'close'.
    child.stdin.on('error', (error) => {
      this.#stdinError ??= error
    })
    child.on('close', (code, signal) => {
      if (this.destroyed) return
      if (code === 0 && !this.#stdinError) {
        this.push(null)
        return
      }
      const how = signal
        ? `was killed by ${signal}`
        : code === 0
          ? `stopped reading (${this.#stdinError?.message})`
          : `exited ${code ?? '?'}`
      const stderr = lastLines(this.#stderr.trim(), 5)
      this.destroy(
        new DbkeeperError('DUMP_FAILED', `${this.#what} ${how}${stderr ? `: ${stderr}` : ''}`, {
          hint:
            signal === 'SIGKILL'
              ? 'a kill by SIGKILL usually means the container ran out of memory'
              : 'see the message of the tool above',
        }),
      )
    })
  }

  override _read(): void {
    this.#child.stdout.resume()
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, done: (error?: Error | null) => void): void {
    if (this.#child.stdin.write(chunk)) done()
    else this.#child.stdin.once('drain', () => done())
  }

  override _final(done: (error?: Error | null) => void): void {
    // The readable side ends on 'close' (exit 0); an error there destroys the stage instead.
    this.#child.stdin.end(() => done())
  }

  override _destroy(error: Error | null, done: (error?: Error | null) => void): void {
    const child = this.#child
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
    done(error)
  }

  #spawnError(command: string, error: NodeJS.ErrnoException): DbkeeperError {
    if (error.code === 'ENOENT') {
      return new DbkeeperError(
        'TOOL_MISSING',
        `${command} is not installed (not found on PATH), needed for COMPRESSION=zstd`,
        {
          hint: 'install zstd (Debian/Ubuntu: apt-get install zstd; Alpine: apk add zstd), or set COMPRESSION=gzip',
          cause: error,
        },
      )
    }
    return new DbkeeperError('DUMP_FAILED', `${this.#what} could not start: ${error.message}`, { cause: error })
  }
}

/**
 * `zstd -<level>` on as many threads as this process may use. Not `-T0`: zstd counts the host's
 * physical cores, which in a container limited by CPU affinity is more than it may use.
 */
export function zstdCompress(level: number): ToolFilter {
  return new ToolFilter('zstd', ['-q', '-c', `-${level}`, `-T${availableParallelism()}`], 'zstd (compression)')
}

/** `zstd -d`: fails on a truncated or damaged frame, like `zstd -t`. */
export function zstdDecompress(): ToolFilter {
  return new ToolFilter('zstd', ['-d', '-q', '-c'], 'zstd (decompression)')
}
