/**
 * The files of a test volume (fault-injection suite, issue 10): "nothing was touched" snapshots,
 * and the debris and temporary files a killed run may leave that the next run must remove.
 */
import { readdir, stat } from 'node:fs/promises'
import { join, relative } from 'node:path'
import { filesUnder } from '../files.js'

/** Path → "size mtime" of everything under `dir` (directories included): "nothing was touched". */
export async function treeState(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {}
  const walk = async (d: string): Promise<void> => {
    for (const e of await readdir(d, { withFileTypes: true }).catch(() => [])) {
      const p = join(d, e.name)
      const s = await stat(p)
      out[relative(dir, p)] = `${e.isDirectory() ? 'dir' : s.size} ${s.mtimeMs} ${s.mode.toString(8)}`
      if (e.isDirectory()) await walk(p)
    }
  }
  await walk(dir)
  return out
}

/**
 * What a killed run may leave on disk and the next run must remove: temporary files, data files
 * and checksums without a manifest, per-run work directories. Relative paths.
 */
export async function debrisOnDisk(backupDir: string): Promise<string[]> {
  const found: string[] = []
  const walk = async (dir: string, rel: string): Promise<void> => {
    const entries = await readdir(dir, { withFileTypes: true }).catch(() => [])
    const names = new Set(entries.map((e) => e.name))
    for (const e of entries) {
      const path = rel ? `${rel}/${e.name}` : e.name
      if (path.startsWith('.dbkeeper/lock')) {
        // The run lock's private files (lock.<pid>.tmp) of a run killed while taking it.
        if (path !== '.dbkeeper/lock') found.push(path)
      } else if (e.isDirectory()) {
        if (path === '.dbkeeper/tmp') {
          for (const w of await readdir(join(dir, e.name)).catch(() => [] as string[])) found.push(`${path}/${w}`)
        } else await walk(join(dir, e.name), path)
      } else if (e.name.endsWith('.dbk-tmp')) found.push(path)
      else if (/_\d{8}T\d{6}Z\.(sql|db|dump)(\.gz|\.zst)?$/.test(e.name) && !names.has(`${e.name}.manifest.json`))
        found.push(path)
      else if (e.name.endsWith('.sha256') && !names.has(e.name.slice(0, -'.sha256'.length))) found.push(path)
    }
  }
  await walk(backupDir, '')
  return found.sort()
}

/** The temporary files (`.NAME.dbk-tmp`) under `dir`, recursively, with their sizes. */
export async function tempFiles(dir: string): Promise<{ path: string; size: number }[]> {
  const temps = (await filesUnder(dir)).filter((f) => f.endsWith('.dbk-tmp')).map((f) => join(dir, f))
  return Promise.all(
    temps.map(async (path) => ({
      path,
      size: await stat(path).then(
        (s) => s.size,
        () => 0,
      ),
    })),
  )
}
