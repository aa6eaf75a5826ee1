/**
 * Starts the private MariaDB and PostgreSQL once for the whole test run and hands their
 * coordinates to the tests (`inject('mariadb')`, `inject('postgres')`). Both start in parallel;
 * teardown stops them and deletes their data directories.
 */
import { execa } from 'execa'
import { rm } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import type { TestProject } from 'vitest/node'
import { startMariadb } from './mariadb-server.js'
import { startPostgres } from './postgres-server.js'
import { startWithRetry, type RunningServer } from './servers.js'

/**
 * The CLI built once for the run as the image builds it (scripts/build.mjs, an esbuild bundle), so
 * that the tests run what ships and the hundreds of `dbkeeper` processes they start skip tsx's
 * compile step (~1.5 s of CPU each). Inside node_modules/.cache so that the built files resolve
 * the project's packages, and never in dist/, which `bin/dbkeeper.js` prefers.
 */
// One directory per vitest run: two runs in one checkout (a developer's and a helper's) would
// otherwise overwrite each other's compiled files mid-run. Removed at teardown.
const BUILD_DIR = fileURLToPath(
  new URL(`../../node_modules/.cache/dbkeeper-test-build-${process.pid}/`, import.meta.url),
)

async function buildCli(): Promise<void> {
  const root = fileURLToPath(new URL('../..', import.meta.url))
  await execa(process.execPath, ['scripts/build.mjs', BUILD_DIR], { cwd: root })
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const built = buildCli()
  const results = await Promise.allSettled([startWithRetry(startMariadb), startWithRetry(startPostgres)])
  await built
  project.provide('cliEntry', `${BUILD_DIR}cli/main.js`)
  const running = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []))
  const failed = results.flatMap((r) => (r.status === 'rejected' ? [r.reason as Error] : []))
  const teardown = async () => {
    await Promise.allSettled([...running.map((s) => s.stop()), rm(BUILD_DIR, { recursive: true, force: true })])
  }
  if (failed.length > 0) {
    await teardown()
    throw new Error(`test servers did not start:\n${failed.map((e) => e.message).join('\n')}`)
  }
  const [mariadb, postgres] = running as [RunningServer, RunningServer]
  project.provide('mariadb', mariadb.info)
  project.provide('postgres', postgres.info)
  if (process.env.DBKEEPER_TEST_VERBOSE) {
    console.log(
      `test servers: MariaDB ${mariadb.info.version} on :${mariadb.info.port} in ${mariadb.info.startMs} ms, ` +
        `PostgreSQL ${postgres.info.version} on :${postgres.info.port} in ${postgres.info.startMs} ms`,
    )
  }
  return teardown
}
