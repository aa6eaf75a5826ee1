/** The point-in-time archive in computeStatus (pure) and in `status`'s human form. */
import { describe, expect, it } from 'vitest'
import { formatStatus } from '../../src/cli/commands/status.js'
import { parseConfig } from '../../src/config/index.js'
import { pitrDatabases, WHOLE_SOURCE } from '../../src/daemon/pitr-status.js'
import { computeStatus } from '../../src/daemon/status.js'
import type { ArchiveState } from '../../src/engines/index.js'
import { fakeEntry } from '../support/backups.js'

const H = 3_600_000
const NOW = new Date('2026-12-05T12:00:00Z')
const ago = (ms: number) => new Date(NOW.getTime() - ms)
const config = parseConfig({
  BACKUP_DIR: '/backups',
  DB01_TYPE: 'sqlite',
  DB01_PATH: '/data/app.db',
  DB01_PITR: 'true',
})
const backups = [fakeEntry('app', 'app', ago(2 * H))]
const status = (state: ArchiveState) =>
  computeStatus([], backups, config.sources, NOW, {
    maxAgeMs: 13 * H,
    pitr: { readings: [{ source: 'app', database: 'app', archiver: 'litestream', state }], maxLagMs: 60_000 },
  })

describe('point-in-time archive in the status', () => {
  it('is healthy with the window and lag when the archive is caught up', () => {
    const s = status({ ranges: [{ base: 'g1', from: ago(48 * H), to: NOW }], archivedAt: ago(3000), lagMs: 0 })
    expect(s.healthy).toBe(true)
    expect(s.sources[0]!.databases[0]!.pitr).toEqual({
      healthy: true,
      lagSeconds: 0,
      maxLagSeconds: 60,
      window: { from: ago(48 * H).toISOString(), to: NOW.toISOString() },
      ranges: [{ from: ago(48 * H).toISOString(), to: NOW.toISOString() }],
    })
    expect(formatStatus(s, 'UTC')).toContain(
      'app/app: point-in-time: restore to a time from 2026-12-03 12:00:00 to 2026-12-05 12:00:00 UTC, lag 0s',
    )
  })

  it('is unhealthy when the lag exceeds PITR_MAX_LAG, though the dumps are fresh', () => {
    const s = status({
      ranges: [{ base: 'g1', from: ago(48 * H), to: ago(120_000) }],
      archivedAt: ago(120_000),
      lagMs: 120_000,
    })
    expect(s.healthy).toBe(false)
    expect(s.reason).toBe('UNHEALTHY: app/app: point-in-time archive is 2m behind, limit 1m (PITR_MAX_LAG)')
    expect(formatStatus(s, 'UTC')).toContain('lag 2m — UNHEALTHY (PITR_MAX_LAG 1m)')
  })

  it('is unhealthy while nothing is archived, and shows the gaps between ranges', () => {
    expect(status({ ranges: [], archivedAt: undefined, lagMs: undefined }).reason).toBe(
      'UNHEALTHY: app/app: nothing archived for point-in-time recovery yet',
    )
    const gapped = status({
      ranges: [
        { base: 'g1', from: ago(48 * H), to: ago(30 * H) },
        { base: 'g2', from: ago(29 * H), to: NOW },
      ],
      archivedAt: NOW,
      lagMs: 0,
    })
    expect(gapped.healthy).toBe(true)
    expect(formatStatus(gapped, 'UTC')).toContain(
      '(1 gap: 2026-12-03 12:00:00–2026-12-04 06:00:00, 2026-12-04 07:00:00–2026-12-05 12:00:00)',
    )
  })

  it('says no time can be restored to yet when an archive holds changes but no base reaches them', () => {
    const s = status({ ranges: [], archivedAt: ago(3000), lagMs: 0 })
    expect(s.healthy).toBe(true)
    expect(formatStatus(s, 'UTC')).toContain(
      'app/app: point-in-time: no time to restore to yet (no proven base backup lies inside the archive), lag 0s',
    )
  })

  it("shows a MySQL source's one binlog archive on each of its databases, whatever DBnn_NAME lists", () => {
    const mysql = parseConfig({
      BACKUP_DIR: '/backups',
      DB01_TYPE: 'mariadb',
      DB01_HOST: 'db',
      DB01_NAME: 'ALL',
      DB01_LABEL: 'shop',
      DB01_PITR: 'true',
      DB02_TYPE: 'mariadb',
      DB02_HOST: 'db2',
      DB02_NAME: 'a,b',
      DB02_LABEL: 'two',
      DB02_PITR: 'true',
    })
    // One archive per source, ALL included (it used to be left out: its lag was never watched).
    expect(pitrDatabases(mysql.sources).map((d) => `${d.source.label}/${d.database}`)).toEqual([
      `shop/${WHOLE_SOURCE}`,
      `two/${WHOLE_SOURCE}`,
    ])
    const state: ArchiveState = {
      ranges: [{ base: 'binlog.000001', from: ago(2 * H), to: ago(120_000) }],
      archivedAt: ago(120_000),
      lagMs: 120_000,
    }
    const s = computeStatus(
      [],
      [fakeEntry('shop', 'orders', ago(H)), fakeEntry('shop', 'users', ago(H))],
      mysql.sources.slice(0, 1),
      NOW,
      {
        maxAgeMs: 13 * H,
        pitr: { readings: [{ source: 'shop', database: WHOLE_SOURCE, archiver: 'binlog', state }], maxLagMs: 60_000 },
      },
    )
    expect(s.sources[0]!.databases.map((d) => [d.database, d.pitr?.lagSeconds, d.healthy])).toEqual([
      ['orders', 120, false],
      ['users', 120, false],
    ])
    expect(s.reason).toContain('shop/orders: point-in-time archive is 2m behind')
  })
})
