/**
 * Splits `DBnn_EXTRA_OPTS` into arguments the way an operator expects from a shell — spaces
 * separate, single or double quotes group, a backslash escapes — without ever running a shell.
 */
export function splitOptions(text: string): { args: string[]; error?: string } {
  const args: string[] = []
  let current = ''
  let started = false
  let quote: '"' | "'" | undefined
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!
    if (quote) {
      if (c === quote) quote = undefined
      else if (c === '\\' && quote === '"' && i + 1 < text.length) current += text[++i]
      else current += c
    } else if (c === '"' || c === "'") {
      quote = c
      started = true
    } else if (c === '\\' && i + 1 < text.length) {
      current += text[++i]
      started = true
    } else if (/\s/.test(c)) {
      if (started) args.push(current)
      current = ''
      started = false
    } else {
      current += c
      started = true
    }
  }
  if (quote) return { args: [], error: `unclosed ${quote} quote` }
  if (started) args.push(current)
  return { args }
}
