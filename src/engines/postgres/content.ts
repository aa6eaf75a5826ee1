/**
 * Is a dump complete? pg_dump writes its end marker last, after every table's data; pg_dumpall
 * its own. The custom format has no text marker: its header is checked here and the whole archive
 * is read by `pg_restore` in verify.ts.
 */

export const DUMP_END_MARKER = '-- PostgreSQL database dump complete'
export const CLUSTER_END_MARKER = '-- PostgreSQL database cluster dump complete'
export const CUSTOM_MAGIC = 'PGDMP'

/**
 * What may follow the marker: blank lines, `--` comment lines, and the `\unrestrict <key>` line
 * that pg_dump 17.6 / 16.10 / 15.14 and later write to close the `\restrict` at the top.
 * Anything else after it means the marker is not the end (e.g. a table's data ended with that text).
 */
const TRAILER = /^(?:[ \t]*(?:--[^\n]*|\\unrestrict [^\n]*)?[ \t]*(?:\r?\n|$))*$/

/** undefined when `tail` ends with `marker` (plus the trailer above), else the reason. */
export function checkEndMarker(tail: Buffer, marker: string, tool: string): string | undefined {
  const text = tail.toString('utf8')
  const at = text.lastIndexOf(marker)
  if (at < 0) return `the "${marker}" line that ${tool} writes last is missing: the dump ended early`
  const after = text.slice(at + marker.length)
  if (!TRAILER.test(after))
    return `the "${marker}" line is not at the end of the dump: ${tool}'s output continued after it`
  return undefined
}

/** A custom-format archive starts with "PGDMP". */
export function checkCustomHead(head: Buffer): string | undefined {
  if (head.subarray(0, CUSTOM_MAGIC.length).toString('latin1') === CUSTOM_MAGIC) return undefined
  return 'the file does not start with "PGDMP": it is not a pg_dump custom-format archive'
}
