/**
 * A sectioned backup's content proven as it loads (content.ts openProvingContent, for a manifest
 * with `members`: one gzip member per section of a MySQL dump). The driver reads the members in
 * any order, several at once (engines/mysql/parallel-load.ts); the proof is the same as for one
 * stream, and covers the whole file:
 * - the file's sha256 and size, on a sequential read of it alongside (the page cache serves it);
 * - each member's content sha256 and size against the manifest's (the members tile the file and
 *   the content, checked before: `loadableMembers`);
 * - the end-of-dump marker, on the last member's last bytes.
 * A member the load did not read to its end (a client failed, the load stopped) is read again for
 * the verdict, so that a load that failed on a damaged backup is reported as the damage.
 */
import { createReadStream } from 'node:fs'
import { pipeline, Readable } from 'node:stream'
import type { CatalogEntry } from '../catalog/catalog.js'
import type { Manifest, ManifestMember } from '../catalog/manifest.js'
import type { BackupReader, BackupContent as DriverContent } from '../engines/index.js'
import { compressionOf } from '../pipeline/compression.js'
import { discard, Meter } from '../pipeline/meter.js'
import { DbkeeperError } from '../runtime/errors.js'

/**
 * The manifest's members when the content may be loaded by sections: gzip, unencrypted, a head
 * first, a tail last, tables between, tiling the file and the content. Else undefined: the backup
 * is read as one stream (older backups, other codecs, encryption).
 */
export function loadableMembers(m: Manifest): ManifestMember[] | undefined {
  const members = m.members
  if (!members || members.length < 2 || m.encryption || m.compression.kind !== 'gzip') return undefined
  if (members[0]!.kind !== 'head' || members.at(-1)!.kind !== 'tail') return undefined
  if (members.slice(1, -1).some((x) => x.kind !== 'table')) return undefined
  let offset = 0
  let raw = 0
  for (const x of members) {
    if (x.offset !== offset) return undefined
    offset += x.size
    raw += x.raw.size
  }
  return offset === m.compressed.size && raw === m.raw.size ? members : undefined
}

interface Read {
  meter: Meter
  /** Settles once the member was read to its end: the error when it failed, undefined when not. */
  ended: Promise<Error | undefined>
}

export function openProvingSections(
  reader: BackupReader,
  entry: CatalogEntry,
  members: ManifestMember[],
  refused: (why: string) => DbkeeperError,
): DriverContent & { stream: Meter } {
  const m = entry.manifest
  const path = entry.dataPath
  /** Reads one member: its bytes, decompressed, through a meter (the first and last keep their edges). */
  const read = (i: number): Read => {
    const x = members[i]!
    const meter = new Meter(i === 0 || i === members.length - 1)
    const ended = new Promise<Error | undefined>((resolve) =>
      pipeline(
        [
          createReadStream(path, { start: x.offset, end: x.offset + x.size - 1, highWaterMark: 1 << 20 }),
          compressionOf(m).decompress(),
          meter,
        ],
        (error) => resolve(error ?? undefined),
      ),
    )
    return { meter, ended }
  }
  const loads: (Read | undefined)[] = members.map(() => undefined)
  /** Which members a load read to their end, without an error. */
  const complete = members.map(() => false)
  const open = (i: number): Readable => {
    if (loads[i]) throw new Error(`member ${i} of ${m.file} was opened twice`)
    const load = read(i)
    loads[i] = load
    void load.ended.then((error) => (complete[i] = error === undefined))
    return load.meter
  }
  // The whole file, in order, alongside the loads: its sha256 and size.
  const file = new Meter(false)
  const fileRead = new Promise<Error | undefined>((resolve) =>
    pipeline(createReadStream(path, { highWaterMark: 1 << 20 }), file, discard(), (error) =>
      resolve(error ?? undefined),
    ),
  )

  /** A member as measured: by its load when that read it to its end, else read again (and discarded). */
  const measured = async (i: number): Promise<Read & { error: Error | undefined }> => {
    const load = loads[i]
    const error = load ? await load.ended : new Error('not read')
    if (load && !error) return { ...load, error }
    const again = read(i)
    again.meter.resume()
    return { ...again, error: await again.ended }
  }
  const judge = async (): Promise<DbkeeperError | undefined> => {
    const problems: string[] = []
    const fileError = await fileRead
    if (fileError) return refused(`it cannot be read: ${fileError.message}`)
    const c = file.result()
    if (c.size !== m.compressed.size) problems.push(`file size ${c.size} bytes, expected ${m.compressed.size}`)
    else if (c.sha256 !== m.compressed.sha256) problems.push(`file sha256 ${c.sha256}, expected ${m.compressed.sha256}`)
    let head: Buffer = Buffer.alloc(0)
    let tail: Buffer = Buffer.alloc(0)
    for (let i = 0; i < members.length; i++) {
      const x = members[i]!
      const name = `gzip member ${i + 1} of ${members.length} (${x.kind})`
      const got = await measured(i)
      if (got.error) {
        problems.push(`its ${name} does not decompress: ${got.error.message}`)
        continue
      }
      const r = got.meter.result()
      if (r.size !== x.raw.size || r.sha256 !== x.raw.sha256)
        problems.push(
          `its ${name} decompressed to ${r.size} bytes with sha256 ${r.sha256}, expected ${x.raw.size} (${x.raw.sha256})`,
        )
      if (i === 0) head = got.meter.head()
      if (i === members.length - 1) tail = got.meter.tail()
    }
    const content = reader.checkContent(head, tail)
    if (content) problems.push(content)
    return problems.length > 0 ? refused(problems.join('; ')) : undefined
  }
  let verdict: Promise<DbkeeperError | undefined> | undefined
  /** The driver reads the sections; the one stream is empty. */
  const stream = new Meter(false)
  stream.end()
  return {
    stream,
    sections: {
      async head() {
        const parts: Buffer[] = []
        for await (const chunk of open(0)) parts.push(chunk as Buffer)
        return Buffer.concat(parts)
      },
      tables: members.slice(1, -1).map((x, j) => ({ size: x.raw.size, open: () => open(j + 1) })),
      tail: { size: members.at(-1)!.raw.size, open: () => open(members.length - 1) },
    },
    assertComplete() {
      // Called after the verdict: every member must have been loaded, to its end.
      if (!complete.every(Boolean))
        throw new DbkeeperError('RESTORE_FAILED', `backup ${m.id} was not loaded to its end`, {
          hint: 'restore again; if it fails the same way, run `dbkeeper verify` on the backup',
        })
    },
    verdict() {
      verdict ??= judge()
      return verdict
    },
    async fileProven() {
      if (await fileRead) return false
      const c = file.result()
      return c.size === m.compressed.size && c.sha256 === m.compressed.sha256
    },
  }
}
