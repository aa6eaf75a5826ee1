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

export function boundYoungGeneration(): void {
  process.getBuiltinModule('node:v8').setFlagsFromString(YOUNG_GENERATION_FLAG)
}
