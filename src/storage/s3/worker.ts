/** The worker thread that runs the S3 target (see ../threaded.ts for why a thread). */
import { parentPort, workerData } from 'node:worker_threads'
import type { S3Config } from '../../config/types.js'
import { Secret } from '../../runtime/secrets.js'
import { serveTarget } from '../threaded-worker.js'
import { createS3Client } from './client.js'
import { S3Target } from './target.js'

/** S3Config with its secrets revealed: a Secret does not survive the copy into a thread. */
export type PlainS3Config = Omit<S3Config, 'accessKeyId' | 'secretAccessKey' | 'sessionToken'> & {
  accessKeyId?: string
  secretAccessKey?: string
  sessionToken?: string
}

const plain = workerData as PlainS3Config
const secret = (v: string | undefined) => (v === undefined ? undefined : new Secret(v))
const cfg: S3Config = {
  ...plain,
  accessKeyId: secret(plain.accessKeyId),
  secretAccessKey: secret(plain.secretAccessKey),
  sessionToken: secret(plain.sessionToken),
}
serveTarget(new S3Target(createS3Client(cfg), cfg), parentPort!)
