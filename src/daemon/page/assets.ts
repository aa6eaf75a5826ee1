/**
 * The files the page loads besides itself, all served by the daemon (appliances often have no
 * internet, so no CDN): uPlot's script and stylesheet straight from its npm package, and our
 * chart script (charts.ts). Read once, kept in memory.
 */
import { readFile } from 'node:fs/promises'
import { createRequire } from 'node:module'
import type { Reply } from '../http.js'
import { CHARTS_SCRIPT } from './charts.js'

export const CHART_ASSETS = {
  uplot: '/assets/uPlot.iife.min.js',
  css: '/assets/uPlot.min.css',
  charts: '/assets/charts.js',
} as const

const require = createRequire(import.meta.url)
const FILES: Record<string, { module: string; type: string }> = {
  [CHART_ASSETS.uplot]: { module: 'uplot/dist/uPlot.iife.min.js', type: 'text/javascript; charset=utf-8' },
  [CHART_ASSETS.css]: { module: 'uplot/dist/uPlot.min.css', type: 'text/css; charset=utf-8' },
}

const cache = new Map<string, Buffer>()

/** The asset at `path`, or undefined when it is not one of ours. */
export async function assetReply(path: string): Promise<Reply | undefined> {
  if (path === CHART_ASSETS.charts)
    return { status: 200, type: 'text/javascript; charset=utf-8', body: Buffer.from(CHARTS_SCRIPT) }
  const file = FILES[path]
  if (!file) return undefined
  let body = cache.get(path)
  if (!body) {
    body = await readFile(require.resolve(file.module))
    cache.set(path, body)
  }
  return { status: 200, type: file.type, body, headers: { 'cache-control': 'max-age=86400' } }
}
