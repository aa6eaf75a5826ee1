/**
 * Where a backup's objects are on any Target, pure but for one small read: keys mirror the volume,
 * `<source>/<enc(db)>/<file>` with `<file>.sha256` and `<file>.manifest.json` beside it. The
 * listing itself is catalog.ts's, one for every target.
 */
import type { Readable } from 'node:stream'
import type { Target } from '../storage/target.js'
import type { Manifest } from './manifest.js'
import { ARCHIVE_DIR, encodeName } from './naming.js'

/** A manifest is a few KB; anything much larger under that name is not one of ours. */
export const MAX_MANIFEST_BYTES = 1024 * 1024

export function remoteDir(source: string, database: string): string {
  return `${source}/${encodeName(database)}/`
}

export function remoteDataKey(m: Pick<Manifest, 'source' | 'database' | 'file'>): string {
  return `${remoteDir(m.source, m.database)}${m.file}`
}

export async function readSmallObject(target: Target, key: string, limit = MAX_MANIFEST_BYTES): Promise<string> {
  // The target's whole-object read when it has one (the volume's: no stream, Target.getSmall).
  const whole = await target.getSmall?.(key, limit)
  if (whole && whole.length <= limit) return whole.toString('utf8')
  const body: Readable = await target.get(key)
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of body as AsyncIterable<Buffer>) {
    size += chunk.length
    if (size > limit) {
      body.destroy()
      throw new Error(`${key} is larger than ${limit} bytes`)
    }
    chunks.push(chunk)
  }
  return Buffer.concat(chunks).toString('utf8')
}

/** Where a MySQL source's binlog archive is kept off-site: as on the volume, `<source>/.pitr/.binlog/`. */
export function remoteBinlogDir(source: string): string {
  return `${source}/${ARCHIVE_DIR}/.binlog/`
}
