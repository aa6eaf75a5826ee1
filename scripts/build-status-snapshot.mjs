// A V8 start-up snapshot of `dbkeeper status` (the HEALTHCHECK). Not part of any build: measured
// and not kept (docs/PERFORMANCE.md, "A start-up snapshot for status"); this reproduces the blob
// measured there.
//
//   node scripts/build-status-snapshot.mjs <outdir>      (absolute; after node scripts/build.mjs <outdir>)
//   node --snapshot-blob <outdir>/cli/status.blob status [--check|--json]
//
// Bundles <outdir>/cli/main-status.js, the status build, into one CommonJS script (a snapshot's
// entry is one script: its `require` knows only Node's builtins), whose modules are evaluated at
// build time: the configuration and the volume are read only when the blob runs (the
// deserialize-main function below), never frozen into it. Packages (croner, pino) are required at
// run time from main-status.js's directory. Writes <outdir>/cli/status.blob, for the Node that runs
// this script only: another Node refuses the blob (exit 14, a message on stderr).
import { build } from 'esbuild'
import { execFileSync } from 'node:child_process'
import { readFile, rm } from 'node:fs/promises'
import { join, resolve } from 'node:path'

const root = resolve(import.meta.dirname, '..')
const cli = join(resolve(root, process.argv[2] ?? 'dist'), 'cli')
const entry = join(cli, 'status-snapshot.cjs')
const blob = join(cli, 'status.blob')

// main-status.js ends by running main() with a top-level await: the snapshot runs it after
// deserializing instead.
const TAIL =
  /\nif \(process\.argv\[2\] !== "status"\) boundYoungGeneration\(\);\nvar code = await main\(process\.argv\.slice\(2\)\);\nprocess\.stdout\.write\("", \(\) => process\.exit\(code\)\);\n/
await build({
  stdin: {
    contents: `import { main } from './main-status.js'
process.getBuiltinModule('node:v8').startupSnapshot.setDeserializeMainFunction(() => {
  // Where main-status.js is: its import.meta.url (croner and pino are required from there).
  const args = process.execArgv
  const at = args.lastIndexOf('--snapshot-blob')
  const path = process.getBuiltinModule('node:path')
  const self = path.join(path.dirname(path.resolve(args[at + 1])), 'main-status.js')
  globalThis.__dbkeeperUrl = process.getBuiltinModule('node:url').pathToFileURL(self).href
  globalThis.__dbkeeperRequire = process.getBuiltinModule('node:module').createRequire(self)
  main(process.argv.slice(1)).then((code) => process.stdout.write('', () => process.exit(code)))
})
`,
    resolveDir: cli,
    loader: 'js',
  },
  bundle: true,
  format: 'cjs',
  platform: 'node',
  target: 'node24',
  packages: 'external',
  outfile: entry,
  define: { 'import.meta.url': 'globalThis.__dbkeeperUrl' },
  banner: {
    js: 'var require = (id) => process.getBuiltinModule(id) ?? globalThis.__dbkeeperRequire(id);',
  },
  logLevel: 'warning',
  plugins: [
    {
      name: 'no-top-level-run',
      setup(b) {
        b.onLoad({ filter: /main-status\.js$/ }, async (args) => {
          const text = await readFile(args.path, 'utf8')
          if (!TAIL.test(text)) throw new Error(`${args.path}: the run at its end is not where expected`)
          return { contents: text.replace(TAIL, '\n'), loader: 'js' }
        })
      },
    },
  ],
})
await rm(blob, { force: true })
execFileSync(process.execPath, ['--snapshot-blob', blob, '--build-snapshot', entry], { stdio: 'inherit' })
