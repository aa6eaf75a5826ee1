/**
 * The journal's file reads (journal-files.ts, FileReads) on node:fs's synchronous calls, for
 * `dbkeeper status` (daemon/current-status.ts, readStatus): a process that reads once and has
 * nothing else to do meanwhile. The same results and the same errors, as rejections. Why: the
 * status build (scripts/build.mjs) then loads no node:fs/promises on a volume with a journal
 * (with it readline, fs/dir, the watchers and the file streams: ~10 M instructions of `status`,
 * docs/PERFORMANCE.md, "Start-up"). The daemon and every other command read with `asyncReads`.
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs'
import type { FileReads } from './journal-files.js'

export const syncReads: FileReads = {
  async open(path) {
    const fd = openSync(path, 'r')
    return {
      size: async () => fstatSync(fd).size,
      read: async (buffer, position) => readSync(fd, buffer, 0, buffer.length, position),
      close: async () => closeSync(fd),
    }
  },
}
