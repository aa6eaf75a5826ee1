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

/** A proven backup's floor: the shell pipeline it is measured against, and what its proof costs done alone. */
export interface Floor {
  pipeline: string
  proof: string
  subject: string
}

/**
 * The cores as the limit: every pipeline with the CPU its database server spent for it (the same
 * cores run both; 0 where there is no server), and the least wall time that CPU allows on
 * `threads` cores. Then, per floor, an estimate of the least a proven backup can take: the shell
 * pipeline's CPU and its server's (the dump and the compression, which a backup cannot skip) plus
 * the proof done alone (`proof`: bench/proof-cost.mjs), spread perfectly over the cores, against
 * the shell pipeline's own wall. An estimate, not a bound: a compressor cheaper than the shell's,
 * or a proof cheaper than its plain form, goes under it.
 */
export function floorTable(cases: Map<string, CaseResult>, threads: number, floors: Floor[]): string {
  const rows = [
    `| pipeline (${threads} cores) | wall s | CPU s, command | CPU s, server | CPU s, both | least wall their CPU allows, s | cores busy |`,
    '|---|---:|---:|---:|---:|---:|---:|',
  ]
  for (const c of cases.values()) {
    const wall = medianOf(c, 'wallMs')
    const cpu = medianOf(c, 'cpuMs')
    const server = medianOf(c, 'serverCpuMs') ?? 0
    if (wall === undefined || cpu === undefined || c.name.includes('inside the backup')) continue
    rows.push(
      `| ${cell(c.name)} | ${fmt(wall, 1000, 2)} | ${fmt(cpu, 1000, 2)} | ${fmt(server, 1000, 2)} | ${fmt(cpu + server, 1000, 2)} | ` +
        `${fmt((cpu + server) / threads, 1000, 2)} | ${((cpu + server) / wall).toFixed(2)} |`,
    )
  }
  rows.push('')
  for (const f of floors) {
    const shell = cases.get(f.pipeline)
    const wall = medianOf(shell, 'wallMs')
    const cpu = medianOf(shell, 'cpuMs')
    const server = medianOf(shell, 'serverCpuMs') ?? 0
    const proof = medianOf(cases.get(f.proof), 'cpuMs')
    const subject = medianOf(cases.get(f.subject), 'wallMs')
    if (wall === undefined || cpu === undefined || proof === undefined) continue
    const floor = (cpu + server + proof) / threads
    rows.push(
      `- ${cell(f.subject)}, the floor estimate with both cores busy throughout: (${cell(f.pipeline)} ${fmt(cpu, 1000, 2)} + its server ${fmt(server, 1000, 2)} + ` +
        `${cell(f.proof)} ${fmt(proof, 1000, 2)} CPU s) / ${threads} cores = ${fmt(floor, 1000, 2)} s, ` +
        `**${(floor / wall).toFixed(2)}×** ${cell(f.pipeline)}'s ${fmt(wall, 1000, 2)} s` +
        (subject === undefined ? '.' : `; it took ${fmt(subject, 1000, 2)} s (${(subject / wall).toFixed(2)}×).`),
    )
  }
  return rows.join('\n')
}
