/** S3_* and AWS_* parsing: defaults, normalisation, the off-site policy, and every refusal. */
import { describe, expect, it } from 'vitest'
import { expectProblems, parse, realFiles, SQLITE } from './support.js'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

const S3 = {
  ...SQLITE,
  S3_BUCKET: 'backups-prod',
  AWS_ACCESS_KEY_ID: 'AKIAEXAMPLE',
  AWS_SECRET_ACCESS_KEY: 'wJalr/EXAMPLEKEY',
}

describe('S3 configuration', () => {
  it('is off without S3_BUCKET', () => {
    expect(parse(SQLITE).s3).toBeUndefined()
  })

  it('fills the defaults: AWS region us-east-1, virtual-hosted style, no SSE, the local policy', () => {
    const s3 = parse(S3).s3!
    expect(s3).toMatchObject({
      bucket: 'backups-prod',
      prefix: '',
      region: 'us-east-1',
      endpoint: undefined,
      forcePathStyle: false,
      sse: undefined,
      storageClass: undefined,
      retention: undefined,
    })
    expect(s3.secretAccessKey!.reveal()).toBe('wJalr/EXAMPLEKEY')
    expect(JSON.stringify(s3)).not.toContain('EXAMPLE')
  })

  it('uses path-style requests with a custom endpoint unless told otherwise', () => {
    expect(parse({ ...S3, S3_ENDPOINT: 'http://minio:9000/' }).s3).toMatchObject({
      endpoint: 'http://minio:9000',
      forcePathStyle: true,
    })
    expect(
      parse({
        ...S3,
        S3_ENDPOINT: 'https://acct.r2.cloudflarestorage.com',
        S3_REGION: 'auto',
        S3_FORCE_PATH_STYLE: 'false',
      }).s3,
    ).toMatchObject({ region: 'auto', forcePathStyle: false })
  })

  it('normalises the prefix to no leading and one trailing slash', () => {
    expect(parse({ ...S3, S3_PREFIX: '/prod/db/' }).s3!.prefix).toBe('prod/db/')
    expect(parse({ ...S3, S3_PREFIX: 'prod' }).s3!.prefix).toBe('prod/')
    expect(parse({ ...S3, S3_PREFIX: '/' }).s3!.prefix).toBe('')
  })

  it('takes SSE in either case and the KMS key with aws:kms', () => {
    expect(parse({ ...S3, S3_SSE: 'aes256' }).s3!.sse).toBe('AES256')
    expect(parse({ ...S3, S3_SSE: 'AWS:KMS', S3_SSE_KMS_KEY_ID: 'alias/backups' }).s3).toMatchObject({
      sse: 'aws:kms',
      sseKmsKeyId: 'alias/backups',
    })
  })

  it('reads credentials from _FILE (Docker secrets), and works without any (IAM role)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'dbk-s3-cfg-'))
    writeFileSync(join(dir, 'id'), 'AKIAFROMFILE\n')
    writeFileSync(join(dir, 'secret'), 'secret-from-file\n')
    const s3 = parse(
      {
        ...SQLITE,
        S3_BUCKET: 'b-1',
        AWS_ACCESS_KEY_ID_FILE: join(dir, 'id'),
        AWS_SECRET_ACCESS_KEY_FILE: join(dir, 'secret'),
      },
      realFiles,
    ).s3!
    expect([s3.accessKeyId!.reveal(), s3.secretAccessKey!.reveal()]).toEqual(['AKIAFROMFILE', 'secret-from-file'])
    expect(parse({ ...SQLITE, S3_BUCKET: 'b-1' }).s3).toMatchObject({
      accessKeyId: undefined,
      secretAccessKey: undefined,
    })
  })

  it('keeps off-site what the source keeps locally unless S3_KEEP_* / S3_RETENTION_DAYS say otherwise', () => {
    expect(parse({ ...S3, BACKUP_RETENTION_DAYS: '2' }).s3!.retention).toBeUndefined()
    // "2 days local, 30 days + 12 monthly off-site".
    expect(
      parse({ ...S3, BACKUP_RETENTION_DAYS: '2', S3_RETENTION_DAYS: '30', S3_KEEP_MONTHLY: '12' }).s3!.retention,
    ).toEqual({ keepWithin: '30d', keepMonthly: 12 })
    expect(
      parse({ ...S3, KEEP_DAILY: '7', KEEP_WEEKLY: '4', S3_KEEP_WEEKLY: '0', S3_KEEP_LAST: '3' }).s3!.retention,
    ).toEqual({ keepDaily: 7, keepLast: 3 })
  })

  it('lists every problem at once', () => {
    expectProblems({ ...SQLITE, S3_PREFIX: 'x', S3_REGION: 'eu-west-1' }, [
      { variable: 'S3_BUCKET', expected: 'S3_PREFIX, S3_REGION are set' },
    ])
    expectProblems(
      {
        ...SQLITE,
        S3_BUCKET: 's3://bucket/path',
        S3_ENDPOINT: 'minio:9000',
        S3_REGION: 'EU West',
        S3_SSE: 'kms',
        S3_SSE_KMS_KEY_ID: 'k',
        S3_STORAGE_CLASS: 'cold',
        S3_PREFIX: 'a//b',
        AWS_ACCESS_KEY_ID: 'AKIA',
        S3_KEEP_LAST: 'x',
      },
      [
        { variable: 'S3_BUCKET', value: 's3://bucket/path', expected: 'no s3://' },
        { variable: 'S3_ENDPOINT', value: 'minio:9000', expected: 'http:// or https://' },
        { variable: 'S3_REGION', value: 'EU West', expected: 'auto for Cloudflare R2' },
        { variable: 'S3_SSE', value: 'kms', expected: 'AES256' },
        { variable: 'S3_SSE_KMS_KEY_ID', value: 'k', expected: 'S3_SSE=aws:kms' },
        { variable: 'S3_STORAGE_CLASS', value: 'cold', expected: 'STANDARD_IA' },
        { variable: 'S3_PREFIX', value: 'a//b', expected: 'without empty' },
        { variable: 'AWS_SECRET_ACCESS_KEY', expected: 'both AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY' },
        { variable: 'S3_KEEP_LAST', value: 'x', expected: 'a count' },
      ],
    )
    expectProblems({ ...S3, KEEP_LAST: '3', S3_KEEP_LAST: '0' }, [
      { variable: 'S3_KEEP_*', expected: 'keeps something' },
    ])
  })
})
