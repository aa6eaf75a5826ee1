/**
 * The binlog archive read back from files alone (no server): runs split at recorded gaps and at
 * skipped numbers, a torn index line, the lag from the heartbeat, and the archive's place on the volume.
 */
import { appendFile, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { archiveDir, binlogArchiveDir, encodeName } from '../../../src/catalog/naming.js'
import {
  appendIndex,
  binlogNumber,
  isBinlogName,
  readBinlogArchive,
  writeHeartbeat,
} from '../../../src/engines/mysql/binlog-archive.js'

let dir: string
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'dbk-binlog-read-'))
})
afterEach(() => rm(dir, { recursive: true, force: true }))

const T = Date.parse('2026-12-05T12:00:00Z')
const iso = (ms: number) => new Date(ms).toISOString()
const files = (...names: string[]) => Promise.all(names.map((n) => writeFile(join(dir, n), 'x')))
const heartbeat = (caughtUpAt: number | undefined) =>
  writeHeartbeat(dir, {
    checkedAt: iso(T),
    server: { file: 'binlog.000003', position: 400 },
    local: { file: 'binlog.000003', size: 400 },
    caughtUpAt: caughtUpAt === undefined ? undefined : iso(caughtUpAt),
  })

describe('readBinlogArchive', () => {
  it('reads an empty or missing directory as nothing archived', async () => {
    expect(await readBinlogArchive(join(dir, 'nope'), new Date(T))).toEqual({
      runs: [],
      gaps: [],
      closed: [],
      archivedAt: undefined,
      lagMs: undefined,
    })
  })

  it('keeps consecutive files in one run, ignoring its own files', async () => {
    await files('binlog.000002', 'binlog.000003', 'binlog.000001', 'mysqldump-ab.cnf')
    await heartbeat(T)
    const state = await readBinlogArchive(dir, new Date(T + 1000))
    expect(state.runs).toEqual([{ files: ['binlog.000001', 'binlog.000002', 'binlog.000003'], afterGap: undefined }])
    expect(state.lagMs).toBe(0)
    expect(state.archivedAt).toBeInstanceOf(Date)
  })

  it('splits runs at a recorded gap and at a skipped number', async () => {
    await files('binlog.000001', 'binlog.000002', 'binlog.000005', 'binlog.000006', 'binlog.000008')
    const gap = {
      kind: 'gap' as const,
      after: 'binlog.000002',
      resumedAt: 'binlog.000005',
      detectedAt: iso(T),
      reason: 'purged',
    }
    await appendIndex(dir, gap)
    await appendIndex(dir, { kind: 'closed', file: 'binlog.000001', size: 1, sha256: 'a', provenAt: iso(T) })
    const state = await readBinlogArchive(dir, new Date(T))
    expect(state.runs).toEqual([
      { files: ['binlog.000001', 'binlog.000002'], afterGap: undefined },
      { files: ['binlog.000005', 'binlog.000006'], afterGap: gap },
      { files: ['binlog.000008'], afterGap: undefined },
    ])
    expect(state.gaps).toEqual([gap])
    expect(state.closed.map((c) => c.file)).toEqual(['binlog.000001'])
  })

  it('skips a torn last index line', async () => {
    await appendIndex(dir, { kind: 'closed', file: 'binlog.000001', size: 1, sha256: 'a', provenAt: iso(T) })
    await appendFile(join(dir, 'index.jsonl'), '{"kind":"clo')
    expect((await readBinlogArchive(dir, new Date(T))).closed).toHaveLength(1)
  })

  it('counts the lag from the last catch-up once it is older than the slack', async () => {
    await files('binlog.000003')
    await heartbeat(T - 2000)
    expect((await readBinlogArchive(dir, new Date(T))).lagMs).toBe(0)
    await heartbeat(T - 2001)
    expect((await readBinlogArchive(dir, new Date(T))).lagMs).toBe(2001)
    await heartbeat(undefined)
    expect((await readBinlogArchive(dir, new Date(T))).lagMs).toBeUndefined()
  })
})

describe('binlog names', () => {
  it('knows the server naming and nothing else', () => {
    expect(isBinlogName('binlog.000042')).toBe(true)
    expect(isBinlogName('mysql-bin.1234567')).toBe(true)
    expect(binlogNumber('mysql-bin.1234567')).toBe(1234567)
    for (const n of ['heartbeat.json', 'index.jsonl', '.heartbeat.json.tmp', 'binlog.index', 'x.cnf', 'binlog.42']) {
      expect(isBinlogName(n), n).toBe(false)
    }
  })

  it('puts the archive under .pitr/.binlog, where no database archive can be', () => {
    expect(binlogArchiveDir('/b', 'my')).toBe('/b/my/.pitr/.binlog')
    expect(archiveDir('/b', 'my', '.binlog')).toBe(`/b/my/.pitr/${encodeName('.binlog')}`)
    expect(encodeName('.binlog')).not.toBe('.binlog')
  })
})
