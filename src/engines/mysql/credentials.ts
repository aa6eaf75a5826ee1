import { randomBytes } from 'node:crypto'
import { closeSync, openSync, rmSync, writeSync } from 'node:fs'
import { rm } from 'node:fs/promises'
import { join } from 'node:path'
import type { SourceConfig } from '../../config/types.js'

/**
 * Quotes a value for a MySQL/MariaDB option file. Inside double quotes `#` is not a comment and
 * spaces are kept; the parser (mysys `my_default.c`) understands `\\`, `\"`, `\n`, `\r`, `\t`,
 * so every byte of a password survives — including quotes, `$`, `#` and backslashes.
 */
export function quoteOptionValue(value: string): string {
  const escaped = value
    .replace(/\\/g, '\\\\')
    .replace(/"/g, '\\"')
    .replace(/\n/g, '\\n')
    .replace(/\r/g, '\\r')
    .replace(/\t/g, '\\t')
  return `"${escaped}"`
}

/** The `[client]` group that carries the connection and credentials to mysqldump. */
export function defaultsFileText(source: SourceConfig): string {
  const lines = [
    '[client]',
    `user=${quoteOptionValue(source.user ?? 'root')}`,
    // Always written, even empty: a bare `password` line would make the tool prompt for one.
    `password=${quoteOptionValue(source.password?.reveal() ?? '')}`,
    `host=${quoteOptionValue(source.host ?? 'localhost')}`,
    `port=${source.port ?? 3306}`,
    // The probe (mysql2) always speaks TCP; without this, host=localhost would make mysqldump use
    // a Unix socket and possibly reach a different server or account than the one we probed.
    'protocol=TCP',
    '',
  ]
  return lines.join('\n')
}

/**
 * Writes the credentials to a new 0600 file in the private work directory and returns its path.
 * `wx` refuses to follow or reuse anything already at that name. Synchronous on purpose: it is a
 * few bytes, and `Engine.dump` must hand back its stream without awaiting.
 */
export function writeDefaultsFile(workDir: string, source: SourceConfig): string {
  const path = join(workDir, `mysqldump-${randomBytes(8).toString('hex')}.cnf`)
  const fd = openSync(path, 'wx', 0o600)
  try {
    writeSync(fd, defaultsFileText(source))
  } catch (error) {
    closeSync(fd)
    rmSync(path, { force: true })
    throw error
  }
  closeSync(fd)
  return path
}

export async function removeDefaultsFile(path: string): Promise<void> {
  await rm(path, { force: true })
}
