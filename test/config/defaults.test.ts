/** What a valid configuration parses to: defaults, normalisation, labels, and the frozen result. */
import { describe, expect, it } from 'vitest'
import { expectProblems, MYSQL, parse, SQLITE } from './support.js'

describe('defaults', () => {
  it('fills every global from its default', () => {
    const config = parse(SQLITE)
    expect(config.compression).toEqual({ kind: 'gzip', level: 6 })
    expect(config.log).toEqual({ level: 'info', format: undefined })
    expect(config.tz).toBe('UTC')
    expect(config.retention).toEqual({ keepWithin: '7d' })
  })

  it('gives MySQL port 3306 and user root, PostgreSQL port 5432 and user postgres', () => {
    const config = parse({
      DB01_TYPE: 'mysql',
      DB01_HOST: 'db',
      DB01_NAME: 'app',
      DB02_TYPE: 'postgres',
      DB02_HOST: 'pg',
      DB02_NAME: 'app',
    })
    expect(config.sources.map((s) => [s.engine, s.port, s.user])).toEqual([
      ['mysql', 3306, 'root'],
      ['postgres', 5432, 'postgres'],
    ])
    expect(config.sources[1]!.pgFormat).toBe('plain')
    expect(config.sources[1]!.pgGlobals).toBe(false)
  })

  it('gives a SQLite source no host, port or user, and the file name as its database', () => {
    const s = parse({ DB01_TYPE: 'sqlite', DB01_PATH: '/data/shop.sqlite3' }).sources[0]!
    expect(s).toMatchObject({
      engine: 'sqlite',
      host: undefined,
      port: undefined,
      user: undefined,
      path: '/data/shop.sqlite3',
      databases: ['shop'],
      label: 'shop',
    })
  })

  it('takes DB01_NAME as the SQLite database name when given', () => {
    expect(parse({ ...SQLITE, DB01_NAME: 'orders' }).sources[0]!.databases).toEqual(['orders'])
  })
})

describe('normalisation', () => {
  it('accepts the values as an operator writes them: case, aliases, spaces', () => {
    const config = parse({
      ...MYSQL,
      DB01_TYPE: ' MariaDB ',
      DB01_PORT: ' 3307 ',
      COMPRESSION: 'GZ',
      COMPRESSION_LEVEL: '9',
      LOG_LEVEL: 'DEBUG',
      LOG_FORMAT: 'Pretty',
      TZ: 'Europe/Berlin',
    })
    expect(config.sources[0]!.engine).toBe('mysql')
    expect(config.sources[0]!.port).toBe(3307)
    expect(config.compression).toEqual({ kind: 'gzip', level: 9 })
    expect(config.log).toEqual({ level: 'debug', format: 'pretty' })
    expect(config.tz).toBe('Europe/Berlin')
  })

  it.each([
    ['postgresql', 'postgres'],
    ['pgsql', 'postgres'],
    ['sqlite3', 'sqlite'],
    ['MYSQL', 'mysql'],
  ])('reads DB01_TYPE=%s as %s', (type, engine) => {
    const env =
      engine === 'sqlite' ? { ...SQLITE, DB01_TYPE: type } : { DB01_TYPE: type, DB01_HOST: 'h', DB01_NAME: 'd' }
    expect(parse(env).sources[0]!.engine).toBe(engine)
  })

  it('treats a blank variable as unset', () => {
    const config = parse({ ...SQLITE, COMPRESSION: '', DB01_LABEL: '' })
    expect(config.compression.kind).toBe('gzip')
    expect(config.sources[0]!.label).toBe('app')
  })

  it('has no default for BACKUP_DIR: unset or blank, it is a problem that says the image sets /backups', () => {
    for (const value of [undefined, '  '])
      expectProblems({ ...SQLITE, BACKUP_DIR: value }, [
        {
          variable: 'BACKUP_DIR',
          value: undefined,
          expected: /e\.g\. BACKUP_DIR=.*the container image sets \/backups/,
        },
      ])
  })

  it('resolves a relative BACKUP_DIR against the working directory, and cleans an absolute one', () => {
    expect(parse({ ...SQLITE, BACKUP_DIR: 'backups' }).backupDir).toBe('/srv/dbkeeper/backups')
    expect(parse({ ...SQLITE, BACKUP_DIR: '/var/backups/../backups/' }).backupDir).toBe('/var/backups')
  })

  it('reads COMPRESSION=none', () => {
    expect(parse({ ...SQLITE, COMPRESSION: 'none' }).compression.kind).toBe('none')
  })

  it('reads COMPRESSION=zstd (or zst) with its own default level 3 and levels up to 19', () => {
    expect(parse({ ...SQLITE, COMPRESSION: 'zstd' }).compression).toEqual({ kind: 'zstd', level: 3 })
    expect(parse({ ...SQLITE, COMPRESSION: 'ZST', COMPRESSION_LEVEL: '19' }).compression).toEqual({
      kind: 'zstd',
      level: 19,
    })
  })

  it('splits a list of databases, trimming each name, and reads ALL in any case', () => {
    expect(parse({ ...MYSQL, DB01_NAME: 'app, shop ,crm' }).sources[0]!.databases).toEqual(['app', 'shop', 'crm'])
    expect(parse({ ...MYSQL, DB01_NAME: 'all' }).sources[0]!.databases).toBe('ALL')
  })

  it('orders sources by number, not by text (DB02 before DB10)', () => {
    const config = parse({
      DB10_TYPE: 'sqlite',
      DB10_PATH: '/d/ten.db',
      DB02_TYPE: 'sqlite',
      DB02_PATH: '/d/two.db',
      DB01_TYPE: 'sqlite',
      DB01_PATH: '/d/one.db',
    })
    expect(config.sources.map((s) => s.id)).toEqual(['DB01', 'DB02', 'DB10'])
  })

  it('ignores a source whose variables are all blank', () => {
    expect(parse({ ...SQLITE, DB02_TYPE: '', DB02_HOST: ' ' }).sources).toHaveLength(1)
  })
})

describe('labels', () => {
  it.each([
    [{ DB01_TYPE: 'mysql', DB01_HOST: 'db', DB01_NAME: 'x' }, 'db'],
    [{ DB01_TYPE: 'mysql', DB01_HOST: 'mysql.internal.example', DB01_NAME: 'x' }, 'mysql.internal.example'],
    [{ DB01_TYPE: 'postgres', DB01_HOST: '10.0.0.5', DB01_NAME: 'x' }, '10.0.0.5'],
    [{ DB01_TYPE: 'sqlite', DB01_PATH: '/data/app.db' }, 'app'],
    [{ DB01_TYPE: 'sqlite', DB01_PATH: '/data/My App (prod).sqlite3' }, 'My-App-prod-'],
    [{ DB01_TYPE: 'sqlite', DB01_PATH: '/data/.hidden.db' }, 'hidden'],
  ])('derives the label from the host or file name (%j → %s)', (env, label) => {
    expect(parse(env).sources[0]!.label).toBe(label)
  })

  it('takes DB01_LABEL as written when it is a valid directory name', () => {
    expect(parse({ ...MYSQL, DB01_LABEL: 'prod-db_1.eu' }).sources[0]!.label).toBe('prod-db_1.eu')
  })

  it('lets a label tell apart two sources on the same host', () => {
    const config = parse({ ...MYSQL, DB02_TYPE: 'mysql', DB02_HOST: 'db', DB02_NAME: 'shop', DB02_LABEL: 'db-shop' })
    expect(config.sources.map((s) => s.label)).toEqual(['db', 'db-shop'])
  })
})

describe('EXTRA_OPTS', () => {
  it('splits like a shell: spaces separate, quotes group, a backslash escapes', () => {
    const s = parse({
      ...MYSQL,
      DB01_EXTRA_OPTS: `--no-tablespaces --ignore-table="app.big table" --where='id > 10' a\\ b`,
    }).sources[0]!
    expect(s.extraOpts).toEqual(['--no-tablespaces', '--ignore-table=app.big table', '--where=id > 10', 'a b'])
  })

  it('is empty when unset', () => {
    expect(parse(MYSQL).sources[0]!.extraOpts).toEqual([])
  })

  it('runs no shell: $ and ` stay literal', () => {
    expect(parse({ ...MYSQL, DB01_EXTRA_OPTS: '--where=$(id) `id`' }).sources[0]!.extraOpts).toEqual([
      '--where=$(id)',
      '`id`',
    ])
  })
})

describe('the result', () => {
  it('is frozen, down to the sources', () => {
    const config = parse(MYSQL)
    expect(Object.isFrozen(config)).toBe(true)
    expect(Object.isFrozen(config.sources)).toBe(true)
    expect(Object.isFrozen(config.sources[0])).toBe(true)
    expect(Object.isFrozen(config.compression)).toBe(true)
  })

  it('does not change when the environment changes afterwards', () => {
    const env: Record<string, string> = { ...MYSQL }
    const config = parse(env)
    env.DB01_HOST = 'elsewhere'
    expect(config.sources[0]!.host).toBe('db')
  })
})
