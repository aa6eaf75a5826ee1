// ESLint flat config. TypeScript is linted with type information (typescript-eslint's
// recommendedTypeChecked): no-floating-promises and no-misused-promises catch the bugs that
// matter most in stream and subprocess code, an un-awaited `done` or a promise passed where a
// callback is expected. Plain JavaScript files (bin/, scripts/*.mjs, this file) are linted
// without type information: they are outside tsconfig.json.
import js from '@eslint/js'
import { defineConfig } from 'eslint/config'
import tseslint from 'typescript-eslint'

/** The Node globals our few plain JavaScript files use (no `globals` dependency for a handful). */
const nodeGlobals = {
  process: 'readonly',
  console: 'readonly',
  URL: 'readonly',
  Buffer: 'readonly',
  setTimeout: 'readonly',
  clearTimeout: 'readonly',
  setInterval: 'readonly',
  clearInterval: 'readonly',
}

export default defineConfig(
  {
    // `*.tmp.*`: scratch files, never committed.
    ignores: ['dist/', 'node_modules/', 'coverage/', 'backups/', 'demo/', 'bench/results/', '**/*.tmp.*'],
  },
  js.configs.recommended,
  tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      // One program for tsconfig.json: measured a little faster here than `projectService`. Files
      // outside tsconfig.json (scratch configs at the root) fail to parse: add them to it or delete them.
      parserOptions: { project: './tsconfig.json', tsconfigRootDir: import.meta.dirname },
    },
    linterOptions: { reportUnusedDisableDirectives: 'error' },
    rules: {
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' },
      ],
      // A promise nobody awaits hides a failed dump; `void p` marks the rare intended one.
      '@typescript-eslint/no-floating-promises': ['error', { ignoreVoid: true }],
      '@typescript-eslint/switch-exhaustiveness-check': ['error', { considerDefaultExhaustiveForUnions: true }],
      '@typescript-eslint/only-throw-error': 'error',
      // An `async run()` that happens not to await is how an interface returning a Promise is met.
      '@typescript-eslint/require-await': 'off',
      eqeqeq: ['error', 'smart'],
      'no-constant-condition': ['error', { checkLoops: false }],
      'prefer-const': 'error',
    },
  },
  {
    // Tests read JSON output and mocks whose types are `any` by nature.
    files: ['test/**/*.ts'],
    rules: {
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
      '@typescript-eslint/unbound-method': 'off',
    },
  },
  {
    files: ['**/*.js', '**/*.mjs', '**/*.cjs'],
    extends: [tseslint.configs.disableTypeChecked],
    languageOptions: { globals: nodeGlobals, sourceType: 'module' },
  },
)
