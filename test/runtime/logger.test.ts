/**
 * The logger scrubs every line: a password that slipped into an error message, a field or a
 * stack trace comes out as `***`, in JSON and in pretty lines alike.
 */
import { PassThrough } from 'node:stream'
import { describe, expect, it } from 'vitest'
import { createLogger, prettyLine } from '../../src/runtime/logger.js'
import { MASK, Secret } from '../../src/runtime/secrets.js'
import type { LogFormat } from '../../src/runtime/logger.js'

function capture(format: LogFormat) {
  const stream = new PassThrough()
  const chunks: string[] = []
  stream.on('data', (chunk: Buffer) => chunks.push(chunk.toString('utf8')))
  const logger = createLogger({ level: 'info', format, destination: stream })
  /** The lines written so far. */
  const lines = async (): Promise<string[]> => {
    logger.flush()
    await new Promise((resolve) => setImmediate(resolve))
    return chunks
      .join('')
      .split('\n')
      .filter((l) => l !== '')
  }
  return { logger, lines }
}

const PASSWORD = 'p@ss "word" $HOME #1-5d2c'

describe('logger', () => {
  new Secret(PASSWORD)

  it('masks a password inside an error message and its stack (JSON)', async () => {
    const { logger, lines } = capture('json')
    const err = new Error(`mysqldump: Got error: 1045: Access denied for user 'backup' (using password ${PASSWORD})`)
    logger.error({ err, source: 'DB01' }, `backup failed: ${err.message}`)
    const out = await lines()
    expect(out).toHaveLength(1)
    expect(out[0]).not.toContain(PASSWORD)
    expect(out[0]).not.toContain(JSON.stringify(PASSWORD).slice(1, -1))
    const rec = JSON.parse(out[0]!) as {
      msg: string
      err: { message: string; stack: string }
      source: string
      level: number
    }
    expect(rec.msg).toBe(
      `backup failed: mysqldump: Got error: 1045: Access denied for user 'backup' (using password ${MASK})`,
    )
    expect(rec.err.message).toContain(`using password ${MASK}`)
    expect(rec.err.stack).not.toContain(PASSWORD)
    expect(rec.source).toBe('DB01')
    expect(rec.level).toBe(50)
  })

  it('masks a password in any field, and a Secret object as ***', async () => {
    const { logger, lines } = capture('json')
    logger.info(
      { args: ['--user=backup', `--password=${PASSWORD}`], password: new Secret('field-secret-0a9e') },
      'running',
    )
    const [line] = await lines()
    expect(line).not.toContain(PASSWORD)
    expect(line).not.toContain('field-secret-0a9e')
    const rec = JSON.parse(line!) as { args: string[]; password: string }
    expect(rec.args).toEqual(['--user=backup', `--password=${MASK}`])
    expect(rec.password).toBe(MASK)
  })

  it('masks in pretty lines too', async () => {
    const { logger, lines } = capture('pretty')
    logger.warn({ cause: `connect ECONNREFUSED (password ${PASSWORD})` }, `retrying with ${PASSWORD}`)
    const [line] = await lines()
    expect(line).toMatch(/^\d\d:\d\d:\d\d WARN {2}retrying with \*\*\* cause=connect ECONNREFUSED \(password \*\*\*\)$/)
    expect(line).not.toContain(PASSWORD)
  })

  it('writes one JSON object per line by default when the destination is no terminal', async () => {
    const stream = new PassThrough()
    const chunks: string[] = []
    stream.on('data', (c: Buffer) => chunks.push(c.toString()))
    const logger = createLogger({ level: 'info', format: undefined, destination: stream })
    logger.info('hello')
    logger.debug('below the level')
    logger.flush()
    await new Promise((resolve) => setImmediate(resolve))
    const lines = chunks.join('').trim().split('\n')
    expect(lines).toHaveLength(1)
    expect(JSON.parse(lines[0]!)).toMatchObject({ level: 30, msg: 'hello' })
  })
})

describe('JSON lines', () => {
  it('carry the time in ISO 8601, UTC', async () => {
    const { logger, lines } = capture('json')
    const before = Date.now()
    logger.info('hello')
    const rec = JSON.parse((await lines())[0]!) as { time: string }
    expect(rec.time).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/)
    expect(Date.parse(rec.time)).toBeGreaterThanOrEqual(before)
  })
})

describe('prettyLine', () => {
  it('formats time, level, message and extra fields', () => {
    const line = prettyLine(
      JSON.stringify({ level: 30, time: Date.UTC(2024, 0, 2, 3, 4, 5), msg: 'done', source: 'db', bytes: 42 }),
    )
    expect(line).toBe('03:04:05 INFO  done source=db bytes=42\n')
  })

  it('reads the ISO 8601 time the logger writes', () => {
    expect(prettyLine(JSON.stringify({ level: 40, time: '2024-01-02T03:04:05.678Z', msg: 'slow' }))).toBe(
      '03:04:05 WARN  slow\n',
    )
  })

  it('passes a line that is no JSON through unchanged', () => {
    expect(prettyLine('not json\n')).toBe('not json\n')
  })
})
