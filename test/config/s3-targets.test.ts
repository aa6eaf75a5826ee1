/** S3_n_* targets, Object Lock and S3_NO_DELETE: defaults, inheritance of credentials, every refusal. */
import { describe, expect, it } from 'vitest'
import { expectProblems, parse, SQLITE } from './support.js'

const S3 = {
  ...SQLITE,
  S3_BUCKET: 'backups-prod',
  S3_REGION: 'eu-west-1',
  AWS_ACCESS_KEY_ID: 'AKIAGLOBALEXAMPLE',
  AWS_SECRET_ACCESS_KEY: 'global/EXAMPLEKEY',
}

describe('several S3 targets', () => {
  it('has one target without S3_n_*, the same object as config.s3', () => {
    const config = parse(S3)
    expect(config.s3Targets).toHaveLength(1)
    expect(config.s3Targets[0]).toBe(config.s3)
    expect(config.s3).toMatchObject({ id: 'S3', objectLock: undefined, noDelete: false })
    expect(parse(SQLITE).s3Targets).toEqual([])
  })

  it('reads S3_2_* and S3_3_* as their own targets, in number order, each with its own settings', () => {
    const config = parse({
      ...S3,
      S3_3_BUCKET: 'third',
      S3_2_BUCKET: 'dr-vault',
      S3_2_REGION: 'us-east-1',
      S3_2_ENDPOINT: 'https://s3.us-east-1.example.com',
      S3_2_PREFIX: '/dr/',
      S3_2_KEEP_MONTHLY: '12',
      S3_2_KEEP_LAST: '0',
      S3_2_STORAGE_CLASS: 'DEEP_ARCHIVE',
      S3_2_ACCESS_KEY_ID: 'AKIAVAULTEXAMPLE',
      S3_2_SECRET_ACCESS_KEY: 'vault/EXAMPLEKEY',
      S3_2_OBJECT_LOCK_MODE: 'compliance',
      S3_2_OBJECT_LOCK_DAYS: '35',
      S3_2_NO_DELETE: 'true',
    })
    expect(config.s3Targets.map((t) => t.id)).toEqual(['S3', 'S3_2', 'S3_3'])
    const [one, two, three] = config.s3Targets
    expect(one).toMatchObject({ region: 'eu-west-1', retention: undefined, storageClass: undefined })
    expect(two).toMatchObject({
      bucket: 'dr-vault',
      region: 'us-east-1',
      endpoint: 'https://s3.us-east-1.example.com',
      forcePathStyle: true,
      prefix: 'dr/',
      storageClass: 'DEEP_ARCHIVE',
      objectLock: { mode: 'COMPLIANCE', days: 35 },
      noDelete: true,
    })
    // Its own rules replace the implicit 7-day default, as a source's do: only monthlies go there.
    expect(two!.retention).toEqual({ keepMonthly: 12 })
    expect(two!.accessKeyId!.reveal()).toBe('AKIAVAULTEXAMPLE')
    // Target 3 sets nothing but its bucket: the global credentials, the defaults of everything else.
    expect(three).toMatchObject({ bucket: 'third', region: 'us-east-1', prefix: '', noDelete: false })
    expect(three!.secretAccessKey!.reveal()).toBe('global/EXAMPLEKEY')
    expect(JSON.stringify(config)).not.toContain('EXAMPLEKEY')
  })

  it('names the variable of each problem, with the target number', () => {
    expectProblems(
      {
        ...S3,
        S3_2_REGION: 'us-east-1',
        S3_3_BUCKET: 'x',
        S3_3_ACCESS_KEY_ID: 'AKIAONLYID',
        S3_3_OBJECT_LOCK_MODE: 'forever',
        S3_3_OBJECT_LOCK_DAYS: '0',
        S3_3_NO_DELETE: 'maybe',
        S3_4_BUCKET: 'fourth',
        S3_4_OBJECT_LOCK_MODE: 'GOVERNANCE',
        S3_4_KEEP_LAST: '0',
        S3_4_RETENTION_DAYS: '0',
        S3_OBJECT_LOCK_DAYS: '30',
      },
      [
        { variable: 'S3_2_BUCKET', expected: 'other S3_2_* variables are set' },
        { variable: 'S3_3_BUCKET', value: 'x', expected: 'a bucket name' },
        { variable: 'S3_3_SECRET_ACCESS_KEY', expected: 'both S3_3_ACCESS_KEY_ID and S3_3_SECRET_ACCESS_KEY' },
        { variable: 'S3_3_OBJECT_LOCK_MODE', value: 'forever', expected: 'GOVERNANCE' },
        { variable: 'S3_3_OBJECT_LOCK_DAYS', value: '0', expected: 'a number of days' },
        { variable: 'S3_3_NO_DELETE', value: 'maybe', expected: 'true or false' },
        { variable: 'S3_4_OBJECT_LOCK_DAYS', expected: 'with S3_4_OBJECT_LOCK_MODE' },
        { variable: 'S3_4_KEEP_*', expected: 'keeps something' },
        { variable: 'S3_OBJECT_LOCK_MODE', expected: 'with S3_OBJECT_LOCK_DAYS' },
      ],
    )
  })

  it('refuses two targets on the same bucket and prefix', () => {
    expectProblems({ ...S3, S3_2_BUCKET: 'backups-prod' }, [
      { variable: 'S3_2_PREFIX', expected: "different from S3's" },
    ])
  })

  it('suggests the right name for a typo in any target, and knows every target’s variables', () => {
    expectProblems({ ...S3, S3_2_BUCKET: 'dr-vault', S3_2_BUKET: 'x', S3_5_BUCKET: 'five', S3_5_REGOIN: 'x' }, [
      { variable: 'S3_2_BUKET', value: '…', expected: 'did you mean S3_2_BUCKET?' },
      { variable: 'S3_5_REGOIN', value: '…', expected: 'did you mean S3_5_REGION?' },
    ])
    expect(parse({ ...S3, S3_7_BUCKET: 'seven', S3_7_KEEP_YEARLY: '5' }).s3Targets[1]!.retention).toMatchObject({
      keepYearly: 5,
    })
  })
})
