/**
 * The off-site targets as recovery sees them (`fetch`, `restore`, `verify`, `list`): one listing
 * over every target, in order (`S3_*`, then `S3_2_*`, …). A target that cannot be listed is
 * skipped with a warning naming it, so a region that is down does not stop a restore from the
 * next one; only when every target fails does the listing fail. A backup held by several
 * targets is listed once, from the first target that has it; the others are its fallbacks
 * (`alternatives`), tried in order when downloading from the first fails.
 */
import { listEntries, sortNewestFirst, type BackupEntry } from '../catalog/catalog.js'
import type { Config, S3Config } from '../config/types.js'
import { toDbkeeperError, type DbkeeperError } from '../runtime/errors.js'
import type { Logger } from '../runtime/logger.js'
import { openS3Target } from '../storage/s3/index.js'
import type { Target } from '../storage/target.js'

export interface RemoteTargets {
  /** For messages: `s3://a/prefix/, s3://b/dr/`. */
  readonly description: string
  /** The merged listing, newest first. Throws only when no target could be listed. */
  list(source?: string, database?: string): Promise<BackupEntry[]>
  /** The same backup on the later targets that listed it, in target order. */
  alternatives(entry: BackupEntry): BackupEntry[]
}

const identity = (e: BackupEntry) => `${e.manifest.source}/${e.manifest.database}/${e.manifest.file}`

export function openRemoteTargets(
  config: Config,
  opts: { logger: Logger; signal: AbortSignal; targets?: readonly Target[] },
): RemoteTargets | undefined {
  if (config.s3Targets.length === 0) return undefined
  const opened = new Map<number, Target>()
  const targetAt = (i: number, cfg: S3Config): Target => {
    let t = opened.get(i) ?? opts.targets?.[i]
    if (!t) {
      t = openS3Target(cfg, { logger: opts.logger.child({ target: cfg.id }), signal: opts.signal })
      opened.set(i, t)
    }
    return t
  }
  const others = new Map<string, BackupEntry[]>()
  return {
    description: config.s3Targets.map((c) => `s3://${c.bucket}/${c.prefix}`).join(', '),
    async list(source, database) {
      const errors: DbkeeperError[] = []
      const seen = new Map<string, BackupEntry>()
      for (const [i, cfg] of config.s3Targets.entries()) {
        const target = targetAt(i, cfg)
        let entries: BackupEntry[]
        try {
          entries = await listEntries(target, {
            ...(source !== undefined ? { source } : {}),
            ...(database !== undefined ? { database } : {}),
          })
        } catch (error) {
          const e = toDbkeeperError(error, `listing ${cfg.id} (${target.description})`)
          errors.push(e)
          if (config.s3Targets.length > 1)
            opts.logger.warn(
              { target: cfg.id, code: e.code },
              `off-site target ${cfg.id} (${target.description}) cannot be listed, skipped: ${e.message}`,
            )
          continue
        }
        for (const e of entries) {
          const id = identity(e)
          if (!seen.has(id)) seen.set(id, e)
          else if (e.problem === undefined) others.set(id, [...(others.get(id) ?? []), e])
        }
      }
      if (errors.length === config.s3Targets.length) throw errors[0]!
      return sortNewestFirst([...seen.values()])
    },
    alternatives: (entry) => others.get(identity(entry)) ?? [],
  }
}
