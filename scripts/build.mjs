// The build the container image runs (`npm run build`), the benchmarks (bench/build.ts) and the
// tests' CLI (test/support/global-setup.ts): src/ bundled by esbuild into one flat directory,
// `<outdir>/cli/` (default dist/cli/; bin/dbkeeper.js runs dist/cli/main.js when it exists).
//
//   node scripts/build.mjs [outdir]
//
// Why a bundle: `dbkeeper status` (the HEALTHCHECK, every minute) loaded 45 modules from tsc's
// one-file-per-module output, and the ESM loader's per-module cost was most of its start-up
// beyond a bare `node` (docs/PERFORMANCE.md, "Start-up"). `--splitting` keeps every lazily
// imported command (src/cli/commands/index.ts) in chunks of its own, so `--help` still loads no
// command and `status` only what it uses. Packages stay external: node_modules is resolved at run
// time as before (better-sqlite3's addon, the AWS SDK's lazy loading).
//
// One flat directory on purpose: the SQLite children and the S3 worker are separate entry points
// that their callers find next to themselves (`new URL('./snapshot-child.js', import.meta.url)`),
// and in a flat directory "next to" any chunk is the same place.
import { build } from 'esbuild'
import { rm } from 'node:fs/promises'
import { join, resolve } from 'node:path'

const root = resolve(import.meta.dirname, '..')
const outdir = join(resolve(root, process.argv[2] ?? 'dist'), 'cli')

// The names the configuration readers look up (the unknown-variable check's known names), measured
// here once instead of by every command at start-up: src/config/index.ts, measureKnownNames.
// Bundled with its packages into memory and imported from there, so nothing is written.
const measuring = await build({
  absWorkingDir: root,
  stdin: { contents: "export { measureKnownNames } from './src/config/index.ts'", resolveDir: root, loader: 'ts' },
  bundle: true,
  write: false,
  format: 'esm',
  platform: 'node',
  target: 'node24',
  logLevel: 'warning',
})
const { measureKnownNames } = await import(
  `data:text/javascript;base64,${Buffer.from(measuring.outputFiles[0].contents).toString('base64')}`
)
const knownNames = measureKnownNames()

await rm(outdir, { recursive: true, force: true })
await build({
  // A string of JSON (src/config/index.ts says why).
  define: { DBKEEPER_KNOWN_NAMES: JSON.stringify(JSON.stringify(knownNames)) },
  absWorkingDir: root,
  entryPoints: [
    'src/cli/main.ts',
    // Started by path, not imported: src/engines/sqlite/child.ts, src/storage/s3/index.ts.
    'src/engines/sqlite/snapshot-child.ts',
    'src/engines/sqlite/inspect-child.ts',
    'src/storage/s3/worker.ts',
  ],
  outdir,
  entryNames: '[name]',
  chunkNames: 'chunk-[hash]',
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node24',
  packages: 'external',
  logLevel: 'warning',
})
