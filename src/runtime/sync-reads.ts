/**
 * The volume's reads (file-reads.ts, FileReads) on node:fs's synchronous calls, for `dbkeeper
 * status` (cli/commands/status.ts, daemon/current-status.ts): a process that reads once and has
 * nothing else to do meanwhile. The same results and the same errors, as rejections. Why: the
 * status build (scripts/build.mjs) then never loads node:fs/promises (docs/PERFORMANCE.md,
 * "Start-up"). The daemon and every other command read with `asyncReads`.
 */
import { closeSync, fstatSync, openSync, readdirSync, readFileSync, readSync, statSync } from 'node:fs'
import type { FileReads } from './file-reads.js'

export const syncReads: FileReads = {
  readdir: async (path) => readdirSync(path),
  readdirEntries: async (path) => readdirSync(path, { withFileTypes: true }),
  stat: async (path) => statSync(path),
  readFile: async (path) => readFileSync(path),
  async open(path) {
    const fd = openSync(path, 'r')
    return {
      size: async () => fstatSync(fd).size,
      read: async (buffer, position) => readSync(fd, buffer, 0, buffer.length, position),
      close: async () => closeSync(fd),
    }
  },
}
