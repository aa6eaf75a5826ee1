import { defineConfig } from 'vitest/config'
import base from './vitest.config.js'

/**
 * The fault-injection suite alone (issue 10): `npm run test:faults`. The settings of
 * vitest.config.ts (private MariaDB/PostgreSQL, forks, timeouts), only test/faults/ included.
 */
export default defineConfig({
  ...base,
  test: {
    ...base.test,
    include: ['test/faults/**/*.test.ts'],
  },
})
