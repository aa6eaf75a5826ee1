/**
 * The CLI as the container image runs it: the bundle of scripts/build.mjs behind bin/dbkeeper.js.
 * Built into a private directory, never into the checkout's dist/ (bin/dbkeeper.js prefers dist/ when it
 * exists, so a stale build there would silently replace the source for everyone working in the
 * checkout). Without a build, bin/dbkeeper.js runs the TypeScript through tsx, which adds about a
 * second of start-up and ~35 MB of RSS that no production run pays (docs/PERFORMANCE.md).
 */
import { execFileSync } from 'node:child_process'
import { copyFile, mkdir, symlink } from 'node:fs/promises'
import { join } from 'node:path'

/** Bundles src/ into `<dir>/dist` as `npm run build` does and returns the path of `<dir>/bin/dbkeeper.js`. */
export async function buildCli(root: string, dir: string): Promise<string> {
  await mkdir(join(dir, 'bin'), { recursive: true })
  execFileSync(process.execPath, [join(root, 'scripts/build.mjs'), join(dir, 'dist')], { stdio: 'inherit' })
  // package.json for "type": "module"; node_modules resolved from the checkout.
  await copyFile(join(root, 'package.json'), join(dir, 'package.json'))
  await copyFile(join(root, 'bin/dbkeeper.js'), join(dir, 'bin/dbkeeper.js'))
  await symlink(join(root, 'node_modules'), join(dir, 'node_modules'))
  return join(dir, 'bin/dbkeeper.js')
}
