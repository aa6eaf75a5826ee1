/**
 * The password reaches pg_dump, pg_dumpall, psql and pg_restore through a libpq password file
 * (PGPASSFILE), never argv and never PGPASSWORD (which `ps e` and /proc/PID/environ show to the
 * same user). One file per tool run, 0600, inside the engine's private 0700 work directory.
 */
import { randomBytes } from 'node:crypto'
import { closeSync, openSync, writeSync } from 'node:fs'
import { rm } from 'node:fs/promises'
import { join } from 'node:path'
import type { SourceConfig } from '../../config/types.js'
import { childEnv } from '../subprocess.js'

/** libpq reads `\` and `:` literally only when escaped with a backslash. */
export function escapePassfileField(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/:/g, '\\:')
}

/**
 * One line matching any host, port and database for our user. The file belongs to a single tool
 * run that connects only where its arguments say, so wildcards cost nothing, and they spare us
 * libpq's matching rules (a socket directory matches as `localhost`, pg_dumpall connects to
 * `postgres` or `template1`, a restore to the new database).
 */
export function passfileLine(user: string, password: string): string {
  return `*:*:*:${escapePassfileField(user)}:${escapePassfileField(password)}\n`
}

export interface ToolCredentials {
  /** The child's whole environment (childEnv plus the libpq variables). */
  env: Record<string, string>
  /** Deletes the password file; safe to call more than once. */
  cleanup: () => Promise<void>
}

/**
 * Writes the password file (when the source has a password) and builds the environment for one
 * tool run. Synchronous so that `dump()` can return its DumpProcess at once; the file is tiny.
 */
export function toolCredentials(source: SourceConfig, workDir: string): ToolCredentials {
  const libpq: Record<string, string> = {
    PGCONNECT_TIMEOUT: '10',
    PGAPPNAME: 'dbkeeper',
    // Our error classification reads the client's messages; keep them untranslated.
    LC_MESSAGES: 'C',
  }
  const password = source.password?.reveal()
  if (password === undefined || password === '') {
    // No password configured: trust/peer authentication, or a ~/.pgpass the operator mounted.
    return { env: childEnv(libpq), cleanup: async () => {} }
  }
  const path = join(workDir, `pgpass-${randomBytes(6).toString('hex')}`)
  // 'wx': never follow or reuse an existing file; 0600: libpq ignores a passfile others can read.
  const fd = openSync(path, 'wx', 0o600)
  try {
    writeSync(fd, passfileLine(source.user ?? 'postgres', password))
  } finally {
    closeSync(fd)
  }
  return {
    env: childEnv({ ...libpq, PGPASSFILE: path }),
    cleanup: () => rm(path, { force: true }),
  }
}
