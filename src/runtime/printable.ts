/**
 * Names come from databases and files, not from us: a database named "x\n\x1b[2J…" printed raw
 * splits a table row or drives the operator's terminal (escape injection). Human output escapes
 * control characters; JSON stays JSON (these escapes are valid inside its strings).
 */

const hex = (c: string) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`

/**
 * Text bound for a terminal: every C0 control except newline and tab, DEL and the C1 controls
 * (0x80–0x9f, which some terminals obey like ESC) become `\u00XX`. In JSON text these characters
 * can only stand inside strings, where the escape means the same character.
 */
export function terminalSafe(text: string): string {
  // eslint-disable-next-line no-control-regex -- finding control characters is the point
  return text.replace(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g, hex)
}

/** One field of a line or a table cell (a name): newlines and tabs are escaped too. */
export function printable(text: string): string {
  // eslint-disable-next-line no-control-regex -- finding control characters is the point
  return text.replace(/[\u0000-\u001f\u007f-\u009f]/g, (c) =>
    c === '\n' ? '\\n' : c === '\t' ? '\\t' : c === '\r' ? '\\r' : hex(c),
  )
}
