/** Sizes of the S3 uploads, apart from the SDK so that using them never loads it. */

/** Parts of 8 MiB, QUEUE_SIZE in flight: ~40 MiB of buffers per upload, whatever the backup's size. */
export const PART_SIZE = 8 * 1024 * 1024
export const QUEUE_SIZE = 4
/** S3 allows 10,000 parts; stay clear of it by growing the parts of very large files. */
export const MAX_PARTS = 9000
/** The largest object CopyObject (used to add metadata after a streamed upload) accepts. */
export const MAX_COPY_SIZE = 5 * 1024 ** 3
