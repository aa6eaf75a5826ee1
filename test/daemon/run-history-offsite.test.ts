import { describe, expect, it } from 'vitest'
import { entriesOf } from '../../src/daemon/run-history.js'
import { fakeRun } from '../support/backups.js'

describe('the history names every off-site target', () => {
  it('is ok only when each target confirmed its copy, and names the one that failed', () => {
    const at = new Date('2026-12-05T06:00:00Z')
    const [failed] = entriesOf(
      fakeRun(at, [
        {
          source: 'app',
          database: 'shop',
          id: 'shop_1',
          ok: false,
          offsites: [
            { ok: true, target: 'S3', key: 's3://a/shop_1' },
            { ok: false, target: 'S3_2', error: 'connection refused', hint: 'check S3_2_ENDPOINT' },
          ],
        },
      ]),
    )
    expect(failed!.offsite).toEqual({
      ok: false,
      error: 'S3_2: connection refused',
      hint: 'check S3_2_ENDPOINT',
      targets: [
        { target: 'S3', ok: true },
        { target: 'S3_2', ok: false },
      ],
    })
    const [single] = entriesOf(
      fakeRun(at, [{ source: 'app', database: 'shop', id: 'shop_2', offsite: { ok: true, key: 's3://a/shop_2' } }]),
    )
    expect(single!.offsite).toEqual({ ok: true, targets: [{ target: 'S3', ok: true }] })
  })
})
