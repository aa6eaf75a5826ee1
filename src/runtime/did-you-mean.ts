/** "Did you mean …?": the nearest of the names we know, for a variable, a command or a flag. */

/**
 * The candidate within a typo of `name`: one edit for names up to 8 characters, two beyond
 * (an edit is an insertion, a deletion, a substitution, or two neighbours swapped). Candidates of
 * three characters or fewer (TZ, -v) are too short to guess from.
 */
export function closest(name: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined
  let bestDistance = Infinity
  for (const candidate of candidates) {
    if (candidate.length <= 3) continue
    const limit = candidate.length <= 8 ? 1 : 2
    const d = distanceWithin(name, candidate, limit)
    if (d <= limit && d < bestDistance) {
      best = candidate
      bestDistance = d
    }
  }
  return best
}

/** Optimal string alignment distance (Levenshtein plus adjacent transpositions). */
export function editDistance(a: string, b: string): number {
  if (Math.abs(a.length - b.length) > 2) return 3
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)])
  for (let j = 0; j <= b.length; j++) d[0]![j] = j
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1
      let v = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost)
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, d[i - 2]![j - 2]! + 1)
      d[i]![j] = v
    }
  }
  return d[a.length]![b.length]!
}

/**
 * editDistance(a, b) when it is at most `limit`, otherwise some number above `limit`. What
 * `closest` needs, at a fraction of the cost: every configuration load judges each environment
 * variable that is not ours (HOSTNAME, NODE_VERSION, …) against ~100 known names, and the full
 * table for each pair was most of that (docs/PERFORMANCE.md, "Start-up"). Exact within the limit:
 * the distance is at least the difference in length, and once two consecutive rows of the table
 * exceed the limit every later row does too (a cell comes from the row above, from the row
 * before that plus one, or from its left neighbour).
 */
export function distanceWithin(a: string, b: string, limit: number): number {
  if (Math.abs(a.length - b.length) > limit) return limit + 1
  if (lettersApart(a, b) > 2 * limit) return limit + 1
  const width = b.length + 1
  let before = new Int32Array(width) // row i - 2
  let above = new Int32Array(width) // row i - 1
  let row = new Int32Array(width)
  for (let j = 0; j < width; j++) above[j] = j
  let aboveMin = 0
  for (let i = 1; i <= a.length; i++) {
    row[0] = i
    let rowMin = i
    for (let j = 1; j < width; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1
      let v = Math.min(above[j]! + 1, row[j - 1]! + 1, above[j - 1]! + cost)
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, before[j - 2]! + 1)
      row[j] = v
      if (v < rowMin) rowMin = v
    }
    if (rowMin > limit && aboveMin > limit) return limit + 1
    const spare = before
    before = above
    above = row
    row = spare
    aboveMin = rowMin
  }
  return above[b.length]!
}

/** Per character code (codes ≥ 127 share the last slot): reset to zeros after every use. */
const counts = new Int32Array(128)

/**
 * How far apart the letters of `a` and `b` are, as multisets: the sum over characters of the
 * difference in their counts. An insertion or a deletion changes it by one, a substitution by two,
 * a transposition not at all, so it is at most twice the edit distance: a cheap bound that spares
 * the table for nearly every pair (`HOSTNAME` against `S3_BUCKET`). Sharing a slot only lowers it.
 */
function lettersApart(a: string, b: string): number {
  for (let i = 0; i < a.length; i++) counts[Math.min(a.charCodeAt(i), 127)]!++
  for (let i = 0; i < b.length; i++) counts[Math.min(b.charCodeAt(i), 127)]!--
  let apart = 0
  for (let i = 0; i < a.length; i++) {
    const c = Math.min(a.charCodeAt(i), 127)
    apart += Math.abs(counts[c]!)
    counts[c] = 0
  }
  for (let i = 0; i < b.length; i++) {
    const c = Math.min(b.charCodeAt(i), 127)
    apart += Math.abs(counts[c]!)
    counts[c] = 0
  }
  return apart
}
