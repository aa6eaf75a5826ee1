import { open, readdir } from 'node:fs/promises'
import { join } from 'node:path'
import { execa } from 'execa'
import { afterEach, describe, expect, it } from 'vitest'
import type { BackupJson } from '../../../src/cli/commands/backup.js'
import { SqliteEngine } from '../../../src/engines/sqlite/engine.js'
import { runCli } from '../../support/cli.js'
import {
  createDatabase,
  dumpToFile,
  ledgerState,
  scratch,
  sqliteSource,
  startWriter,
  watchWorkDir,
  writerRate,
  type Writer,
} from './helpers.js'

// A live database while another process commits back to back: the snapshot must finish (a stepped
// backup() would restart forever), pass integrity_check, and hold one committed state — the
// writer's ledger and totals agree in every state it ever committed, and in no torn one.
const cases = [
  // WAL: readers never block the writer, so it must keep its pace (≥ 500 tx/s) through the copy.
  { mode: 'wal', mb: 4, synchronous: 'NORMAL', minRate: 500 },
  { mode: 'wal', mb: 100, synchronous: 'NORMAL', minRate: 500 },
  // Rollback journal: commits wait while the copy holds its shared lock; the writer's busy timeout
  // covers that, so it slows down (to ~100-1800 tx/s here, with the machine busy) but never fails.
  // synchronous=OFF keeps it from being fsync-bound.
  { mode: 'delete', mb: 4, synchronous: 'OFF', minRate: 20 },
  { mode: 'delete', mb: 50, synchronous: 'OFF', minRate: 20 },
] as const

describe('SqliteEngine snapshot under a concurrent writer', () => {
  let writer: Writer | undefined
  let cleanup: (() => Promise<void>) | undefined
  afterEach(async () => {
    await writer?.stop()
    await cleanup?.()
    writer = cleanup = undefined
  })

  for (const { mode, mb, synchronous, minRate } of cases) {
    it(`${mode} mode, ${mb} MiB: finishes, passes integrity_check, holds one committed state`, async () => {
      const dirs = await scratch()
      cleanup = dirs.cleanup
      const live = join(dirs.dir, 'app.db')
      createDatabase(live, mb, mode)
      writer = startWriter(live, mode, synchronous)
      await writer.committed(200)
      const before = writer.samples.at(-1)!.n

      const engine = new SqliteEngine(sqliteSource(live), dirs.workDir)
      const out = join(dirs.dir, 'streamed.db')
      const watch = watchWorkDir(dirs.workDir)
      const { result, started, ended } = await dumpToFile(engine, 'app', out)
      const work = watch.stop()
      await new Promise((resolve) => setTimeout(resolve, 100)) // one more report after the dump
      const after = writer.samples.at(-1)!.n
      await writer.stop()

      // The rate while the snapshot file existed (copy, integrity_check, row counts), not diluted
      // by process start-up or streaming.
      expect(work.firstSeen).toBeGreaterThan(0)
      const rate = writerRate(writer.samples, work.firstSeen, work.lastSeen)
      console.log(
        `sqlite ${mode} ${mb} MiB: dump ${ended - started} ms, snapshot work ${work.lastSeen - work.firstSeen} ms; ` +
          `writer ${Math.round(rate.perSecond)} tx/s during it (${rate.commits} commits, longest pause ` +
          `${rate.longestGapMs} ms, busy failures ${writer.samples.at(-1)!.busy})`,
      )
      expect(rate.perSecond).toBeGreaterThanOrEqual(minRate)
      expect(writer.samples.at(-1)!.busy).toBe(0)

      // The streamed bytes are the database: integrity, the invariant, and a state from inside the dump.
      const state = ledgerState(out)
      expect(state.integrity).toBe('ok')
      expect(state.rows).toBe(state.n)
      expect(state.sum).toBe(state.total)
      expect(state.n).toBeGreaterThanOrEqual(before)
      expect(state.n).toBeLessThanOrEqual(after)
      expect(result.options).toEqual(['VACUUM INTO'])
      expect(result.tables).toEqual([
        { name: 'filler', rows: mb * 1024 },
        { name: 'ledger', rows: state.n },
        { name: 'totals', rows: 1 },
      ])

      // A self-contained file in rollback-journal format (header bytes 18/19 = 1), whatever the live mode.
      const handle = await open(out, 'r')
      const { buffer: head } = await handle.read(Buffer.alloc(100), 0, 100, 0)
      await handle.close()
      expect(engine.checkContent(head, Buffer.alloc(0))).toBeUndefined()
      expect([head[18], head[19]]).toEqual([1, 1])
      expect(await readdir(dirs.workDir)).toEqual([])
    }, 180_000)
  }

  // The same promise through the whole product, as cron runs it: `dbkeeper backup` of a live WAL
  // database while the application commits ≥ 500 tx/s, then plain `gunzip` of the .db.gz opens as
  // a database that passes integrity_check and holds one committed state.
  it('dbkeeper backup, WAL, 50 MiB, ≥ 500 tx/s during the run: the run succeeds and `gunzip` gives a sound database', async () => {
    const dirs = await scratch()
    cleanup = dirs.cleanup
    const live = join(dirs.dir, 'app.db')
    createDatabase(live, 50, 'wal')
    writer = startWriter(live, 'wal', 'NORMAL')
    await writer.committed(200)
    const before = writer.samples.at(-1)!.n
    const started = Date.now()
    const r = await runCli(['backup', '--json'], {
      DB01_TYPE: 'sqlite',
      DB01_PATH: live,
      DB01_LABEL: 'app',
      BACKUP_DIR: join(dirs.dir, 'backups'),
    })
    const ended = Date.now()
    await new Promise((resolve) => setTimeout(resolve, 100)) // one more report after the run
    const after = writer.samples.at(-1)!.n
    expect(r.exitCode, r.all).toBe(0)
    const rate = writerRate(writer.samples, started, ended)
    await writer.stop()
    console.log(
      `dbkeeper backup of a live 50 MiB WAL database: ${ended - started} ms, writer ${Math.round(rate.perSecond)} tx/s meanwhile (${rate.commits} commits)`,
    )
    expect(rate.perSecond).toBeGreaterThanOrEqual(500)

    const result = (JSON.parse(r.stdout) as BackupJson).results[0]!
    expect(result.path).toMatch(/\.db\.gz$/)
    const restored = join(dirs.dir, 'gunzipped.db')
    await execa('sh', ['-c', 'gunzip -c "$1" > "$2"', 'sh', result.path!, restored])
    const state = ledgerState(restored)
    expect(state.integrity).toBe('ok')
    expect(state.rows).toBe(state.n)
    expect(state.sum).toBe(state.total)
    expect(state.n).toBeGreaterThanOrEqual(before)
    expect(state.n).toBeLessThanOrEqual(after)
  }, 180_000)
})
