/**
 * The house's layers, checked in CI (`npm run deps`, part of scripts/test.sh): no import cycles,
 * and no import from a lower layer to a higher one. docs/ARCHITECTURE.md draws the same picture.
 *
 *   cli ─► daemon ─► restore ─► pipeline ─► retention, notify ─► catalog ─► engines, storage ─► config ─► runtime
 *
 * A layer may import any layer below it, never one above. engines and storage never import each
 * other (only the pipeline knows both); retention and notify are independent of each other.
 */
const LAYERS = [
  'runtime',
  'config',
  'engines|storage',
  'catalog',
  'retention|notify',
  'pipeline',
  'restore',
  'daemon',
  'cli',
]

/** Folders that share a layer. */
const APART = [
  ['engines', 'storage'],
  ['retention', 'notify'],
]

/** `src/(a|b)/` for every layer above index i. */
const above = (i) => `^src/(${LAYERS.slice(i + 1).join('|')})/`

export default {
  forbidden: [
    {
      name: 'no-cycle',
      severity: 'error',
      comment: 'An import cycle: two modules that need each other are one module, or a contract is in the wrong file.',
      from: { path: '^src/' },
      to: { circular: true },
    },
    ...LAYERS.slice(0, -1).map((layer, i) => ({
      name: `no-upward-from-${layer.replace('|', '-')}`,
      severity: 'error',
      comment: `src/${layer}/ is layer ${i + 1}: it must not import from a higher layer (${LAYERS.slice(i + 1).join(', ')}).`,
      from: { path: `^src/(${layer})/` },
      to: { path: above(i) },
    })),
    // Folders of one layer never import each other: engines and storage meet only in the pipeline.
    ...APART.flatMap(([a, b]) => [
      [a, b],
      [b, a],
    ]).map(([from, to]) => ({
      name: `${from}-${to}-apart`,
      severity: 'error',
      comment: `src/${from}/ and src/${to}/ are one layer: they never import each other.`,
      from: { path: `^src/${from}/` },
      to: { path: `^src/${to}/` },
    })),
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    includeOnly: '^src/',
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { extensions: ['.ts', '.js'] },
  },
}
