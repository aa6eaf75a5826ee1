/**
 * The pure parts of the parallel load: which heads may run on every connection
 * (parallel-load.ts sessionOnly), which manifests' members may be loaded apart
 * (restore/sections.ts loadableMembers), and the manifest reader's check of `members`.
 */
import { describe, expect, it } from 'vitest'
import { decodeManifest, encodeManifest, type Manifest, type ManifestMember } from '../../../src/catalog/manifest.js'
import { sessionOnly } from '../../../src/engines/mysql/parallel-load.js'
import { loadableMembers } from '../../../src/restore/sections.js'
import { fakeManifest } from '../../support/backups.js'

const MARIADB_HEAD = `/*M!999999\\- enable the sandbox mode */ 
-- MariaDB dump 10.19-11.8.3-MariaDB, for debian-linux-gnu (x86_64)
--
-- Host: 127.0.0.1    Database: shop
-- ------------------------------------------------------
-- Server version	10.11.14-MariaDB-0+deb12u2

/*!40101 SET @OLD_CHARACTER_SET_CLIENT=@@CHARACTER_SET_CLIENT */;
/*!40101 SET NAMES utf8mb4 */;
/*!40103 SET @OLD_TIME_ZONE=@@TIME_ZONE */;
/*!40103 SET TIME_ZONE='+00:00' */;
/*!40014 SET @OLD_UNIQUE_CHECKS=@@UNIQUE_CHECKS, UNIQUE_CHECKS=0 */;
/*!40014 SET @OLD_FOREIGN_KEY_CHECKS=@@FOREIGN_KEY_CHECKS, FOREIGN_KEY_CHECKS=0 */;
/*!40101 SET @OLD_SQL_MODE=@@SQL_MODE, SQL_MODE='NO_AUTO_VALUE_ON_ZERO' */;
/*M!100616 SET @OLD_NOTE_VERBOSITY=@@NOTE_VERBOSITY, NOTE_VERBOSITY=0 */;

--
-- Position to start replication or point-in-time recovery from
--

-- CHANGE MASTER TO MASTER_LOG_FILE='mysql-bin.000003', MASTER_LOG_POS=1234;

`

describe('sessionOnly: a head that may run on every connection', () => {
  it('takes mysqldump’s session settings and comments, with a PITR position comment', () => {
    expect(sessionOnly(Buffer.from(MARIADB_HEAD))).toBe(true)
  })
  it('refuses what must run once: a global setting, the binary log, a statement outside a version comment', () => {
    expect(sessionOnly(Buffer.from(`${MARIADB_HEAD}SET @@GLOBAL.GTID_PURGED=/*!80000 '+'*/ 'x:1-5';\n`))).toBe(false)
    expect(sessionOnly(Buffer.from(`${MARIADB_HEAD}SET @@SESSION.SQL_LOG_BIN= 0;\n`))).toBe(false)
    expect(sessionOnly(Buffer.from(`${MARIADB_HEAD}DROP TABLE IF EXISTS \`v\`;\n`))).toBe(false)
    expect(sessionOnly(Buffer.from(`${MARIADB_HEAD}/*!50001 CREATE VIEW \`v\` AS SELECT\n 1 AS \`id\` */;\n`))).toBe(
      false,
    )
  })
})

describe('loadableMembers: members that may be loaded apart', () => {
  const member = (kind: ManifestMember['kind'], offset: number, size: number, raw: number): ManifestMember => ({
    kind,
    offset,
    size,
    raw: { size: raw, sha256: 'a'.repeat(64) },
  })
  const base = (members: ManifestMember[], patch: Partial<Manifest> = {}): Manifest => ({
    ...fakeManifest('maria', 'shop', new Date('2026-12-06T12:00:00Z')),
    engine: 'mysql',
    compressed: { size: 100, sha256: 'b'.repeat(64) },
    raw: { size: 1000, sha256: 'c'.repeat(64) },
    compression: { kind: 'gzip', level: 6 },
    members,
    ...patch,
  })
  const good = [
    member('head', 0, 10, 100),
    member('table', 10, 60, 700),
    member('table', 70, 25, 150),
    member('tail', 95, 5, 50),
  ]

  it('gives them when they tile the file and the content, head first and tail last', () => {
    expect(loadableMembers(base(good))).toEqual(good)
  })
  it('gives none (one stream) for an older manifest, encryption, zstd, a gap, an overlap, sizes that do not add up, the wrong kinds', () => {
    expect(loadableMembers(base([]))).toBeUndefined()
    expect(loadableMembers({ ...base(good), members: undefined })).toBeUndefined()
    expect(
      loadableMembers(
        base(good, {
          encryption: {
            kind: 'age',
            recipients: [],
            plaintext: { size: 1, sha256: 'd'.repeat(64) },
            readBack: 'passphrase',
          },
        }),
      ),
    ).toBeUndefined()
    expect(loadableMembers(base(good, { compression: { kind: 'zstd', level: 3 } }))).toBeUndefined()
    expect(loadableMembers(base([good[0]!, member('table', 11, 59, 700), good[2]!, good[3]!]))).toBeUndefined()
    expect(loadableMembers(base(good, { compressed: { size: 101, sha256: 'b'.repeat(64) } }))).toBeUndefined()
    expect(loadableMembers(base(good, { raw: { size: 999, sha256: 'c'.repeat(64) } }))).toBeUndefined()
    expect(loadableMembers(base([good[1]!, ...good.slice(1)]))).toBeUndefined()
    expect(loadableMembers(base([good[0]!, good[1]!, member('tail', 70, 25, 150), good[3]!]))).toBeUndefined()
  })
})

describe('the manifest reader and `members`', () => {
  const m = { ...fakeManifest('maria', 'shop', new Date('2026-12-06T12:00:00Z')) }
  it('reads a manifest without them, and one with them', () => {
    expect('manifest' in decodeManifest(encodeManifest(m))).toBe(true)
    const withMembers = {
      ...m,
      members: [{ kind: 'head', offset: 0, size: 20, raw: { size: 30, sha256: 'e'.repeat(64) } }],
    }
    expect(decodeManifest(encodeManifest(withMembers as Manifest))).toEqual({
      manifest: expect.objectContaining({ members: withMembers.members }),
    })
  })
  it('reports damaged members as a damaged manifest', () => {
    for (const members of [
      {},
      [{ kind: 'body', offset: 0, size: 1, raw: { size: 1, sha256: 'e'.repeat(64) } }],
      [{ kind: 'table', offset: -1, size: 1, raw: { size: 1, sha256: 'e'.repeat(64) } }],
      [{ kind: 'table', offset: 0, size: 1 }],
    ])
      expect(decodeManifest(JSON.stringify({ ...m, members }))).toEqual({
        error: 'the manifest has gzip members without their kind, offset, size or checksum',
      })
  })
})
