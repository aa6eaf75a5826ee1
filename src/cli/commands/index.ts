import type { Command } from '../command.js'

/**
 * One row of the command table: what `dbkeeper --help` shows, and how to load the command. Each
 * command's module is imported only when that command runs, so `dbkeeper status` (the container's
 * HEALTHCHECK, every minute for the life of the container) and `--help` never load the AWS SDK,
 * the database drivers, nodemailer or prom-client (docs/PERFORMANCE.md, "Start-up").
 */
export interface CommandEntry {
  readonly name: string
  /** One line for `dbkeeper --help`. */
  readonly summary: string
  load(): Promise<Command>
}

/** The command table, in the order `dbkeeper --help` shows them. */
export const commands: readonly CommandEntry[] = [
  {
    name: 'backup',
    summary: 'back up every configured database now',
    load: async () => (await import('./backup.js')).backupCommand,
  },
  {
    name: 'list',
    summary: 'list proven backups, newest first',
    load: async () => (await import('./list.js')).listCommand,
  },
  {
    name: 'fetch',
    summary: 'download a backup from S3 and prove it (for a restore after the volume was lost)',
    load: async () => (await import('./fetch.js')).fetchCommand,
  },
  {
    name: 'restore',
    summary: 'restore a backup into its database, a new one, or a file',
    load: async () => (await import('./restore.js')).restoreCommand,
  },
  {
    name: 'verify',
    summary: 're-check backups; --drill restores them into a scratch database and compares',
    load: async () => (await import('./verify.js')).verifyCommand,
  },
  {
    name: 'status',
    summary: 'last success and failure per source, next run; --check for a healthcheck',
    load: async () => (await import('./status.js')).statusCommand,
  },
  {
    name: 'prune',
    summary: 'apply the retention policy now, with the reason for each backup kept',
    load: async () => (await import('./prune.js')).pruneCommand,
  },
  {
    name: 'check',
    summary: 'preflight: sources, volume, S3, SMTP login and webhook proven, nothing sent',
    load: async () => (await import('./check.js')).checkCommand,
  },
  {
    name: 'alert',
    summary: 'alert --test: send one test alert on every configured channel',
    load: async () => (await import('./alert.js')).alertCommand,
  },
  {
    name: 'config',
    summary: 'show the effective configuration, secrets masked',
    load: async () => (await import('./config.js')).configCommand,
  },
  {
    name: 'daemon',
    summary: 'run backups on SCHEDULE and serve health and metrics (the container command)',
    load: async () => (await import('./daemon.js')).daemonCommand,
  },
]
