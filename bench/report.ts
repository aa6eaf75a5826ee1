/** Medians, ratios against the shell pipelines, and the table the bench prints (markdown). */
import type { Sample } from './measure.js'

export interface CaseResult {
  name: string
  samples: (Sample & { outputBytes?: number })[]
}

export interface Target {
  /** What is compared: `subject` / `baseline` (both case names), medians of `metric`. */
  subject: string
  baseline: string
  metric: 'wallMs' | 'outputBytes'
  /** No limit: a context row (e.g. how much of the second core the host gave pigz). */
  max?: number
  label: string
}

export interface TargetResult extends Target {
  ratio: number | undefined
  met: boolean | undefined
}

export function median(values: number[]): number | undefined {
  if (values.length === 0) return undefined
  const s = [...values].sort((a, b) => a - b)
  const mid = Math.floor(s.length / 2)
  return s.length % 2 ? s[mid] : (s[mid - 1]! + s[mid]!) / 2
}

export function medianOf(c: CaseResult | undefined, key: keyof Sample | 'outputBytes'): number | undefined {
  if (!c) return undefined
  return median(c.samples.map((s) => s[key]).filter((v): v is number => typeof v === 'number'))
}

export function evaluate(cases: Map<string, CaseResult>, targets: Target[]): TargetResult[] {
  return targets.map((t) => {
    const a = medianOf(cases.get(t.subject), t.metric)
    const b = medianOf(cases.get(t.baseline), t.metric)
    const ratio = a !== undefined && b !== undefined && b > 0 ? a / b : undefined
    return { ...t, ratio, met: ratio === undefined || t.max === undefined ? undefined : ratio <= t.max }
  })
}

/** Pipeline names hold shell pipes: escaped, they stay one markdown cell. */
const cell = (text: string) => text.replace(/\|/g, '\\|')
const fmt = (v: number | undefined, scale: number, digits: number) =>
  v === undefined ? '–' : (v / scale).toFixed(digits)

export function caseTable(cases: Map<string, CaseResult>): string {
  const rows = [
    '| pipeline | wall s (median) | runs (s) | CPU s | peak RSS MB, own process | largest RSS MB, any process | output MB |',
    '|---|---:|---|---:|---:|---:|---:|',
  ]
  for (const c of cases.values()) {
    const runs = c.samples.map((s) => (s.wallMs / 1000).toFixed(1)).join(' / ')
    rows.push(
      `| ${cell(c.name)} | ${fmt(medianOf(c, 'wallMs'), 1000, 1)} | ${runs} | ${fmt(medianOf(c, 'cpuMs'), 1000, 1)} | ` +
        `${c.name.startsWith('dbkeeper') ? fmt(Math.max(...c.samples.map((s) => s.mainRssKb ?? 0)) || undefined, 1024, 0) : '–'} | ` +
        `${fmt(Math.max(...c.samples.map((s) => s.maxRssKb ?? 0)) || undefined, 1024, 0)} | ${fmt(medianOf(c, 'outputBytes'), 1024 * 1024, 1)} |`,
    )
  }
  return rows.join('\n')
}

export function targetTable(results: TargetResult[], rss: { name: string; peakMb: number | undefined }[]): string {
  const rows = ['| target | ratio (medians) | limit | met |', '|---|---:|---:|---|']
  for (const r of results) {
    const met = r.max === undefined ? 'context' : r.met === undefined ? 'not measured' : r.met ? 'yes' : '**no**'
    rows.push(
      `| ${cell(r.label)} | ${r.ratio === undefined ? '–' : `${r.ratio.toFixed(2)}×`} | ${r.max === undefined ? '–' : `≤ ${r.max}×`} | ${met} |`,
    )
  }
  for (const r of rss) {
    const met = r.peakMb === undefined ? 'not measured' : r.peakMb <= 150 ? 'yes' : '**no**'
    rows.push(
      `| peak RSS of ${cell(r.name)} | ${r.peakMb === undefined ? '–' : `${r.peakMb.toFixed(0)} MB`} | ≤ 150 MB | ${met} |`,
    )
  }
  return rows.join('\n')
}
