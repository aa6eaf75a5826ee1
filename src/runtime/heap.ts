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
 * After each full collection V8 lets the old generation grow to its live size × this factor (3)
 * before the next one, instead of the factor it derives from how fast the collector runs against
 * how fast the program allocates.
 *
 * Why: a backup's live heap is small (9–14 MB) and it allocates slowly against how fast such a
 * heap is collected, so V8 picks a factor near its minimum and the limit falls to live + ~8 MB:
 * 16–29 full collections per 100 MB of dump, each with its helper threads. At 3× the headroom is
 * bounded by the live size (~20–30 MB during a backup), not by the dump. Measured:
 * docs/PERFORMANCE.md, "The old generation's headroom".
 *
 * Why this flag: `--initial-old-space-size` (a floor under the limit) is a size limit, read once
 * when the heap is set up, like the semi-space sizes above; V8 reads the growing percent each time
 * it recomputes the limit after a full collection (heap-controller.cc, `GrowingFactor`), so it
 * works when set at run time.
 */
export const OLD_GENERATION_FLAG = '--heap-growing-percent=200'

export function boundHeapGrowth(): void {
  const v8 = process.getBuiltinModule('node:v8')
  v8.setFlagsFromString(YOUNG_GENERATION_FLAG)
  v8.setFlagsFromString(OLD_GENERATION_FLAG)
}
