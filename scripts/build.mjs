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
// One flat directory on purpose: the SQLite children are separate entry points
// that their callers find next to themselves (`new URL('./snapshot-child.js', import.meta.url)`),
// and in a flat directory "next to" any chunk is the same place.
import { build } from 'esbuild'
import { readFile, rm } from 'node:fs/promises'
import { builtinModules } from 'node:module'
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
// What both builds below share: one flat directory of ESM chunks for Node 24, packages external.
const bundled = {
  // A string of JSON (src/config/index.ts says why).
  define: { DBKEEPER_KNOWN_NAMES: JSON.stringify(JSON.stringify(knownNames)) },
  absWorkingDir: root,
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
}
await build({
  entryPoints: [
    'src/cli/main.ts',
    // Started by path, not imported: src/engines/sqlite/child.ts.
    'src/engines/sqlite/snapshot-child.ts',
    'src/engines/sqlite/inspect-child.ts',
  ],
  ...bundled,
})

// `dbkeeper status` alone (bin/dbkeeper.js runs it for `status`): the HEALTHCHECK's path in one file
// instead of the ~25 chunks above that it shares with the other commands; each module costs the
// ESM loader a resolve, a read and a compile (~15 M instructions of ~230 M together,
// docs/PERFORMANCE.md, "Start-up"). The same sources, with the `import()`s of STATIC_IMPORTS made
// static, and the other commands left out (this file only ever runs `status`). In the same
// directory: any chunk that starts a child by path finds it next to itself.
//
// STATIC_IMPORTS: per file, the specs whose `import('spec')` becomes a static `import * as ns from
// 'spec'`: `(await import('spec'))` becomes `ns` (esbuild then keeps only the names used), any
// other `import('spec')` (`.then(…)`, a destructuring) `Promise.resolve(ns)`, the same namespace a
// tick sooner. main.ts's configuration and the command table's status command; engines/index.ts's
// engine folders, which `status` loads only for a DBnn_PITR source: there a dozen lazy folders
// would split the runtime modules they share with the status path (errors, secrets, durable,
// duration) into chunks of their own (6 files for every `status`, not 3), while static they are
// one chunk of this build, still loaded only by a PITR source, and every module exists once in the
// process. Listed, not found by a pattern: a spec the file no longer has fails the build, and so
// does an `import()` in these files that the table does not name (but the command table's other
// commands, left out below), rather than quietly loading chunks again.
const STATIC_IMPORTS = {
  'src/cli/main.ts': ['../config/index.js', '../config/backup-dir.js'],
  'src/cli/commands/index.ts': ['./status.js'],
  'src/engines/index.ts': [
    './mysql/binlog-replay.js',
    './mysql/engine.js',
    './postgres/engine.js',
    './sqlite/engine.js',
    './mysql/restore-driver.js',
    './mysql/redump.js',
    './postgres/restore-driver.js',
    './postgres/redump.js',
    './postgres/client.js',
    './sqlite/restore-driver.js',
    './sqlite/redump.js',
    './sqlite/archive.js',
    './mysql/binlog-archiver.js',
    './sqlite/archiver.js',
    './mysql/binlog-check.js',
  ],
}
const COMMAND_TABLE = 'src/cli/commands/index.ts'
const STATIC_FILES = new RegExp(
  `(${Object.keys(STATIC_IMPORTS)
    .map((f) => join(f).replace(/[.\\]/g, '\\$&'))
    .join('|')})$`,
)
// The status build's Node builtins come from process.getBuiltinModule, not the ESM loader, as in
// bin/dbkeeper.js: an `import … from 'node:fs'` makes the loader build the builtin's ESM facade,
// which reads every export, and some of node:fs's are getters that load more (fs/promises, the
// file streams). Each `node:*` import resolves instead to a module of this build that looks the
// builtin up and exports its names one by one, each read marked pure, so that esbuild keeps only
// the names imported (an `import * as` would keep them all: none in src/ today). The names are
// read here from the Node that builds: a name the builtin lacks fails the build, as the import
// would have failed at run time. `import()` of a builtin stays as it is: it runs when used.
const BUILTIN = /^node:/
const BARE_BUILTIN = new RegExp(`^(${builtinModules.filter((m) => !/^_|:/.test(m)).join('|')})(/|$)`)
const builtinLookups = {
  name: 'builtin-lookups',
  setup(b) {
    b.onResolve({ filter: BARE_BUILTIN }, (args) => {
      // Left external, it would go through the ESM loader unnoticed: spell it node:….
      throw new Error(`${args.importer}: import of '${args.path}': write 'node:${args.path}' (scripts/build.mjs)`)
    })
    b.onResolve({ filter: BUILTIN }, (args) => {
      if (args.kind === 'dynamic-import') return undefined
      if (args.kind !== 'import-statement')
        throw new Error(`${args.importer}: ${args.kind} of ${args.path}: builtin-lookups handles imports only`)
      return { path: args.path, namespace: 'builtin-lookup' }
    })
    b.onLoad({ filter: /.*/, namespace: 'builtin-lookup' }, (args) => {
      const { path } = args
      const builtin = process.getBuiltinModule(path)
      if (!builtin) throw new Error(`${path}: not a builtin of Node ${process.version}`)
      const names = Object.keys(builtin).filter((name) => /^[A-Za-z_$][\w$]*$/.test(name) && name !== 'default')
      if (ON_FIRST_CALL.includes(path)) return { contents: onFirstCall(path, builtin, names), loader: 'js' }
      return {
        contents: [
          `const builtin = process.getBuiltinModule(${JSON.stringify(args.path)})`,
          'export default builtin',
          ...names.map((name) => `export const ${name} = /* @__PURE__ */ (() => builtin.${name})()`),
        ].join('\n'),
        loader: 'js',
      }
    })
  },
}

// Builtins the status build loads only when one of their functions is first called, not at
// import: each export that is a function whose name starts in lower case (not a class: `instanceof
// Readable` needs the real one) is a wrapper that looks the builtin up; any other export used
// looks it up at import, as above.
//
// node:fs/promises: loading it loads readline, fs/dir, the watchers and more (~7 M instructions of
// `status`, docs/PERFORMANCE.md, "Start-up"), and `status` never calls it: its reads of the volume
// (BACKUP_DIR's check, the catalog, the journal) are node:fs's synchronous calls, passed by the
// command itself (src/runtime/file-reads.ts, sync-reads.ts). node:os (the host name, ~3 M with
// node:module): the configuration asks for it only as MAIL_FROM's default (config/daemon.ts).
// node:module: createRequire, for croner and pino, which `status` loads only for a schedule not
// in UTC. The daemon and every other command (the build above) keep the real modules, imported.
const ON_FIRST_CALL = ['node:fs/promises', 'node:os', 'node:module']
function onFirstCall(path, builtin, names) {
  return [
    'let builtin',
    `const lookup = () => (builtin ??= process.getBuiltinModule(${JSON.stringify(path)}))`,
    'export default /* @__PURE__ */ (() => lookup())()',
    ...names.map((name) =>
      typeof builtin[name] === 'function' && /^[a-z]/.test(name)
        ? `export const ${name} = (...a) => lookup().${name}(...a)`
        : `export const ${name} = /* @__PURE__ */ (() => lookup().${name})()`,
    ),
  ].join('\n')
}

await build({
  entryPoints: { 'main-status': 'src/cli/main.ts' },
  ...bundled,
  plugins: [
    builtinLookups,
    {
      name: 'status-only',
      setup(b) {
        b.onResolve({ filter: /^\.\/\w+\.js$/ }, (args) =>
          args.importer.endsWith(join(COMMAND_TABLE)) && !STATIC_IMPORTS[COMMAND_TABLE].includes(args.path)
            ? { path: args.path, namespace: 'not-status' }
            : undefined,
        )
        b.onLoad({ filter: /.*/, namespace: 'not-status' }, (args) => ({
          contents: `throw new Error('${args.path}: not in the status build (scripts/build.mjs)')`,
          loader: 'js',
        }))
        b.onLoad({ filter: STATIC_FILES }, async (args) => {
          const file = Object.keys(STATIC_IMPORTS).find((f) => args.path.endsWith(join(f)))
          let contents = await readFile(args.path, 'utf8')
          const head = STATIC_IMPORTS[file].map((spec, i) => {
            const dynamic = `import('${spec}')`
            if (!contents.includes(dynamic))
              throw new Error(`${file}: no ${dynamic} to make static (scripts/build.mjs)`)
            // `(await import(spec))` is the namespace itself: esbuild then keeps only the names used.
            contents = contents
              .split(`(await ${dynamic})`)
              .join(`__static${i}`)
              .split(dynamic)
              .join(`Promise.resolve(__static${i})`)
            return `import * as __static${i} from '${spec}'\n`
          })
          const left = [...contents.matchAll(/\bimport\('([^']+)'\)/g)].map((m) => m[1])
          if (file !== COMMAND_TABLE && left.length > 0)
            throw new Error(`${file}: import('${left[0]}') is not in STATIC_IMPORTS (scripts/build.mjs)`)
          return { contents: head.join('') + contents, loader: 'ts' }
        })
      },
    },
  ],
})
