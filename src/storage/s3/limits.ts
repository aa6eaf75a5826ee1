/** Sizes of the S3 uploads, apart from the SDK so that using them never loads it. */

/**
 * Parts of 5 MiB (S3's smallest), 2 in flight: ~15 MiB of buffers per upload (the parts sent, the one
 * being filled), whatever the backup's size. 8 MiB × 4 held ~45 MiB (then in a worker thread) and put a backup
 * with S3 over its 150 MB RSS budget (docs/PERFORMANCE.md, "Memory"); an upload on loopback or a LAN
 * keeps up with the compressor with two parts in flight.
 */
export const PART_SIZE = 5 * 1024 * 1024
export const QUEUE_SIZE = 2
/** S3 allows 10,000 parts; stay clear of it by growing the parts of very large files. */
export const MAX_PARTS = 9000
/** The largest object CopyObject (used to add metadata after a streamed upload) accepts. */
export const MAX_COPY_SIZE = 5 * 1024 ** 3
