/**
 * BACKUP_DIR, the one rule, for every command, the daemon and the pipeline alike:
 *
 * - It must be set. The image sets `/backups` (its volume); outside a container there is no safe
 *   default: `/backups` silently created on a host is a directory nobody mounted or watches.
 * - Only its last component is ever created. A missing parent is most likely a typo
 *   (`/srv/bakups/app`), and `mkdir -p` of a typo puts the backups where nobody looks.
 */
import { constants } from 'node:fs'
import { access, mkdir, stat } from 'node:fs/promises'
import { basename, dirname, isAbsolute, resolve } from 'node:path'
import { DIR_MODE } from '../runtime/durable.js'
import { asyncReads, type FileReads } from '../runtime/file-reads.js'
import { DbkeeperError, toDbkeeperError } from '../runtime/errors.js'
import type { EnvReader } from './reader.js'

const EXPECTED =
  'the directory backups go to, e.g. BACKUP_DIR=/srv/backups (the container image sets /backups, its volume; outside it there is no default)'

/** BACKUP_DIR, resolved against `cwd` when relative; '' (with a problem) when unset. */
export function readBackupDir(r: EnvReader, cwd: string): string {
  const raw = r.required('BACKUP_DIR', EXPECTED)
  if (raw === undefined) return ''
  return isAbsolute(raw) ? resolve(raw) : resolve(cwd, raw)
}

/** stat, with "does not exist" as undefined. ENOTDIR (a part of the path is a file) is thrown. */
async function statOrMissing(path: string, reads: FileReads) {
  try {
    return await reads.stat(path)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw error
  }
}

function notADirectory(path: string): Error {
  return Object.assign(new Error(`ENOTDIR: not a directory, '${path}'`), { code: 'ENOTDIR', path })
}

/** The nearest ancestor of `path` that exists (at worst `/`). */
async function nearestExisting(path: string, reads: FileReads): Promise<string> {
  let p = dirname(path)
  while (p !== dirname(p) && (await statOrMissing(p, reads).catch(() => undefined)) === undefined) p = dirname(p)
  return p
}

async function missingParentError(dir: string, reads: FileReads): Promise<DbkeeperError> {
  const parent = dirname(dir)
  const existing = await nearestExisting(parent, reads)
  return new DbkeeperError(
    'CONFIG',
    `BACKUP_DIR ${dir}: its parent ${parent} does not exist (the nearest directory that does is ${existing}) — a typo in BACKUP_DIR?`,
    {
      hint: `check the spelling of BACKUP_DIR; if ${parent} is meant to be new, create it yourself (mkdir -p ${parent}) and run again: dbkeeper creates only the last component (${basename(dir)})`,
    },
  )
}

/**
 * Whether BACKUP_DIR exists, without creating anything: 'missing' when only its last component is
 * missing (the next backup creates it). Throws CONFIG when its parent is missing or a part of the
 * path is not a directory. Every command that reads or writes the volume checks this first.
 * `reads`: how (runtime/file-reads.ts; fs/promises when not given).
 */
export async function checkBackupDirPath(dir: string, reads: FileReads = asyncReads): Promise<'exists' | 'missing'> {
  try {
    const own = await statOrMissing(dir, reads)
    if (own) {
      if (!own.isDirectory()) throw notADirectory(dir)
      return 'exists'
    }
    const parent = await statOrMissing(dirname(dir), reads)
    if (!parent) throw await missingParentError(dir, reads)
    if (!parent.isDirectory()) throw notADirectory(dirname(dir))
    return 'missing'
  } catch (error) {
    throw backupDirError(dir, error)
  }
}

/**
 * Makes BACKUP_DIR ready to write: checked as above, its last component created when missing
 * (mode 0700), then tested for write access. Fails early, with the variable to fix.
 */
export async function prepareBackupDir(dir: string): Promise<void> {
  const state = await checkBackupDirPath(dir)
  try {
    if (state === 'missing')
      await mkdir(dir, { mode: DIR_MODE }).catch(async (error: NodeJS.ErrnoException) => {
        // Another run created it in between: fine, if it is a directory.
        if (error.code !== 'EEXIST' || !(await stat(dir)).isDirectory()) throw error
      })
    await access(dir, constants.W_OK)
  } catch (error) {
    throw backupDirError(dir, error)
  }
}

/**
 * BACKUP_DIR unusable, as the operator should read it: a path through a file (ENOTDIR, EEXIST)
 * or one the file system will not create (ENOENT under /proc) is a configuration error (exit 2);
 * anything else (permissions, a full disk) keeps its own code. A DbkeeperError passes through.
 */
export function backupDirError(dir: string, error: unknown): DbkeeperError {
  if (error instanceof DbkeeperError) return error
  const code = (error as NodeJS.ErrnoException).code
  if (code === 'ENOTDIR' || code === 'EEXIST') {
    return new DbkeeperError(
      'CONFIG',
      `BACKUP_DIR ${dir} is not a directory (it or a part of its path is a file) (${code})`,
      {
        hint: 'set BACKUP_DIR to a directory on the backup volume (only its last component is created when missing)',
        cause: error,
      },
    )
  }
  if (code === 'ENOENT') {
    return new DbkeeperError('CONFIG', `BACKUP_DIR ${dir} cannot be created there: the file system refused (ENOENT)`, {
      hint: 'set BACKUP_DIR to a directory on the backup volume, or create it yourself and check the mount',
      cause: error,
    })
  }
  const e = toDbkeeperError(error, `backup directory ${dir}`)
  return new DbkeeperError(
    e.code === 'NO_SPACE' ? 'NO_SPACE' : 'IO',
    `cannot write to the backup directory ${dir}: ${e.message}`,
    {
      hint: 'check BACKUP_DIR: it (or its parent, when it is missing) must exist and be writable by the user dbkeeper runs as',
      cause: error,
    },
  )
}
