import { createRequire } from 'node:module'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { execa } from 'execa'
import type { SourceConfig } from '../../config/types.js'
import { DbkeeperError } from '../../runtime/errors.js'
import { scrubSecrets } from '../../runtime/secrets.js'
import { childEnv, lastLines } from '../subprocess.js'
import type { ChildCopied, ChildResult, SnapshotCommand } from './snapshot-child.js'

export type ChildSuccess = Extract<ChildResult, { ok: true }>

/**
 * How long SQLite waits for another process's lock before giving up. Only a rollback-journal
 * database makes us wait (a writer committing, or a long transaction that spilled its cache);
 * WAL readers never wait. Generous, since the wait happens in the child, not on our event loop.
 */
export const BUSY_TIMEOUT_MS = 60_000

export interface ChildContext {
  source: SourceConfig
  path: string
  /** Where SQLite puts its own temporary files: the backup volume, not a small /tmp. */
  workDir: string
  signal: AbortSignal
}

/**
 * The command line of a child: the backup's snapshot, or a restore's inspection. better-sqlite3
 * is synchronous: a VACUUM INTO of a large file, an integrity_check or a busy wait on a writer's
 * lock would freeze our event loop (health server, progress, SIGTERM) for seconds, and an abort
 * could not stop it. A child can be killed at once.
 */
export function childArgs(child: 'snapshot-child' | 'inspect-child'): string[] {
  const self = import.meta.url
  if (self.endsWith('.ts')) {
    // A development checkout or the tests: the TypeScript source runs through tsx, as bin/dbkeeper.js does.
    const tsx = createRequire(self).resolve('tsx')
    return ['--import', pathToFileURL(tsx).href, fileURLToPath(new URL(`./${child}.ts`, self))]
  }
  return [fileURLToPath(new URL(`./${child}.js`, self))]
}

/**
 * Runs one child command; resolves with its result or rejects with a DbkeeperError for the operator.
 * `onCopied` is called when a `snapshot` child says its copy is final (snapshot-child.ts), while
 * the child goes on checking it.
 */
export async function runSqliteChild(args: string[], ctx: ChildContext, onCopied?: () => void): Promise<ChildSuccess> {
  ctx.signal.throwIfAborted()
  const child = spawnSnapshotChild(args, ctx.workDir, ctx.signal, 'ignore')
  if (onCopied) onLines(child.stdout, (line) => isCopied(line) && onCopied())
  return judge(await child, ctx)
}

/** Calls `online` with each whole line `stream` prints. */
function onLines(stream: NodeJS.ReadableStream | null, online: (line: string) => void): void {
  let text = ''
  stream?.on('data', (chunk: Buffer) => {
    text += chunk.toString('utf8')
    for (let nl = text.indexOf('\n'); nl !== -1; nl = text.indexOf('\n')) {
      online(text.slice(0, nl))
      text = text.slice(nl + 1)
    }
  })
}

/** A child's exit and its last line → its result, or the DbkeeperError for the operator. */
function judge(
  result: {
    isCanceled: boolean
    stdout: string
    stderr: string
    exitCode?: number | undefined
    signal?: string | undefined
  },
  ctx: ChildContext,
): ChildSuccess {
  if (result.isCanceled)
    throw new DbkeeperError('ABORTED', `the SQLite snapshot of ${ctx.path} was stopped: the run was aborted`)
  const answer = parseAnswer(result.stdout)
  if (answer === undefined || result.exitCode !== 0) {
    const how = result.signal ? `was killed by ${result.signal}` : `exited ${result.exitCode ?? '?'}`
    const stderr = lastLines(scrubSecrets(result.stderr).trim(), 10)
    throw new DbkeeperError(
      'DUMP_FAILED',
      `the SQLite snapshot process for ${ctx.path} ${how}${stderr ? `: ${stderr}` : ''}`,
      {
        hint: 'see the log for the error; a kill by SIGKILL usually means the container ran out of memory',
      },
    )
  }
  if (!answer.ok) throw childError(answer.code, answer.message, ctx)
  return answer
}

/** snapshot-child.ts with `args`; stdin piped only for `serve`, which reads its command there. */
function spawnSnapshotChild(args: string[], workDir: string, cancelSignal: AbortSignal, stdin: 'ignore' | 'pipe') {
  return execa(process.execPath, [...childArgs('snapshot-child'), ...args], {
    stdin,
    reject: false,
    extendEnv: false,
    env: childEnv({ SQLITE_TMPDIR: workDir }),
    cancelSignal,
    forceKillAfterDelay: 5000,
  })
}

/**
 * The probe and the snapshot of one backup in one child (`serve`, snapshot-child.ts): one Node
 * start-up less per backup. `start` probes; the child then waits, its handles unref'd (it keeps no
 * process alive), for `snapshot` or `close`. It ends when asked, when its stdin closes (this
 * process died), or when killed; an abort of the signal of the step under way kills it.
 */
export class SqliteSession {
  readonly #child: ReturnType<typeof spawnSnapshotChild>
  readonly #cancel = new AbortController()
  /** The probe's line: the first whole line on stdout. */
  readonly #probed: Promise<string | undefined>
  /** Lines after the probe's, for the snapshot's `copied`. */
  #onLine: ((line: string) => void) | undefined
  #used = false
  #exited = false
  readonly #exit: Promise<void>

  constructor(path: string, busyTimeoutMs: number, workDir: string) {
    this.#child = spawnSnapshotChild(['serve', path, String(busyTimeoutMs)], workDir, this.#cancel.signal, 'pipe')
    this.#exit = this.#child.then(
      () => void (this.#exited = true),
      () => void (this.#exited = true),
    )
    let first: (line: string | undefined) => void
    this.#probed = new Promise((resolve) => (first = resolve))
    let lines = 0
    onLines(this.#child.stdout, (line) => {
      if (lines++ === 0) first(line)
      else this.#onLine?.(line)
    })
    void this.#exit.then(() => first(undefined))
  }

  /** The probe's result, once the child printed it; rejects (and the child is gone) when it failed. */
  async probe(ctx: ChildContext): Promise<ChildSuccess> {
    const stop = () => this.#cancel.abort()
    ctx.signal.addEventListener('abort', stop, { once: true })
    try {
      if (ctx.signal.aborted) stop()
      const line = await this.#probed
      const answer = line === undefined ? undefined : parseLine(line)
      // A good probe: the child waits for the snapshot. Anything else: its exit says what happened.
      if (answer?.ok && !this.#cancel.signal.aborted) return answer
      return judge(await this.#child, ctx)
    } catch (error) {
      await this.close()
      throw error
    } finally {
      ctx.signal.removeEventListener('abort', stop)
    }
  }

  /** Waiting for the snapshot, unused: it keeps no event loop alive (ref() undoes it). */
  unref(): void {
    this.#hold('unref')
  }

  #ref(): void {
    this.#hold('ref')
  }

  /** The child and its three pipes, ref'd or unref'd together. */
  #hold(call: 'ref' | 'unref'): void {
    this.#child[call]()
    for (const stream of [this.#child.stdin, this.#child.stdout, this.#child.stderr])
      (stream as unknown as Partial<Record<typeof call, () => void>> | null)?.[call]?.()
  }

  /** Whether `snapshot` can still be asked: probed, not yet asked, not exited, not closed. */
  get ready(): boolean {
    return !this.#used && !this.#exited && !this.#cancel.signal.aborted
  }

  /** As runSqliteChild(['snapshot', …]): resolves with the checked copy's result once the child exited. */
  async snapshot(out: string, ctx: ChildContext, onCopied: () => void): Promise<ChildSuccess> {
    if (!this.ready) throw new Error('the SQLite session was used, closed or has exited')
    this.#used = true
    this.#ref()
    const stop = () => this.#cancel.abort()
    ctx.signal.addEventListener('abort', stop, { once: true })
    try {
      ctx.signal.throwIfAborted()
      this.#onLine = (line) => isCopied(line) && onCopied()
      const command: SnapshotCommand = { snapshot: out }
      this.#child.stdin?.end(`${JSON.stringify(command)}\n`)
      const result = await this.#child
      return judge({ ...result, stdout: result.stdout.split('\n').slice(1).join('\n') }, ctx)
    } catch (error) {
      stop()
      await this.#exit
      throw error
    } finally {
      ctx.signal.removeEventListener('abort', stop)
    }
  }

  /**
   * Ends an unused child (its stdin closes: it exits at once); resolves once it has exited. Its
   * handles are ref'd again first: a caller awaiting this with nothing else pending (`dbkeeper
   * check` after its probe) would otherwise see Node exit 13 with the await unsettled.
   */
  close(): Promise<void> {
    if (!this.#used) {
      this.#used = true
      this.#ref()
      this.#child.stdin?.end()
    }
    return this.#exit
  }
}

function isCopied(line: string): boolean {
  try {
    return (JSON.parse(line) as Partial<ChildCopied>).copied === true
  } catch {
    return false
  }
}

function parseAnswer(stdout: string): ChildResult | undefined {
  const line = stdout.trim().split('\n').at(-1)
  if (!line) return undefined
  return parseLine(line)
}

function parseLine(line: string): ChildResult | undefined {
  try {
    return JSON.parse(line) as ChildResult
  } catch {
    return undefined
  }
}

/** SQLite's result code → an error that names the cause and the next step. */
function childError(code: string, message: string, { source, path, workDir }: ChildContext): DbkeeperError {
  const variable = `${source.id}_PATH`
  if (code === 'SQLITE_NOTADB') {
    return new DbkeeperError('NOT_FOUND', `${path} is not an SQLite database (${message})`, {
      hint: `check ${variable}: it must name the application's database file (an encrypted database cannot be backed up)`,
    })
  }
  if (code.startsWith('SQLITE_CANTOPEN')) {
    return new DbkeeperError('IO', `cannot open the SQLite database ${path}: ${message}`, {
      hint:
        `its directory must be readable (check ${variable}); a WAL database on a read-only mount opens only ` +
        'while the application has it open (its -wal and -shm files exist): mount it read-write',
    })
  }
  if (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED')) {
    return new DbkeeperError(
      'DUMP_FAILED',
      `the SQLite database ${path} stayed locked for ${BUSY_TIMEOUT_MS / 1000} s (${message})`,
      {
        hint: 'another process holds a long write transaction; retry later, or switch the application to WAL mode (readers never wait there)',
      },
    )
  }
  if (code === 'INTEGRITY_FAILED' || code.startsWith('SQLITE_CORRUPT')) {
    return new DbkeeperError(
      'DUMP_FAILED',
      `the SQLite database ${path} is damaged: ${code === 'INTEGRITY_FAILED' ? `integrity_check found: ${message}` : message}`,
      {
        hint: `earlier backups are kept; inspect the live file with sqlite3 "PRAGMA integrity_check" and repair it (.recover) before the next run`,
      },
    )
  }
  if (code === 'SQLITE_FULL') {
    return new DbkeeperError('NO_SPACE', `no space left for the SQLite snapshot in ${workDir} (${message})`, {
      hint: 'free space in BACKUP_DIR (the snapshot is taken there and needs about the size of the database) or keep fewer backups (KEEP_*, BACKUP_RETENTION_DAYS)',
    })
  }
  return new DbkeeperError('DUMP_FAILED', `the SQLite snapshot of ${path} failed: ${code}: ${message}`, {
    hint: `check ${variable} and the log`,
  })
}
