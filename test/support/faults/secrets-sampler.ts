/**
 * The secret sampler of the fault-injection suite (issue 10): the evidence every secrets test
 * greps at its end — CLI output, logs, alerts received, files on the volume and in the bucket, and
 * the command lines and tool environments sampled from /proc while the runs were going.
 */
import { readdir, readFile, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { gunzipSync } from 'node:zlib'
import { cmdlineText, parseProcStat } from './processes.js'
import { filesUnder } from '../files.js'

/**
 * Everything a file's runs produced that an operator or another user could see: CLI output,
 * daemon logs, alerts received, files on the volume and in the bucket, and the command lines of
 * every process on the machine sampled while the runs were going (what `ps` shows), plus the
 * environment of the tools dbkeeper starts (dump tools, clients: they get a minimal one).
 */
export class Evidence {
  private readonly texts: { what: string; text: string }[] = []
  private readonly cmdlines = new Set<string>()
  private readonly toolEnvs = new Map<string, string>()
  /** Command lines of the processes this test process started, and their descendants. */
  private readonly ours = new Set<string>()
  private timer: NodeJS.Timeout | undefined
  private intervalMs: number | undefined
  private busy = false
  samples = 0

  add(what: string, text: string | Buffer): void {
    this.texts.push({ what, text: text.toString() })
  }

  /**
   * Every file under `dir` (but `skip`): manifests, checksums, the journal, the content of .gz
   * data files — of those up to `maxBytes` (bulk test data holds no secret; its name is still read).
   */
  async addFiles(dir: string, skip?: RegExp, maxBytes = 4 << 20): Promise<void> {
    for (const f of await filesUnder(dir)) {
      if (skip?.test(f)) continue
      this.add(`name ${f}`, f)
      if (((await stat(join(dir, f)).catch(() => undefined))?.size ?? Infinity) > maxBytes) continue
      const data = await readFile(join(dir, f)).catch(() => undefined)
      if (!data) continue
      this.add(`file ${f}`, f.endsWith('.gz') ? safeGunzip(data) : data)
    }
  }

  /** Samples /proc every `intervalMs` until `stopSampling`. */
  startSampling(intervalMs = 100): void {
    if (this.timer) return
    this.intervalMs = intervalMs
    this.timer = setInterval(() => {
      if (this.busy) return
      this.busy = true
      void this.sample().finally(() => (this.busy = false))
    }, intervalMs)
    this.timer.unref()
  }

  stopSampling(): void {
    clearInterval(this.timer)
    this.timer = undefined
  }

  /**
   * Samples every `intervalMs` while `run` runs, then at the usual pace again (if sampling was on):
   * for tools that live only tens of milliseconds.
   */
  async sampleDensely<T>(run: () => Promise<T>, intervalMs = 10): Promise<T> {
    const usual = this.timer ? this.intervalMs : undefined
    this.stopSampling()
    this.startSampling(intervalMs)
    try {
      return await run()
    } finally {
      this.stopSampling()
      if (usual !== undefined) this.startSampling(usual)
    }
  }

  async sample(): Promise<void> {
    const pids = (await readdir('/proc').catch(() => [] as string[])).filter((n) => /^\d+$/.test(n))
    const parent = new Map<string, string>()
    const cmdOf = new Map<string, string>()
    const tools: [string, string][] = []
    await Promise.all(
      pids.map(async (pid) => {
        const cmd = await readFile(`/proc/${pid}/cmdline`, 'utf8').then(cmdlineText, () => '')
        if (!cmd) return
        this.cmdlines.add(cmd)
        cmdOf.set(pid, cmd)
        const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '')
        parent.set(pid, String(parseProcStat(stat)?.ppid ?? ''))
        if (
          /^(\S*\/)?(mysqldump|mariadb-dump|mariadb|mysql|pg_dump|pg_dumpall|pg_restore|psql|zstd|gzip|sqlite3)\b/.test(
            cmd,
          ) &&
          !this.toolEnvs.has(cmd)
        )
          tools.push([pid, cmd])
      }),
    )
    // The environment of the tools our own runs started (other tests' scripts have theirs).
    const ours = (pid: string) => {
      for (let p = parent.get(pid), n = 0; p && n < 20; p = parent.get(p), n++)
        if (p === String(process.pid)) return true
      return false
    }
    for (const [pid, cmd] of parent.size > 0 ? [...cmdOf] : []) if (ours(pid)) this.ours.add(cmd)
    for (const [pid, cmd] of tools) {
      if (!ours(pid)) continue
      const env = await readFile(`/proc/${pid}/environ`).then(
        (b) => b.toString('utf8').replace(/\0/g, '\n'),
        () => '',
      )
      if (env) this.toolEnvs.set(cmd, env)
    }
    this.samples += 1
  }

  /** How many tools started by our runs had their environment read. */
  get toolEnvCount(): number {
    return this.toolEnvs.size
  }

  get cmdlineCount(): number {
    return this.cmdlines.size
  }

  /** Command lines of our own runs and everything they started (to look for shells). */
  ourCmdlines(): string[] {
    return [...this.ours]
  }

  /** Command lines seen that match `pattern` (to prove the sampler saw the tools run). */
  cmdlinesMatching(pattern: RegExp): string[] {
    return [...this.cmdlines].filter((c) => pattern.test(c))
  }

  /** Where each secret appears: "what: …context…". Empty when none leaked. */
  leaks(secrets: readonly string[]): string[] {
    const out: string[] = []
    const all = [
      ...this.texts,
      ...[...this.cmdlines].map((c) => ({ what: 'a process command line', text: c })),
      ...[...this.toolEnvs].map(([cmd, env]) => ({ what: `the environment of ${cmd.slice(0, 80)}`, text: env })),
    ]
    for (const secret of secrets) {
      if (secret.length < 6) throw new Error(`a test secret must be distinctive: ${JSON.stringify(secret)}`)
      for (const { what, text } of all) {
        const at = text.indexOf(secret)
        if (at >= 0)
          out.push(
            `${JSON.stringify(secret)} in ${what}: …${text.slice(Math.max(0, at - 60), at + secret.length + 20)}…`,
          )
      }
    }
    return out
  }

  get size(): number {
    return this.texts.length
  }
}

function safeGunzip(data: Buffer): Buffer {
  try {
    return gunzipSync(data)
  } catch {
    return data
  }
}
