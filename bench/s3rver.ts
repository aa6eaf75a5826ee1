/** s3rver for the S3 benches (bench/s3.ts, bench/s3-rss.ts), in a child process of its own. */
import { spawn, type ChildProcess } from 'node:child_process'

const ROOT = new URL('..', import.meta.url).pathname

/** s3rver in a child process; resolves with its port once it listens. */
export async function startS3rver(dir: string): Promise<{ child: ChildProcess; port: number }> {
  const code = `import S3rver from 's3rver'
    const { port } = await new S3rver({ address: '127.0.0.1', port: 0, silent: true, directory: ${JSON.stringify(dir)}, configureBuckets: [{ name: 'dbk-bench' }] }).run()
    console.log(port)`
  const child = spawn(process.execPath, ['--input-type=module', '-e', code], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout.once('data', (b: Buffer) => resolve(Number(b.toString().trim())))
    child.once('exit', (c) => reject(new Error(`s3rver exited ${c}`)))
  })
  return { child, port }
}

/** The S3 settings of a dbkeeper run against that s3rver's bucket `dbk-bench`. */
export function s3rverEnv(port: number): Record<string, string> {
  return {
    S3_BUCKET: 'dbk-bench',
    S3_ENDPOINT: `http://127.0.0.1:${port}`,
    AWS_ACCESS_KEY_ID: 'S3RVER',
    AWS_SECRET_ACCESS_KEY: 'S3RVER',
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
  }
}
