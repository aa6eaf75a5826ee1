/**
 * `node --import tsx bench/s3-timeline.ts [--size 100M] [--runs 3] [--cli DIR/bin/dbkeeper.js]`
 *
 * Where an S3-on backup's time goes after its dump: one `dbkeeper backup` of the bench's SQLite
 * database per run with S3 on (s3rver on loopback, as bench/s3.ts), every HTTP request the S3
 * client made (bench/http-timeline.mjs) and every log line, in ms since the process started, so
 * what runs serially after the local proof ("backup committed") can be read off. `--cli` times
 * another checkout's build (built with bench/build.ts) on the same data; `--off` adds a run with
 * S3 off before each, for the moments of the local steps without the upload.
 */
import { spawn } from 'node:child_process'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { buildCli } from './build.js'
import { createSqlite, sqliteRunEnv } from './databases.js'
import { parseSize } from './generate.js'
import { s3rverEnv, startS3rver } from './s3rver.js'

const ROOT = new URL('..', import.meta.url).pathname
const { values: opts } = parseArgs({
  options: {
    size: { type: 'string', default: '100M' },
    runs: { type: 'string', default: '1' },
    cli: { type: 'string', multiple: true },
    off: { type: 'boolean', default: false },
  },
})

interface Row {
  start: number
  end?: number
  method: string
  path: string
  copy?: boolean
  status?: number
}

/** The S3 operation a request was, from its method and query. */
function operation(r: Row): string {
  const [path = '', query = ''] = r.path.split('?')
  const file = decodeURIComponent(path.split('/').at(-1) ?? '')
  const q = new URLSearchParams(query)
  if (r.method === 'GET' && q.get('list-type') === '2')
    return `ListObjectsV2 ${decodeURIComponent(q.get('prefix') ?? '')}`
  if (r.method === 'POST' && q.has('uploads')) return 'CreateMultipartUpload'
  if (r.method === 'PUT' && q.has('partNumber')) return `UploadPart ${q.get('partNumber')}`
  if (r.method === 'POST' && q.has('uploadId')) return 'CompleteMultipartUpload'
  if (r.method === 'DELETE' && q.has('uploadId')) return 'AbortMultipartUpload'
  if (r.method === 'PUT' && r.copy) return `CopyObject ${file}`
  return `${{ PUT: 'PutObject', HEAD: 'HeadObject', GET: 'GetObject', DELETE: 'DeleteObject' }[r.method] ?? r.method} ${file}`
}

const work = await mkdtemp(join(tmpdir(), 'dbk-bench-s3tl-'))
let stop: (() => void) | undefined
try {
  const clis = opts.cli?.length ? opts.cli : [await buildCli(ROOT, join(work, 'cli'))]
  const dbPath = join(work, 'bench.db')
  createSqlite(dbPath, parseSize(opts.size))
  const s3 = await startS3rver(join(work, 's3'))
  stop = () => s3.child.kill()
  for (let run = 0; run < Number(opts.runs); run++)
    for (const [i, cli] of clis.entries())
      for (const s3on of opts.off ? [false, true] : [true]) {
        const file = join(work, `timeline-${run}-${i}-${s3on}.jsonl`)
        const env = {
          ...sqliteRunEnv(dbPath),
          LOG_LEVEL: 'debug',
          BACKUP_DIR: join(work, `backups-${run}-${i}-${s3on}`),
          ...(s3on ? { ...s3rverEnv(s3.port), S3_PREFIX: `run-${run}-${i}` } : {}),
          DBK_TIMELINE: file,
          NODE_OPTIONS: `--import ${join(ROOT, 'bench/http-timeline.mjs')}`,
        }
        const output = await new Promise<string>((resolve, reject) => {
          const child = spawn(process.execPath, [cli, 'backup', '--json'], { env, stdio: ['ignore', 'pipe', 'pipe'] })
          let text = ''
          child.stdout.on('data', (b: Buffer) => (text += b.toString()))
          child.stderr.on('data', (b: Buffer) => (text += b.toString()))
          child.once('close', (code) => (code === 0 ? resolve(text) : reject(new Error(`exit ${code}: ${text}`))))
        })
        const rows = (await readFile(file, 'utf8'))
          .trim()
          .split('\n')
          .map((l) => JSON.parse(l) as Row)
        const t0 = rows.find((r) => r.method === 'START')!.start
        const events: [number, string][] = []
        for (const r of rows) {
          if (r.method === 'START' || r.method === 'EXIT')
            events.push([r.start, r.method === 'START' ? 'process start' : 'process exit'])
          else
            events.push([
              r.start,
              `${operation(r)} … ${r.end === undefined ? '?' : `${r.end - t0} ms (${r.end - r.start} ms) ${r.status}`}`,
            ])
        }
        for (const line of output.split('\n')) {
          // Log records are one line each; the `--json` result is printed over several.
          let rec: { time?: string; msg?: string }
          try {
            rec = JSON.parse(line) as typeof rec
          } catch {
            continue
          }
          if (rec.time && rec.msg) events.push([Date.parse(rec.time), `log: ${rec.msg}`])
        }
        events.sort((a, b) => a[0] - b[0])
        console.log(`\nrun ${run + 1}, S3 ${s3on ? 'on' : 'off'}, ${cli}:`)
        for (const [t, what] of events) console.log(`${String(t - t0).padStart(6)} ms  ${what}`)
      }
} finally {
  stop?.()
  await rm(work, { recursive: true, force: true })
}
