import { Writable } from 'node:stream'
import { createLogger, type Logger } from '../../src/runtime/logger.js'

/** A real logger (secrets scrubbed as in production) writing JSON lines into memory. */
export function captureLogger(): { logger: Logger; lines: () => Record<string, unknown>[]; text: () => string } {
  const chunks: string[] = []
  const destination = new Writable({
    write(chunk: Buffer | string, _enc, callback) {
      chunks.push(chunk.toString())
      callback()
    },
  })
  const logger = createLogger({ level: 'debug', format: 'json', destination })
  const text = () => chunks.join('')
  const lines = () =>
    text()
      .split('\n')
      .filter((l) => l.trim() !== '')
      .map((l) => JSON.parse(l) as Record<string, unknown>)
  return { logger, lines, text }
}
