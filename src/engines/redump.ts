/**
 * The two sides a drill compares, as SQL text streams: the backup's content, and a fresh dump of
 * the scratch database it was restored into, taken by the same engine with the same options as
 * the backup. A PostgreSQL custom-format archive is binary (and carries the database name and a
 * timestamp), so both sides of such a backup are turned into SQL by `pg_restore --file=-` first.
 */
import type { Readable } from 'node:stream'
import { execa } from 'execa'
import type { CatalogEntry } from '../catalog/catalog.js'
import type { Manifest } from '../catalog/manifest.js'
import type { SourceConfig } from '../config/types.js'
import type { DumpProcess } from '../engines/engine.js'
import { createEngine } from '../engines/index.js'
import { FIXED_OPTIONS } from '../engines/mysql/args.js'
import { childEnv, lastLines } from '../engines/subprocess.js'
import { DbkeeperError } from '../runtime/errors.js'
import { contentKind, openContent, postgresEngineFor } from './content.js'

/**
 * The options the backup's mysqldump ran with besides the fixed ones (DBnn_EXTRA_OPTS then), from
 * its manifest: a re-dump with today's options would differ whenever they changed since.
 */
export function mysqlExtraOptsOf(manifest: Manifest): string[] {
  const options = manifest.tool.options
  const end = options.lastIndexOf('--')
  const fixed = new Set<string>(FIXED_OPTIONS)
  return (end >= 0 ? options.slice(0, end) : options).filter((o) => !fixed.has(o))
}

/** Starts the re-dump of `scratch`. The caller reads `stdout`, awaits `done`, aborts `signal` to stop it. */
export async function redump(source: SourceConfig, manifest: Manifest, scratch: string, workDir: string, signal: AbortSignal): Promise<DumpProcess> {
  if (manifest.engine === 'mysql') {
    const engine = createEngine({ ...source, databases: [scratch], extraOpts: mysqlExtraOptsOf(manifest) }, workDir)
    await engine.probe(signal) // picks the dump tool matching the server
    return engine.dump(scratch, signal)
  }
  const dump = postgresEngineFor({ ...source, databases: [scratch] }, manifest, workDir).dump(scratch, signal)
  return contentKind(manifest) === 'dump' ? asSql(dump.stdout, dump.done, signal) : dump
}

/** The backup's content as SQL text. */
export function backupAsSql(entry: CatalogEntry, signal: AbortSignal): { stdout: Readable; done: Promise<unknown>; assertComplete(): void } {
  const content = openContent(entry)
  if (contentKind(entry.manifest) !== 'dump') return { stdout: content.stream, done: Promise.resolve(), assertComplete: () => content.assertComplete() }
  const sql = asSql(content.stream, Promise.resolve(), signal)
  return { ...sql, assertComplete: () => content.assertComplete() }
}

/** `pg_restore --file=-`: a custom-format archive on stdin, its SQL script on stdout. */
function asSql(archive: Readable, archiveDone: Promise<unknown>, signal: AbortSignal): DumpProcess {
  const child = execa('pg_restore', ['--file=-'], {
    stdin: 'pipe', stdout: 'pipe', stderr: 'pipe', buffer: false, reject: false, extendEnv: false,
    env: childEnv({ LC_MESSAGES: 'C' }), cancelSignal: signal, forceKillAfterDelay: 5000,
  })
  let stderr = ''
  child.stderr.setEncoding('utf8')
  child.stderr.on('data', (chunk: string) => {
    stderr = (stderr + chunk).slice(-8192)
  })
  child.stdin.on('error', () => {})
  archive.on('error', () => child.stdin.destroy())
  archive.pipe(child.stdin)
  const done = (async () => {
    const [r] = await Promise.all([child, archiveDone])
    if (r.exitCode !== 0 || r.signal) {
      throw new DbkeeperError('RESTORE_FAILED', `pg_restore could not turn the archive into SQL (${r.signal ?? `exit ${r.exitCode ?? '?'}`}): ${lastLines(stderr.trim(), 3)}`, {
        hint: 'install postgresql-client of at least the server\'s major version',
      })
    }
    return { options: [], stderrTail: '' }
  })()
  done.catch(() => {})
  return { stdout: child.stdout, done }
}
