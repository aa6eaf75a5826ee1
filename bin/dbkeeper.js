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
  await import(pathToFileURL(built).href)
} else {
  const { register } = await import('tsx/esm/api')
  register()
  await import(new URL('../src/cli/main.ts', import.meta.url).href)
}
