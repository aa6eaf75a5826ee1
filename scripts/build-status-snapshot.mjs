// A V8 start-up snapshot of `dbkeeper status` (the HEALTHCHECK; docs/PERFORMANCE.md, "A start-up
// snapshot for status"). The image makes one (Dockerfile.backup): this script's first step in its
// build stage (esbuild is there), the second, scripts/status-snapshot-blob.mjs, with the runtime's
// own Node; bin/dbkeeper.sh runs it.
//
//   [WARM=1] node scripts/build-status-snapshot.mjs <outdir> [--entry-only]   (after scripts/build.mjs)
//   node --snapshot-blob <outdir>/cli/status.blob status [--check|--json]
//
// Bundles <outdir>/cli/main-status.js, the status build, into one CommonJS script,
// <outdir>/cli/status-snapshot.cjs (a snapshot's entry is one script: its `require` knows only
// Node's builtins), whose modules are evaluated at build time: the configuration and the volume
// are read only when the blob runs (the deserialize-main function below), never frozen into it.
// Packages (croner, pino) are required at run time from main-status.js's directory, so the blob
// must stay in that directory. Then, unless --entry-only, writes <outdir>/cli/status.blob
// (scripts/status-snapshot-blob.mjs), for the Node that runs this script only: another Node
// refuses the blob (exit 14, a message on stderr). WARM=1 needs <outdir>/cli/main.js to resolve
// the packages (a `dbkeeper backup` makes the warm-up's volume).
import { build } from 'esbuild'
import { readFile, writeFile } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { buildBlob, WARM_MARK } from './status-snapshot-blob.mjs'

const root = resolve(import.meta.dirname, '..')
const cli = join(resolve(root, process.argv[2] ?? 'dist'), 'cli')
const entry = join(cli, 'status-snapshot.cjs')

// main-status.js ends by running main() with a top-level await: the snapshot runs it after
// deserializing instead.
const TAIL =
  /\nif \(process\.argv\[2\] !== "status"\) setHeapFlags\(\);\nvar code = await main\(process\.argv\.slice\(2\)\);\nprocess\.stdout\.write\("", \(\) => process\.exit\(code\)\);\n/
// The status build as one CommonJS text, wrapped in a function that evaluates its modules afresh
// at each call and returns their `main`.
const bundled = await build({
  entryPoints: [join(cli, 'main-status.js')],
  bundle: true,
  write: false,
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

// With WARM=1, the build runs `status` (plain, --check, --json) once on a volume with a backup, in
// an instance of the modules that is then dropped: V8 keeps the bytecode of the functions those
// runs compiled in the snapshot, and the instance the blob runs (a second call of the same
// function, so the same compiled functions) has never run, so no state of the warm-up's (its
// volume's words among the scrubber's public ones, the schedule's sample, the signal listeners) is
// in the blob.
const warm = process.env.WARM === '1'
await writeFile(
  entry,
  `${warm ? WARM_MARK : ''}const instantiate = () => {
const module = { exports: {} }
${bundled.outputFiles[0].text}
return module.exports.main
}
const setPaths = (self) => {
  globalThis.__dbkeeperUrl = require('node:url').pathToFileURL(self).href
  // node:module on first use only: the warm-up requires no package.
  globalThis.__dbkeeperRequire = (id) => require('node:module').createRequire(self)(id)
}
${
  warm
    ? `setPaths(require('node:path').join(__dirname, 'main-status.js'))
{
  const signals = ['SIGINT', 'SIGTERM', 'SIGXFSZ']
  const before = new Map(signals.map((s) => [s, process.listeners(s)]))
  const run = instantiate()
  ;(async () => {
    for (const args of [['status'], ['status', '--check'], ['status', '--json']]) await run(args)
    for (const s of signals) for (const l of process.listeners(s)) if (!before.get(s).includes(l)) process.off(s, l)
  })()
}`
    : ''
}
const main = instantiate()
require('node:v8').startupSnapshot.setDeserializeMainFunction(() => {
  // Where main-status.js is: its import.meta.url (croner and pino are required from there).
  const args = process.execArgv
  const path = require('node:path')
  setPaths(path.join(path.dirname(path.resolve(args[args.lastIndexOf('--snapshot-blob') + 1])), 'main-status.js'))
  main(process.argv.slice(1)).then((code) => process.stdout.write('', () => process.exit(code)))
})
`,
)
if (process.argv[3] === '--entry-only') console.log(`status snapshot entry: ${entry}`)
else await buildBlob(join(cli, '..'))
