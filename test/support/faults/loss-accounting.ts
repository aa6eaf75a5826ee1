/**
 * What a fault cost (fault-injection suite, issue 10): the backups proven before it, through the
 * real CLI (`list --json`, `verify ID`) or the sha256 of their files, compared with those proven
 * after it. Two measures: `lostBackups` (sha256 read from the disk, cheap: for many trials) and
 * `assessLoss` (the full read-back of every backup, and debris listed as a backup fails it).
 */
import type { ListedBackup } from '../../../src/cli/commands/list.js'
import { listJson, runCli } from '../cli.js'
import { sha256File } from '../files.js'

export const keyOf = (b: Pick<ListedBackup, 'source' | 'id'>): string => `${b.source}/${b.id}`

/** A backup listed without a problem, with a local copy whose bytes are those of its manifest. */
export interface ProvenBackup {
  key: string
  sha256: string
  path: string
  location: ListedBackup['location']
}

/**
 * The proven backups as `list --json` shows them (or `listed`, its output), no problem, a local copy, each with the
 * sha256 of its data file as read from the disk right now: a listed backup whose bytes are not
 * those of its manifest is not counted.
 */
export async function provenBackups(
  env: Record<string, string>,
  listed?: readonly ListedBackup[],
): Promise<Map<string, ProvenBackup>> {
  const out = new Map<string, ProvenBackup>()
  for (const b of listed ?? (await listJson(env))) {
    if (b.problem !== undefined || b.location === 's3') continue
    if ((await sha256File(b.path).catch(() => undefined)) !== b.sha256) continue
    out.set(keyOf(b), { key: keyOf(b), sha256: b.sha256, path: b.path, location: b.location })
  }
  return out
}

/**
 * What a fault cost: every backup proven before (a `provenBackups` map) must still be proven,
 * with the same sha256, and one that was off-site too must still be. Returns the lost ones.
 */
export function lostBackups(
  before: Map<string, ProvenBackup>,
  after: Map<string, ProvenBackup>,
  except: ReadonlySet<string> = new Set(),
): string[] {
  const lost: string[] = []
  for (const [key, b] of before) {
    if (except.has(key)) continue
    const a = after.get(key)
    if (!a) lost.push(`${key}: no longer a proven backup`)
    else if (a.sha256 !== b.sha256) lost.push(`${key}: sha256 changed`)
    else if (b.location === 'both' && a.location !== 'both') lost.push(`${key}: its off-site copy is gone`)
  }
  return lost
}

/** Runs `fn` over `items`, at most `limit` at once. */
export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array<R>(items.length)
  let next = 0
  const worker = async () => {
    while (next < items.length) {
      const i = next++
      out[i] = await fn(items[i]!)
    }
  }
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker))
  return out
}

/**
 * `dbkeeper verify ID --source S` for each backup (the full read-back); returns the keys of
 * those that did not verify, each with the CLI's last words.
 */
export async function verifyEach(
  env: Record<string, string>,
  backups: readonly ListedBackup[],
): Promise<Map<string, string>> {
  const failed = new Map<string, string>()
  await mapLimit(backups, 3, async (b) => {
    const r = await runCli(['verify', b.id, '--source', b.source], env)
    if (r.exitCode !== 0) failed.set(keyOf(b), `exit ${r.exitCode}: ${r.all.trim().split('\n').slice(-3).join(' | ')}`)
  })
  return failed
}

export interface LossReport {
  /** Proven backups (local, or their off-site copy) lost to the fault. */
  lost: number
  details: string[]
}

/**
 * Counts what the fault cost: every backup proven before it (listed, no problem) must still be
 * listed with the same sha256, still verify, and keep its off-site copy — unless `mayGo` says the
 * retention policy was entitled to remove it in that run. Also throws when anything listed after
 * the fault does not verify or carries a problem: a listed backup that is not proven is debris
 * that got listed, which is a failure even when nothing was lost.
 */
export async function assessLoss(
  env: Record<string, string>,
  before: readonly ListedBackup[],
  after: readonly ListedBackup[],
  mayGo: (b: ListedBackup) => boolean = () => false,
): Promise<LossReport> {
  const details: string[] = []
  const damaged = after.filter((a) => a.problem !== undefined || a.location === 's3')
  const failed = await verifyEach(
    env,
    after.filter((a) => a.location !== 's3'),
  )
  const byKey = new Map(after.map((a) => [keyOf(a), a]))
  const proven = before.filter((b) => b.problem === undefined)
  let lost = 0
  for (const b of proven) {
    const a = byKey.get(keyOf(b))
    const why = !a
      ? mayGo(b)
        ? undefined
        : 'no longer listed'
      : a.sha256 !== b.sha256
        ? `sha256 changed (${b.sha256} → ${a.sha256})`
        : a.problem !== undefined
          ? `now damaged: ${a.problem}`
          : a.location === 's3'
            ? 'the local copy is gone'
            : failed.has(keyOf(a))
              ? `does not verify: ${failed.get(keyOf(a))}`
              : b.location === 'both' && a.location === 'local' && !mayGo(b)
                ? 'its off-site copy is gone'
                : undefined
    if (why) {
      lost += 1
      details.push(`${keyOf(b)}: ${why}`)
    }
  }
  const beforeKeys = new Set(proven.map(keyOf))
  const listedUnproven = [
    ...damaged
      .filter((a) => !beforeKeys.has(keyOf(a)))
      .map((a) => `${keyOf(a)} listed with problem ${a.problem ?? a.location}`),
    ...[...failed].filter(([k]) => !beforeKeys.has(k)).map(([k, why]) => `${k} listed but ${why}`),
  ]
  if (listedUnproven.length > 0) throw new Error(`debris is listed as a backup:\n${listedUnproven.join('\n')}`)
  return { lost, details }
}
