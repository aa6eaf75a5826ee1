/**
 * The `dbkeeper` command line: argv → command, configuration loaded once, errors mapped to exit
 * codes in one place (runtime/errors.ts). Logs go to stderr for one-shot commands, so that stdout
 * carries only the command's output (`--json` stays parseable); the daemon logs to stdout.
 */
import { closest } from '../runtime/did-you-mean.js'
import { describeError, exitCodeFor, EXIT_USAGE, toDbkeeperError } from '../runtime/errors.js'
import { createLogger, type Logger } from '../runtime/logger.js'
import { setHeapFlags } from '../runtime/heap.js'
import { terminalSafe } from '../runtime/printable.js'
import { scrubOutput } from '../runtime/secrets.js'
import type { CommandContext } from './command.js'
import { commands } from './commands/index.js'

const VERSION = '0.1.0'

function usage(): string {
  const width = Math.max(...commands.map((c) => c.name.length))
  return [
    'dbkeeper — proven backups of MySQL/MariaDB, PostgreSQL and SQLite',
    '',
    'Usage: dbkeeper <command> [options]      (dbkeeper <command> --help for details)',
    '',
    ...commands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    '',
    'Configuration comes from environment variables (docs/CONFIGURATION.md).',
    'Exit codes: 0 ok, 1 a backup or restore failed, 2 usage or configuration error, 3 locked.',
  ].join('\n')
}

function write(stream: NodeJS.WriteStream, text: string): void {
  stream.write(`${terminalSafe(scrubOutput(text))}\n`)
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...args] = argv
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    write(name === undefined ? process.stderr : process.stdout, usage())
    return name === undefined ? EXIT_USAGE : 0
  }
  if (name === '--version' || name === '-V') {
    write(process.stdout, VERSION)
    return 0
  }
  const entry = commands.find((c) => c.name === name)
  if (!entry) {
    const names = commands.map((c) => c.name)
    const near = closest(name, names)
    write(
      process.stderr,
      near
        ? `dbkeeper: unknown command "${name}": did you mean ${near}?`
        : `dbkeeper: unknown command "${name}" — the commands are ${names.join(', ')} (dbkeeper --help says what each does)`,
    )
    return EXIT_USAGE
  }
  // Only this command's modules: the table imports each one when it runs (commands/index.ts).
  const command = await entry.load()
  if (args.includes('--help') || args.includes('-h')) {
    write(process.stdout, command.usage)
    return 0
  }

  // The first SIGINT/SIGTERM aborts the command cleanly (dump tools killed, temp files removed,
  // the run recorded); a second one exits at once. `process.on`, not `once`: execa's exit hook
  // re-raises a signal when it finds itself the only listener left, which would kill the process
  // with 143 before the clean-up ran. The daemon adds its own listener and ignores a second signal.
  const controller = new AbortController()
  let signals = 0
  const onSignal = (sig: NodeJS.Signals) => {
    signals += 1
    if (signals === 1) controller.abort(new Error(`received ${sig}`))
    else if (name !== 'daemon') process.exit(130)
  }
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)
  // A file size limit (RLIMIT_FSIZE: `ulimit -f`, systemd LimitFSIZE) must fail the write with
  // EFBIG, reported like a full disk, as Node arranges by ignoring SIGXFSZ. execa's exit hook
  // (signal-exit) listens for SIGXFSZ and, finding itself the only listener, re-raises it: the
  // process died mid-write, leaving its temporary file, no journal line and no alert.
  process.on('SIGXFSZ', () => {})

  // The logger is made when first used (runtime/logger.ts loads pino then): `status` logs nothing.
  let logOptions: Parameters<typeof createLogger>[0] = { level: 'info', format: undefined, destination: process.stderr }
  let logger: Logger | undefined
  const log = (): Logger => (logger ??= createLogger(logOptions))
  try {
    const config = command.needsConfig ? (await import('../config/index.js')).loadConfig() : (undefined as never)
    if (config)
      logOptions = {
        level: config.log.level,
        format: config.log.format,
        destination: command.name === 'daemon' ? process.stdout : process.stderr,
      }
    if (config && command.usesVolume)
      await (await import('../config/backup-dir.js')).checkBackupDirPath(config.backupDir, command.volumeReads)
    const ctx: CommandContext = {
      args,
      config,
      get logger() {
        return log()
      },
      signal: controller.signal,
      print: (text) => write(process.stdout, text),
      isTTY: Boolean(process.stdout.isTTY && process.stderr.isTTY),
    }
    return await command.run(ctx)
  } catch (error) {
    const e = toDbkeeperError(error)
    if (e.code === 'INTERNAL' || (e.code === 'IO' && !(error instanceof Error && 'hint' in error)))
      log().debug({ err: error }, 'details')
    write(process.stderr, `dbkeeper ${name}: ${describeError(e)}`)
    return exitCodeFor(e)
  }
}

// Before any command's modules load: a backup's peak RSS and CPU depend on them (runtime/heap.ts). Not for
// `status`, the HEALTHCHECK every 30 s: it allocates little (the same peak RSS without the bound),
// and loading node:v8 for the flag cost it ~15 M of ~195 M instructions (docs/PERFORMANCE.md,
// "Start-up"). test/cli/heap.test.ts checks both sides.
if (process.argv[2] !== 'status') setHeapFlags()
const code = await main(process.argv.slice(2))
// Let stdout drain (a piped `list --json` may be large), then exit even if a socket lingers.
process.stdout.write('', () => process.exit(code))
