import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Private MariaDB and PostgreSQL servers, started once for the whole run (test/support/global-setup.ts).
    globalSetup: ['test/support/global-setup.ts'],
    pool: 'forks',
    testTimeout: 60_000,
    hookTimeout: 180_000,
    // A skipped test is a hole in CI: the suite fails on .skip/.only left behind.
    allowOnly: false,
  },
})
