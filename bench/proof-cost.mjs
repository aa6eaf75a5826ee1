/**
 * `node bench/proof-cost.mjs FILE gzip|zstd`
 *
 * The proof of a backup file done alone, in one Node process with the libraries the backup uses
 * (node:zlib, node:crypto): the file read once and hashed, decompressed to the end and what comes
 * out hashed. bench/run.ts measures its CPU: the work a proven backup adds to the shell pipeline it
 * is compared with, at its plain cost (the backup also hashes the raw bytes as they are written,
 * and checks head, tail and lines). Plain JavaScript: no tsx start-up in the figure.
 */
import { createHash } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { Transform, Writable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { createGunzip, createZstdDecompress } from 'node:zlib'

const [file, codec] = process.argv.slice(2)
if (!file || !['gzip', 'zstd'].includes(codec ?? '')) throw new Error('usage: node bench/proof-cost.mjs FILE gzip|zstd')
const hashing = (hash) =>
  new Transform({
    transform(chunk, _enc, done) {
      hash.update(chunk)
      done(null, chunk)
    },
  })
const fileHash = createHash('sha256')
const rawHash = createHash('sha256')
await pipeline(
  createReadStream(file, { highWaterMark: 1 << 20 }),
  hashing(fileHash),
  codec === 'zstd' ? createZstdDecompress({ chunkSize: 1 << 20 }) : createGunzip({ chunkSize: 1 << 20 }),
  new Writable({
    write(chunk, _enc, done) {
      rawHash.update(chunk)
      done()
    },
  }),
)
process.stdout.write(`${fileHash.digest('hex')} ${rawHash.digest('hex')}\n`)
