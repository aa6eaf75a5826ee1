import type { Command } from '../command.js'
import { alertCommand } from './alert.js'
import { backupCommand } from './backup.js'
import { checkCommand } from './check.js'
import { configCommand } from './config.js'
import { daemonCommand } from './daemon.js'
import { fetchCommand } from './fetch.js'
import { listCommand } from './list.js'
import { pruneCommand } from './prune.js'
import { restoreCommand } from './restore.js'
import { statusCommand } from './status.js'
import { verifyCommand } from './verify.js'

/** The command table, in the order `dbkeeper --help` shows them. */
export const commands: readonly Command[] = [
  backupCommand,
  listCommand,
  fetchCommand,
  restoreCommand,
  verifyCommand,
  statusCommand,
  pruneCommand,
  checkCommand,
  alertCommand,
  configCommand,
  daemonCommand,
]
