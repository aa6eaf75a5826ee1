#!/usr/bin/env node
// The `dbkeeper` command. Runs the compiled CLI when the package was built (the container image),
// otherwise the TypeScript source through tsx (a development checkout after `npm ci`).
// fs and url come from process.getBuiltinModule, not `import`: an ESM import of node:fs also
// loads fs/promises and the stream classes (~16 M instructions measured with callgrind, ~12% of
// `--help`), which `--help` never needs (docs/PERFORMANCE.md, "Start-up").
const { existsSync } = process.getBuiltinModule('node:fs')
const { fileURLToPath, pathToFileURL } = process.getBuiltinModule('node:url')

// `status` (the HEALTHCHECK) has a build of its own, the status path in one file (scripts/build.mjs).
// A dist/ built before that file existed falls back to main.js, which runs status too.
const dist = (name) => fileURLToPath(new URL(`../dist/cli/${name}`, import.meta.url))
const built = [...(process.argv[2] === 'status' ? [dist('main-status.js')] : []), dist('main.js')].find((f) =>
  existsSync(f),
)
if (built) {
  // V8's compiled code of the bundle and of the packages it loads (execa, mysql2, pino: ~220 modules
  // on a MariaDB backup) is kept between runs in the user's cache directory (docs/PERFORMANCE.md,
  // "The compile cache on the backup path"). Node keeps a subdirectory per version and uid, checks
  // each entry against the file it was made from and writes only at exit; a directory it cannot
  // create or write leaves the run as it would be without a cache, and it never prints.
  // NODE_COMPILE_CACHE (Node has enabled it at start, there) and NODE_DISABLE_COMPILE_CACHE=1 (off)
  // are Node's own. $XDG_CACHE_HOME counts only when absolute, as its specification says.
  const { XDG_CACHE_HOME: xdg, HOME: home, NODE_COMPILE_CACHE: set } = process.env
  const base = xdg?.startsWith('/') ? xdg : home?.startsWith('/') ? `${home}/.cache` : undefined
  // Never in /proc or /sys: Node's enableCompileCache('/proc/…') spins and never returns (measured).
  const usable = base !== undefined && !/^\/(proc|sys)(\/|$)/.test(base)
  try {
    if (usable && !set) process.getBuiltinModule('node:module').enableCompileCache?.(`${base}/dbkeeper`)
  } catch {
    // A cache is never a reason for a command to fail.
  }
  await import(pathToFileURL(built).href)
} else {
  const { register } = await import('tsx/esm/api')
  register()
  await import(new URL('../src/cli/main.ts', import.meta.url).href)
}
