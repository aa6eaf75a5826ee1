/**
 * Keeps V8's young generation at its initial size for the rest of the process (and for the worker
 * threads it starts: V8's flags are per process).
 *
 * Why: Node 24's V8 grows each semi-space to up to 32 MB (64 MB of new space) while a process
 * allocates fast and much survives, which loading a command's modules and then a backup's blocks
 * in flight both do. That young generation was ~30 MB of a backup's peak RSS, and the rarer the
 * scavenges, the longer the `Buffer`s its dead objects own stay allocated (V8 frees external
 * memory when it collects their wrappers). Measured: docs/PERFORMANCE.md, "Memory".
 *
 * Why the growth factor and not `--max-semi-space-size`: the size limits are read once, when the
 * heap is set up, so they work only on node's command line, which `dbkeeper` run as a command,
 * the image's daemon and `docker exec backup dbkeeper …` do not have (nor would NODE_OPTIONS reach
 * a cron job's clean environment). The growth factor is read each time V8 would grow the space.
 * It must be set before the command's modules load: once grown, the space stays grown.
 */
export const YOUNG_GENERATION_FLAG = '--semi-space-growth-factor=1'

/**
 * The old generation's headroom after each full collection: twice what is live. V8 sets the next
 * limit at live × a factor it derives from how fast it collects against how fast the program
 * allocates (1.1 to 4, Node 24's `heap-controller.cc`), at least live + 8 MB; a backup's heap is so
 * small (10–14 MB) that the limit came every ~5 MB of dump: 15–23 mark-compacts per 100 MB, their
 * marking on V8's helper threads taking CPU from the dump and the compressor. This flag replaces the
 * factor each time V8 computes a limit, so it works set at run time (the size flags do not). 100,
 * A/B on 100 MB: a zstd backup of text −7% CPU (hex: no change), an S3-on backup −6.5% CPU and
 * +4 MB peak RSS (134 MB), gzip within the noise and −14 MB peak RSS; 200 gained ~3% more on zstd
 * but took the S3-on backup past 140 MB (docs/PERFORMANCE.md, "The old generation's headroom").
 */
export const OLD_GENERATION_FLAG = '--heap-growing-percent=100'

/** Both flags, for this process and the worker threads it starts (V8's flags are per process). */
export function setHeapFlags(): void {
  const v8 = process.getBuiltinModule('node:v8')
  v8.setFlagsFromString(YOUNG_GENERATION_FLAG)
  v8.setFlagsFromString(OLD_GENERATION_FLAG)
}
