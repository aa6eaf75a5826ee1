/**
 * The S3 client from the configuration. Credentials come only from the configuration (never from
 * argv or a file the SDK finds on its own) unless none are configured: then the SDK's default
 * chain supplies an IAM role (EC2 instance profile, ECS task role, web identity).
 */
import { S3Client } from '@aws-sdk/client-s3'
import type { S3Config } from '../../config/types.js'

/**
 * Attempts per request, parts of a multipart upload included: the SDK repeats a failed part
 * (its body is an in-memory Buffer) with its own exponential backoff and jitter.
 */
export const REQUEST_ATTEMPTS = 5

export function createS3Client(cfg: S3Config): S3Client {
  const custom = cfg.endpoint !== undefined
  return new S3Client({
    region: cfg.region,
    ...(custom ? { endpoint: cfg.endpoint } : {}),
    forcePathStyle: cfg.forcePathStyle,
    ...(cfg.accessKeyId && cfg.secretAccessKey
      ? {
          credentials: {
            accessKeyId: cfg.accessKeyId.reveal(),
            secretAccessKey: cfg.secretAccessKey.reveal(),
            ...(cfg.sessionToken ? { sessionToken: cfg.sessionToken.reveal() } : {}),
          },
        }
      : {}),
    // The SDK's default "flexible checksums" send streamed bodies aws-chunked with a trailing
    // checksum, which several S3-compatible stores (s3rver, older MinIO, Ceph) store verbatim:
    // the object silently holds the chunk framing instead of the backup. AWS itself handles them.
    ...(custom
      ? { requestChecksumCalculation: 'WHEN_REQUIRED' as const, responseChecksumValidation: 'WHEN_REQUIRED' as const }
      : {}),
    maxAttempts: REQUEST_ATTEMPTS,
    // A store that accepts the connection and then stalls must fail the call, not hang the run.
    requestHandler: { connectionTimeout: 10_000, socketTimeout: 120_000 },
  })
}
