#!/usr/bin/env node
// The `dbkeeper` command. Runs the compiled CLI when the package was built (the container image),
// otherwise the TypeScript source through tsx (a development checkout after `npm ci`).
import { existsSync } from 'node:fs'
import { fileURLToPath, pathToFileURL } from 'node:url'

const built = fileURLToPath(new URL('../dist/cli/main.js', import.meta.url))
if (existsSync(built)) {
  await import(pathToFileURL(built).href)
} else {
  const { register } = await import('tsx/esm/api')
  register()
  await import(new URL('../src/cli/main.ts', import.meta.url).href)
}
